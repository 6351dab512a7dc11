package delivery_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/httpx"
)

// Finding 1 of issue 8: anyone could book a shipment, read the customer's address on it,
// or have the courier simulator complete an order. Every procedure now wants a calling
// service's token and answers 401 without it.
func TestProceduresWantACallersToken(t *testing.T) {
	ctx := testContext(t)
	stub := newOrdersStub()
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, delivery.Config{OrdersWebhookURL: orders.URL + "/webhooks/delivery"})
	_, _, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)
	h := svc.Handler()
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/shipments", `{"orderId":"ord-2","lines":[{"sku":"MUG","quantity":1}]}`},
		{http.MethodGet, "/api/shipments/ord-1", ""},
		{http.MethodPost, "/api/shipments/ord-1/simulate", `{"status":"delivered"}`},
	} {
		for _, authorization := range []string{"", "Bearer wrong", ordersToken} {
			req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
			req.Header.Set("Authorization", authorization)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s with %q", r.method, r.path, authorization)
			assert.Equal(t, "unauthorized", decode[httpx.ErrorBody](t, rec).Error.Code)
		}
	}
	sh, err := svc.ShipmentByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, delivery.StatusCreated, sh.Status, "the courier did not move it")
	bodies, _ := stub.Received()
	assert.Empty(t, bodies, "no webhook was sent")
	_, err = svc.ShipmentByOrder(ctx, pool, "ord-2")
	assert.Error(t, err, "no shipment was booked")

	rec := postJSON(t, h, "/api/shipments/ord-1/simulate", `{"status":"delivered"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	bodies, _ = stub.Received()
	require.Len(t, bodies, 1)
	assert.Equal(t, shipping.StatusDelivered, bodies[0].Status)
}

// Finding 1 of issue 8: outside dev mode the courier simulator is no route at all.
func TestSimulatorExistsOnlyWhenEnabled(t *testing.T) {
	ctx := testContext(t)
	pool := pgtest.Pool(t)
	svc := delivery.New(pool, slog.New(slog.DiscardHandler), delivery.Config{
		WebhookSecret: secret, Callers: httpx.Tokens{"orders": ordersToken},
	})
	_, _, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)
	rec := postJSON(t, svc.Handler(), "/api/shipments/ord-1/simulate", `{"status":"delivered"}`)
	assert.Equal(t, http.StatusNotFound, rec.Code)
	sh, err := svc.ShipmentByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, delivery.StatusCreated, sh.Status)
}
