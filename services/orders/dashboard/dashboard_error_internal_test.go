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

// A refusal made before routing is answered to a program with its own code: a form sent
// with another label was a 415 answered "internal" (a probe).
func TestARefusalBeforeRoutingKeepsItsCode(t *testing.T) {
	s := &Service{logger: slog.New(slog.DiscardHandler)}
	for status, code := range map[int]string{
		http.StatusUnsupportedMediaType:  "unsupported_media_type",
		http.StatusRequestEntityTooLarge: "too_large",
		http.StatusRequestTimeout:        "timeout",
	} {
		rec := httptest.NewRecorder()
		s.dashboardError(rec, httptest.NewRequest("POST", "/dashboard/signin", nil), status, "refused", nil)
		assert.Equal(t, status, rec.Code)
		assert.Contains(t, rec.Body.String(), `"code":"`+code+`"`, "status %d", status)
	}
}
