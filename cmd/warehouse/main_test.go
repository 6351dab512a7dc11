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
)

// Findings 1, 2 and 7 of issue 8: outside dev mode the warehouse refuses to start without
// the orders service's token (or with the published development one), and with it its
// procedures accept that token only.
func TestWarehouseNeedsTheOrdersServicesToken(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	_, err := build(logger, host.EnvOf(nil))
	require.EqualError(t, err, "SERVICE_TOKEN_ORDERS is required outside DEV_MODE=1: the bearer token the orders service presents to the warehouse service")
	_, err = build(logger, host.EnvOf(map[string]string{"SERVICE_TOKEN_ORDERS": host.DevServiceToken("orders")}))
	require.ErrorContains(t, err, "SERVICE_TOKEN_ORDERS holds the published development value")

	pool := pgtest.Pool(t)
	for token, env := range map[string]map[string]string{
		"tok-orders-7f3a9c1e52":        {"SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52", "SEED_CATALOG": "1"},
		host.DevServiceToken("orders"): {"DEV_MODE": "1"},
	} {
		svc, err := hosttest.Started(context.Background(), build, pool, logger, host.EnvOf(env))
		require.NoError(t, err)
		h := svc.Handler()
		release := func(authorization string) int {
			req := httptest.NewRequest(http.MethodPost, "/api/inventory/release", strings.NewReader(`{"orderId":"o-1"}`))
			req.Header.Set("Authorization", authorization)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		assert.Equal(t, http.StatusUnauthorized, release(""))
		assert.Equal(t, http.StatusUnauthorized, release("Bearer wrong"))
		assert.Equal(t, http.StatusOK, release("Bearer "+token))
	}
}

// --help and the README list every variable the warehouse service reads.
func TestVariablesAreDocumented(t *testing.T) {
	pool := pgtest.Pool(t)
	hosttest.DocumentedVars(t, "../../README.md", append(host.ProcessVars(0), vars...), func(env host.Env) {
		_, _ = hosttest.Started(context.Background(), build, pool, slog.New(slog.DiscardHandler), env)
	}, map[string]string{"DEV_MODE": "1", "SEED_CATALOG": "1"}, map[string]string{"SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52"})
}

// SEED_CATALOG is a switch: a value that is neither stops the start-up, naming it, rather
// than starting without the catalog the operator asked for.
func TestSeedCatalogIsASwitch(t *testing.T) {
	_, err := build(slog.New(slog.DiscardHandler), host.EnvOf(map[string]string{"DEV_MODE": "1", "SEED_CATALOG": "banana"}))
	require.EqualError(t, err, `SEED_CATALOG="banana": use 1 or 0 (or true or false)`)
}
