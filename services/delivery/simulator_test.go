package delivery_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/simulator/simulatortest"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// newOrdersStub plays the orders service's webhook endpoint (simulatortest.Receiver).
func newOrdersStub() *simulatortest.Receiver[shipping.Webhook] {
	return &simulatortest.Receiver[shipping.Webhook]{Path: "/webhooks/delivery", Verify: func(body []byte, h http.Header) error {
		return webhooksig.VerifyCourier(body, h.Get(webhooksig.CourierHeader), secret, time.Now())
	}}
}

func TestSimulatorSendsSignedWebhooks(t *testing.T) {
	ctx := testContext(t)
	stub := newOrdersStub()
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, delivery.Config{OrdersWebhookURL: orders.URL + "/webhooks/delivery"})
	sh, _, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)
	h := svc.Handler()

	rec := postJSON(t, h, "/api/shipments/ord-1/simulate", `{"status":"in_transit"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	transit := decode[delivery.SimulateResult](t, rec)
	assert.Equal(t, http.StatusAccepted, transit.OrdersStatus)
	assert.Equal(t, `{"ok":true}`, transit.OrdersBody)
	assert.Regexp(t, `^evt_`, transit.Webhook.ID)
	assert.Equal(t, shipping.Webhook{ID: transit.Webhook.ID, OrderID: "ord-1", ShipmentID: sh.ShipmentID, Status: shipping.StatusInTransit}, transit.Webhook)

	// Repeating the status reports it again under a new id, as couriers do.
	rec = postJSON(t, h, "/api/shipments/ord-1/simulate", `{"status":"in_transit"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	again := decode[delivery.SimulateResult](t, rec).Webhook
	assert.NotEqual(t, transit.Webhook.ID, again.ID)

	rec = postJSON(t, h, "/api/shipments/ord-1/simulate", `{"status":"delivered"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	delivered := decode[delivery.SimulateResult](t, rec).Webhook
	assert.Equal(t, shipping.StatusDelivered, delivered.Status)

	// A delivered parcel does not go back on the road.
	rec = postJSON(t, h, "/api/shipments/ord-1/simulate", `{"status":"in_transit"}`)
	assert.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())

	bodies, errs := stub.Received()
	assert.Empty(t, errs)
	assert.Equal(t, []shipping.Webhook{transit.Webhook, again, delivered}, bodies)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/shipments/ord-1", nil)))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, shipping.StatusDelivered, decode[delivery.Shipment](t, rec).Status)
}

func TestSimulatedFailureCarriesItsReason(t *testing.T) {
	ctx := testContext(t)
	stub := newOrdersStub()
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, delivery.Config{OrdersWebhookURL: orders.URL + "/webhooks/delivery"})
	for _, id := range []string{"ord-1", "ord-2"} {
		_, _, err := createInTx(ctx, pool, svc, command(id))
		require.NoError(t, err)
	}

	rec := postJSON(t, svc.Handler(), "/api/shipments/ord-1/simulate", `{"status":"failed","reason":"address_unknown"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = postJSON(t, svc.Handler(), "/api/shipments/ord-2/simulate", `{"status":"failed"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	bodies, errs := stub.Received()
	assert.Empty(t, errs)
	require.Len(t, bodies, 2)
	assert.Equal(t, "address_unknown", bodies[0].Reason)
	assert.Equal(t, delivery.DefaultFailureReason, bodies[1].Reason)
	sh, err := svc.ShipmentByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, shipping.StatusFailed, sh.Status)
	assert.Equal(t, "address_unknown", sh.Reason)
}

// The orders service's refusal is reported, not hidden: a wrong secret shows up as 401.
func TestSimulatorReportsTheOrdersServiceAnswer(t *testing.T) {
	ctx := testContext(t)
	stub := newOrdersStub()
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, delivery.Config{WebhookSecret: "wrong", OrdersWebhookURL: orders.URL + "/webhooks/delivery"})
	_, _, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)

	rec := postJSON(t, svc.Handler(), "/api/shipments/ord-1/simulate", `{"status":"delivered"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, http.StatusUnauthorized, decode[delivery.SimulateResult](t, rec).OrdersStatus)
	_, errs := stub.Received()
	assert.Len(t, errs, 1)
}

func TestSimulatorWithUnreachableOrdersIsABadGateway(t *testing.T) {
	ctx := testContext(t)
	orders := httptest.NewServer(http.NotFoundHandler())
	url := orders.URL
	orders.Close() // nothing listens there any more
	svc, pool := newService(t, delivery.Config{OrdersWebhookURL: url})
	_, _, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)

	rec := postJSON(t, svc.Handler(), "/api/shipments/ord-1/simulate", `{"status":"in_transit"}`)
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Equal(t, "bad_gateway", decode[httpx.ErrorBody](t, rec).Error.Code)
	sh, err := svc.ShipmentByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, shipping.StatusInTransit, sh.Status, "the parcel moved even though the notice did not arrive")
}
