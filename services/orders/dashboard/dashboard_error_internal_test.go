package dashboard

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A request its browser left (a tab closed mid-request) is no failure to page anyone
// about: a probe found "dashboard request failed ... context canceled" logged as an error.
// A request that fails with its client still there is logged as one.
func TestARequestItsBrowserLeftIsNotLoggedAsAnError(t *testing.T) {
	var logs bytes.Buffer
	s := New(pgtest.Pool(t), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})), Config{}, nil, noNames{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	left := httptest.NewRequest("GET", "/dashboard/events", nil).WithContext(ctx)
	s.dashboardError(httptest.NewRecorder(), left, http.StatusInternalServerError, "internal error", context.Canceled)
	assert.Empty(t, logs.String())

	there := httptest.NewRequest("GET", "/dashboard/events", nil)
	s.dashboardError(httptest.NewRecorder(), there, http.StatusInternalServerError, "internal error", errors.New("boom"))
	assert.Contains(t, logs.String(), "level=ERROR msg=\"dashboard request failed\"")
}
