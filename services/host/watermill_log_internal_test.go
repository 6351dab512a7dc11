package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/stretchr/testify/assert"
)

// Work cut off by the process stopping is not an error worth an operator's attention; any
// other error from Watermill is logged as one, and info lines are debug.
func TestWatermillErrorsOfAStopAreDebug(t *testing.T) {
	var buf bytes.Buffer
	wlog := watermillLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	stopped := fmt.Errorf("batch select cut off: %w", context.Canceled)
	wlog.With(watermill.LogFields{"topic": "order_deadlines"}).Error("could not commit tx for querying message", stopped, nil)
	wlog.Info("subscribing", nil)
	assert.Empty(t, buf.String(), "a stop's cut-off and info lines stay below info level")

	wlog.With(watermill.LogFields{"topic": "order_deadlines"}).Error("could not query message", errors.New("connection refused"), nil)
	assert.Contains(t, buf.String(), "level=ERROR")
	assert.Contains(t, buf.String(), "topic=order_deadlines")
}
