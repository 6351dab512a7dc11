package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/host/hosttest"
	"github.com/ordermill/ordermill/services/webhooksig"
)

func serve(h http.Handler, method, path, body, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Findings 1 and 7 of issue 8: outside dev mode the service refuses to start, with one line
// naming the variable, when a secret it needs is missing or is a published development value.
func TestRefusesToStartWithoutItsCredentials(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52"}, "DELIVERY_WEBHOOK_SECRET is required outside DEV_MODE=1"},
		{map[string]string{"DELIVERY_WEBHOOK_SECRET": "courier_live_7f3a9c1e52"}, "SERVICE_TOKEN_ORDERS is required outside DEV_MODE=1"},
		{map[string]string{"DELIVERY_WEBHOOK_SECRET": webhooksig.DevCourierSecret, "SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52"}, "DELIVERY_WEBHOOK_SECRET holds the published development value"},
		{map[string]string{"DELIVERY_WEBHOOK_SECRET": "courier_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": host.DevServiceToken("orders")}, "SERVICE_TOKEN_ORDERS holds the published development value"},
		{map[string]string{"DELIVERY_WEBHOOK_SECRET": "courier_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": "courier_live_7f3a9c1e52"}, "DELIVERY_WEBHOOK_SECRET and SERVICE_TOKEN_ORDERS are the same secret"},
	} {
		_, err := build(logger, host.EnvOf(c.env))
		require.Error(t, err, "%v", c.env)
		assert.Contains(t, err.Error(), c.want)
		assert.NotContains(t, err.Error(), "\n", "one line")
	}
}

// Finding 1 of issue 8: in production the procedures want the orders service's token and
// the courier simulator does not exist; in dev mode it does, behind the development token.
func TestWebhookURLMustBeAURL(t *testing.T) {
	_, err := build(slog.New(slog.DiscardHandler), host.EnvOf(map[string]string{"DEV_MODE": "1", "DELIVERY_WEBHOOK_URL": "orders/webhooks"}))
	require.ErrorContains(t, err, `DELIVERY_WEBHOOK_URL="orders/webhooks" is not a http:// or https:// URL`)
}

func TestCourierSimulatorOnlyInDevMode(t *testing.T) {
	pool := pgtest.Pool(t)
	prod, err := hosttest.Started(context.Background(), build, pool, slog.New(slog.DiscardHandler), host.EnvOf(map[string]string{
		"DELIVERY_WEBHOOK_SECRET": "courier_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52",
	}))
	require.NoError(t, err)
	h := prod.Handler()
	shipment := `{"orderId":"ord-1","lines":[{"sku":"SKU-001","quantity":1}]}`
	assert.Equal(t, http.StatusUnauthorized, serve(h, "POST", "/api/shipments", shipment, "").Code)
	require.Equal(t, http.StatusCreated, serve(h, "POST", "/api/shipments", shipment, "tok-orders-7f3a9c1e52").Code)
	assert.Equal(t, http.StatusNotFound, serve(h, "POST", "/api/shipments/ord-1/simulate", `{"status":"delivered"}`, "tok-orders-7f3a9c1e52").Code)

	dev, err := hosttest.Started(context.Background(), build, pool, slog.New(slog.DiscardHandler), host.EnvOf(map[string]string{"DEV_MODE": "1"}))
	require.NoError(t, err)
	h = dev.Handler()
	assert.Equal(t, http.StatusUnauthorized, serve(h, "POST", "/api/shipments/ord-1/simulate", `{"status":"delivered"}`, "").Code)
	// Routed: a bad status is the simulator's own 400, not the mux's 404.
	assert.Equal(t, http.StatusBadRequest, serve(h, "POST", "/api/shipments/ord-1/simulate", `{"status":"teleported"}`, host.DevServiceToken("orders")).Code)
}

// --help and the README list every variable the delivery service reads.
func TestVariablesAreDocumented(t *testing.T) {
	pool := pgtest.Pool(t)
	hosttest.DocumentedVars(t, "../../README.md", append(host.ProcessVars(0), vars...), func(env host.Env) {
		_, _ = hosttest.Started(context.Background(), build, pool, slog.New(slog.DiscardHandler), env)
	}, map[string]string{"DEV_MODE": "1", "SEED_CATALOG": "1"}, map[string]string{"DELIVERY_WEBHOOK_SECRET": "courier_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52"})
}
