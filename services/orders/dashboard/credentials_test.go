package dashboard_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// configuredDash is the orders service built from env on a fresh database, with a
// browser-like client.
func configuredDash(t *testing.T, env host.Env) *dash {
	t.Helper()
	cfg, err := orders.ConfigFromEnv(env)
	require.NoError(t, err)
	pool := pgtest.Pool(t)
	srv := httptest.NewServer(orders.New(pool, slog.New(slog.DiscardHandler), cfg).Handler())
	t.Cleanup(srv.Close)
	return &dash{pool: pool, srv: srv, client: orderstest.Client(t)}
}

// Finding 15 of issue 8: /dashboard/static/ listed its directory. Files are still served;
// a directory is a 404.
func TestDashboardStaticServesFilesNotListings(t *testing.T) {
	d := newDash(t)
	for _, path := range []string{"/dashboard/static/", "/dashboard/static/vendor/", "/dashboard/static/vendor"} {
		p := d.request(t, http.DefaultClient, "GET", path, nil, nil)
		assert.Equal(t, http.StatusNotFound, p.status, path)
		assert.NotContains(t, p.body, "app.css", path)
		assert.NotContains(t, p.body, "htmx", path)
	}
	p := d.request(t, http.DefaultClient, "GET", "/dashboard/static/app.css", nil, nil)
	assert.Equal(t, http.StatusOK, p.status)
}

// Finding 1 of issue 8: the simulators now want a service token, and the dashboard's
// dev-mode buttons present the orders service's.
func TestDashboardSimulatorPresentsTheServiceToken(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	simulators := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok-orders" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"ordersStatus":202}`))
	}))
	defer simulators.Close()
	d := configuredDash(t, func(k string) string {
		return map[string]string{"DEV_MODE": "1", "SERVICE_TOKEN_ORDERS": "tok-orders", "PAYMENTS_URL": simulators.URL, "DELIVERY_URL": simulators.URL}[k]
	})
	require.NoError(t, orders.CreateManager(context.Background(), d.pool, managerEmail, managerPassword))
	_, csrf := d.signIn(t, d.client, managerEmail, managerPassword)
	require.NotEmpty(t, csrf)

	for _, action := range []string{"pay", "delivered"} {
		p := d.request(t, d.client, "POST", "/dashboard/orders/ord-1/simulate", url.Values{"action": {action}, "csrf_token": {csrf}}, nil)
		require.Equal(t, http.StatusSeeOther, p.status, p.body)
		assert.Equal(t, "/dashboard/orders/ord-1?simulated="+action, p.header.Get("Location"))
	}
	assert.Equal(t, []string{
		"POST /api/payments/process Bearer tok-orders",
		"POST /api/shipments/ord-1/simulate Bearer tok-orders",
	}, seen)
}
