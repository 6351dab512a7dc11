package dashboard_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/orders/dashboard"
)

// While the database does not answer, a signed-in manager's request is the 503 every other
// outage is, with Retry-After and the code "unavailable", not a 500 "internal": a client
// (or the desk's own script) can tell it to try again.
func TestADashboardRequestDuringAnOutageIsA503(t *testing.T) {
	down, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(down.Close)
	mux := httpx.NewMux()
	dashboard.New(down, slog.New(slog.DiscardHandler), dashboard.Config{}, nil, nil, nil).Routes(mux)

	r := httptest.NewRequest(http.MethodGet, "/dashboard/approvals", nil)
	r.Header.Set("Accept", "application/json")
	r.AddCookie(&http.Cookie{Name: "ordermill_session", Value: "a-session"})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, r)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, httpx.RetryAfter, rec.Header().Get("Retry-After"))
	var body httpx.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	assert.Equal(t, "unavailable", body.Error.Code)
}
