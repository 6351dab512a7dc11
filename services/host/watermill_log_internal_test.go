package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/stretchr/testify/assert"

	"github.com/ordermill/ordermill/eventstore/logging"
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
	// Its error is under err, as on every other line of the log (a probe found both keys).
	assert.Contains(t, buf.String(), `err="connection refused"`)
	assert.NotContains(t, buf.String(), "error=")
}

// An error that repeats (a database outage: every poll of every subscriber fails) is
// logged once a repeatEvery, saying how often it came since; another consumer's or topic's
// error is its own.
func TestWatermillErrorsRepeatingAreLoggedOnceAMinute(t *testing.T) {
	var buf bytes.Buffer
	wlog := watermillLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))).(stopQuiet)
	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	wlog.repeats = logging.NewRepeatsAt(func() time.Time { return now })
	refused := errors.New("connection refused")
	deadlines := wlog.With(watermill.LogFields{"topic": "order_deadlines"})
	for range 50 { // five seconds of polls every 100 ms
		deadlines.Error("Error querying for message", refused, watermill.LogFields{"wait_time": 100})
		wlog.Error("consumer batch failed", refused, watermill.LogFields{"consumer_group": "saga", "topic": "order_events_0"})
		wlog.Error("consumer batch failed", refused, watermill.LogFields{"consumer_group": "saga", "topic": "order_events_1"})
		now = now.Add(100 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	assert.Len(t, lines, 3, "one line each: %s", buf.String())

	now = now.Add(logging.RepeatEvery)
	buf.Reset()
	deadlines.Error("Error querying for message", refused, nil)
	assert.Contains(t, buf.String(), "level=ERROR")
	assert.Contains(t, buf.String(), "repeated_since_last_line=49")
}

// Each dead letter is logged with its order, however many come in a minute: only the
// first of a minute was, and the others' orders never reached the log (a probe).
func TestEveryDeadLetterIsLogged(t *testing.T) {
	var buf bytes.Buffer
	wlog := watermillLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	for _, id := range []string{"ord-ghost-a", "ord-ghost-b", "ord-ghost-c"} {
		wlog.Error(logging.DeadLettered, errors.New("order not found"), watermill.LogFields{"consumer_group": "saga", "topic": "warehouse_replies_0", "order_id": id})
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	assert.Len(t, lines, 3, buf.String())
	for i, id := range []string{"ord-ghost-a", "ord-ghost-b", "ord-ghost-c"} {
		assert.Contains(t, lines[i], "level=ERROR")
		assert.Contains(t, lines[i], "order_id="+id)
	}
}
