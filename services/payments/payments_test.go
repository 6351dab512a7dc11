package payments_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/payments"
)

const secret = "whsec_test"

// ordersToken is the token the orders service presents in these tests.
const ordersToken = "test-orders-token"

// newService builds the service as in dev mode: the simulator on, the orders service the
// one caller.
func newService(t *testing.T, cfg payments.Config) (*payments.Service, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = secret
	}
	cfg.Simulator = true
	cfg.Callers = httpx.Tokens{"orders": ordersToken}
	return payments.New(pool, slog.New(slog.DiscardHandler), cfg), pool
}

// asOrders makes r a call from the orders service, with its token.
func asOrders(r *http.Request) *http.Request {
	r.Header.Set("Authorization", "Bearer "+ordersToken)
	return r
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func postJSON(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))))
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}
