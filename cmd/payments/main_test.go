package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/host/hosttest"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/payments/stripemock"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// openSession opens order ord-1's session as the workflow's command does: sessions are
// not opened over HTTP.
func openSession(t *testing.T, pool *pgxpool.Pool, svc host.Service) payments.Session {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	sess, _, err := svc.(*payments.Service).CreateSession(ctx, tx, payment.CreateSession{OrderID: "ord-1", Amount: 100, Currency: "USD"})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	return sess
}

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
		{map[string]string{"SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52"}, "PAYMENT_WEBHOOK_SECRET is required outside DEV_MODE=1"},
		{map[string]string{"PAYMENT_WEBHOOK_SECRET": "whsec_live_7f3a9c1e52"}, "SERVICE_TOKEN_ORDERS is required outside DEV_MODE=1"},
		{map[string]string{"PAYMENT_WEBHOOK_SECRET": webhooksig.DevPaymentSecret, "SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52"}, "PAYMENT_WEBHOOK_SECRET holds the published development value"},
		{map[string]string{"PAYMENT_WEBHOOK_SECRET": "whsec_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": host.DevServiceToken("orders")}, "SERVICE_TOKEN_ORDERS holds the published development value"},
		{map[string]string{"PAYMENT_WEBHOOK_SECRET": "whsec_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": "whsec_live_7f3a9c1e52"}, "PAYMENT_WEBHOOK_SECRET and SERVICE_TOKEN_ORDERS are the same secret"},
		{map[string]string{"DEV_MODE": "1", "PAYMENT_PROVIDER": "stripe", "STRIPE_SUCCESS_URL": "https://shop.example/paid"}, "needs STRIPE_SECRET_KEY"},
		{map[string]string{"DEV_MODE": "1", "PAYMENT_PROVIDER": "stripe", "STRIPE_SECRET_KEY": "sk_test_1"}, "needs STRIPE_SUCCESS_URL"},
		{map[string]string{"DEV_MODE": "1", "PAYMENT_PROVIDER": "paypal"}, "PAYMENT_PROVIDER must be simulator or stripe"},
		// The simulator by default took no money, and its checkout page answered 404.
		{map[string]string{"PAYMENT_WEBHOOK_SECRET": "whsec_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52"}, "PAYMENT_PROVIDER is required outside DEV_MODE=1"},
		// A blank or publishable key failed at the first order; a base not Stripe's got the key.
		{map[string]string{"DEV_MODE": "1", "PAYMENT_PROVIDER": "stripe", "STRIPE_SECRET_KEY": " ", "STRIPE_SUCCESS_URL": "https://x.example"}, "STRIPE_SECRET_KEY is not a Stripe secret key"},
		{map[string]string{"DEV_MODE": "1", "PAYMENT_PROVIDER": "stripe", "STRIPE_SECRET_KEY": "pk_live_abc", "STRIPE_SUCCESS_URL": "https://x.example"}, "STRIPE_SECRET_KEY is not a Stripe secret key"},
		{map[string]string{"PAYMENT_WEBHOOK_SECRET": "whsec_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52", "PAYMENT_PROVIDER": "stripe",
			"STRIPE_SECRET_KEY": "sk_live_7f3a9c1e52", "STRIPE_SUCCESS_URL": "https://x.example", "STRIPE_API_BASE": "http://evil.example"}, `STRIPE_API_BASE="http://evil.example": outside DEV_MODE=1`},
		// A Stripe key with the simulator: no money taken while the operator thinks Stripe takes it.
		{map[string]string{"DEV_MODE": "1", "STRIPE_SECRET_KEY": "sk_live_abc", "STRIPE_SUCCESS_URL": "https://x.example"},
			"STRIPE_SECRET_KEY is set but PAYMENT_PROVIDER is simulator: set PAYMENT_PROVIDER=stripe, or unset STRIPE_SECRET_KEY"},
		{map[string]string{"DEV_MODE": "1", "PAYMENTS_WEBHOOK_URL": "localhost:3001/webhooks/payment"}, `PAYMENTS_WEBHOOK_URL="localhost:3001/webhooks/payment" is not a http:// or https:// URL`},
		{map[string]string{"DEV_MODE": "1", "PAYMENTS_PUBLIC_URL": "shop"}, "PAYMENTS_PUBLIC_URL"},
		{map[string]string{"DEV_MODE": "1", "PAYMENT_PROVIDER": "stripe", "STRIPE_SECRET_KEY": "sk_test_1", "STRIPE_SUCCESS_URL": "/paid"}, "STRIPE_SUCCESS_URL"},
	} {
		_, err := build(logger, host.EnvOf(c.env))
		require.Error(t, err, "%v", c.env)
		assert.Contains(t, err.Error(), c.want)
		assert.NotContains(t, err.Error(), "\n", "one line")
	}
	// Stripe's own API, the documented default, given outright.
	_, err := build(logger, host.EnvOf(map[string]string{"PAYMENT_WEBHOOK_SECRET": "whsec_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52",
		"PAYMENT_PROVIDER": "stripe", "STRIPE_SECRET_KEY": "sk_live_7f3a9c1e52", "STRIPE_SUCCESS_URL": "https://x.example", "STRIPE_API_BASE": "https://api.stripe.com"}))
	require.NoError(t, err)
}

// Findings 1 and 15 of issue 8: in production the procedures want the orders service's
// token, the simulator and checkout page do not exist, and session URLs point where
// PAYMENTS_PUBLIC_URL says.
func TestProductionServiceHasNoSimulatorAndItsPublicURL(t *testing.T) {
	pool := pgtest.Pool(t)
	svc, err := hosttest.Started(context.Background(), build, pool, slog.New(slog.DiscardHandler), host.EnvOf(map[string]string{
		"PAYMENT_WEBHOOK_SECRET": "whsec_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52", "PAYMENTS_PUBLIC_URL": "https://pay.example.com/",
		"PAYMENT_PROVIDER": "simulator",
	}))
	require.NoError(t, err)
	h := svc.Handler()
	created := openSession(t, pool, svc)
	assert.Equal(t, "https://pay.example.com/pay/"+created.SessionID, created.URL)

	assert.Equal(t, http.StatusUnauthorized, serve(h, "GET", "/api/payments/sessions/ord-1", "", "").Code)
	assert.Equal(t, http.StatusUnauthorized, serve(h, "GET", "/api/payments/sessions/ord-1", "", host.DevServiceToken("orders")).Code)
	assert.Equal(t, http.StatusOK, serve(h, "GET", "/api/payments/sessions/ord-1", "", "tok-orders-7f3a9c1e52").Code)

	assert.Equal(t, http.StatusNotFound, serve(h, "POST", "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`, "tok-orders-7f3a9c1e52").Code)
	assert.Equal(t, http.StatusNotFound, serve(h, "GET", "/pay/"+created.SessionID, "", "").Code)
	assert.Equal(t, http.StatusNotFound, serve(h, "POST", "/pay/"+created.SessionID, "outcome=failed", "").Code)
}

// In dev mode the development token opens the procedures and the simulator is there.
func TestDevModeHasTheSimulatorAndDevelopmentToken(t *testing.T) {
	pool := pgtest.Pool(t)
	svc, err := hosttest.Started(context.Background(), build, pool, slog.New(slog.DiscardHandler), host.EnvOf(map[string]string{"DEV_MODE": "1"}))
	require.NoError(t, err)
	h := svc.Handler()
	created := openSession(t, pool, svc)
	assert.Equal(t, http.StatusOK, serve(h, "GET", "/api/payments/sessions/ord-1", "", host.DevServiceToken("orders")).Code)
	assert.Equal(t, "http://localhost:3002/pay/"+created.SessionID, created.URL, "the default public URL")
	assert.Equal(t, http.StatusOK, serve(h, "GET", "/pay/"+created.SessionID, "", "").Code)
	// The simulator is routed: a bad request is its own 400, not the mux's 404.
	assert.Equal(t, http.StatusBadRequest, serve(h, "POST", "/api/payments/process", `{"orderId":"ord-1","outcome":"maybe"}`, host.DevServiceToken("orders")).Code)
	assert.Equal(t, http.StatusUnauthorized, serve(h, "POST", "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`, "").Code)
}

// PAYMENT_PROVIDER=stripe opens sessions at Stripe (here stripe-mock, at STRIPE_API_BASE)
// with STRIPE_SECRET_KEY: the customer is sent to Stripe's URL, not the simulator's page.
func TestStripeProviderFromTheEnvironment(t *testing.T) {
	mock := stripemock.Start(t)
	pool := pgtest.Pool(t)
	svc, err := hosttest.Started(context.Background(), build, pool, slog.New(slog.DiscardHandler), host.EnvOf(map[string]string{
		"DEV_MODE": "1", "PAYMENT_PROVIDER": "stripe", "STRIPE_SECRET_KEY": "sk_test_fromenv",
		"STRIPE_API_BASE": mock.URL, "STRIPE_SUCCESS_URL": "https://shop.example/paid",
	}))
	require.NoError(t, err)
	created := openSession(t, pool, svc)
	assert.Regexp(t, `^https://`, created.URL)
	calls := mock.Requests("/v1/checkout/sessions")
	require.Len(t, calls, 1)
	assert.Equal(t, "ord-1", calls[0].Form.Get("client_reference_id"))
}

// --help and the README list every variable the payments service reads.
func TestVariablesAreDocumented(t *testing.T) {
	pool := pgtest.Pool(t)
	hosttest.DocumentedVars(t, "../../README.md", append(host.ProcessVars(0), vars...), func(env host.Env) {
		_, _ = hosttest.Started(context.Background(), build, pool, slog.New(slog.DiscardHandler), env)
	}, map[string]string{"DEV_MODE": "1", "SEED_CATALOG": "1"}, map[string]string{"PAYMENT_WEBHOOK_SECRET": "whsec_live_7f3a9c1e52", "SERVICE_TOKEN_ORDERS": "tok-orders-7f3a9c1e52"})
}
