package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/warehouse"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// unavailableRef is the response every JSON API operation documents for its 503.
const unavailableRef = "#/components/responses/Unavailable"

// jsonAPI tells the paths of the JSON API (and the checkout page, whose errors are JSON):
// every operation on them needs the database. The host's own routes and the dashboard's
// pages are not among them.
func jsonAPI(path string) bool {
	for _, prefix := range []string{"/api/", "/webhooks/", "/pay/"} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// unavailable checks that every JSON API operation of every service documents the 503
// (code unavailable, with Retry-After) it answers while its database does not answer, and
// gets that answer from each, from services running on a database that is not there.
func (r *contractRun) unavailable(t *testing.T) {
	t.Helper()
	s, cs, api, logger, svc, none := r.s, r.cs, r.api, r.logger, r.svc, r.none
	for _, base := range s.bases() {
		c := cs.byHost[hostOf(t, base)]
		unavailable := c.doc.Components.Responses["Unavailable"]
		require.NotNil(t, unavailable, "%s documents the Unavailable response", c.name)
		retry := unavailable.Value.Headers["Retry-After"]
		require.NotNil(t, retry, "%s: Unavailable has Retry-After", c.name)
		assert.True(t, retry.Value.Required, "%s: Unavailable always has Retry-After", c.name)
		assert.Contains(t, c.doc.Info.Description, "405", "%s's description says a wrong method gets 405", c.name)
		assert.Contains(t, c.doc.Info.Description, "Allow", "%s's description names the Allow header", c.name)
		for path, item := range c.doc.Paths.Map() {
			if !jsonAPI(path) {
				continue
			}
			for method, op := range item.Operations() {
				got := op.Responses.Value("503")
				if assert.NotNil(t, got, "%s: %s %s (%s) documents 503", c.name, method, path, op.OperationID) {
					assert.Equal(t, unavailableRef, got.Ref, "%s: %s %s (%s)'s 503 is the Unavailable response", c.name, method, path, op.OperationID)
				}
			}
		}
	}

	// Services whose database does not answer: each operation answers 503.
	down, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(down.Close)
	offline := func(h http.Handler, like string) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		cs.add(t, srv.URL, cs.byHost[hostOf(t, like)])
		return srv.URL
	}
	want := func(method, target string, body any, header http.Header) {
		t.Helper()
		e := api.want(t, http.StatusServiceUnavailable, method, target, body, header)
		var got struct{ Error struct{ Code string } }
		e.json(t, &got)
		assert.Equal(t, "unavailable", got.Error.Code, "%s %s", method, target)
	}

	o := offline(orders.New(down, logger, orders.Config{ManagerTokens: map[string]string{apiManager: managerToken},
		PaymentWebhookSecret: paymentSecret, DeliveryWebhookSecret: deliverySecret, Workflow: defaultOptions().workflow,
		PaymentsURL: s.payments, DeliveryURL: s.delivery, WarehouseURL: s.warehouse,
		OperatorToken: operatorToken, OrderTokenSecret: orderTokenSecret}).Handler(), s.orders)
	want("POST", o+"/api/orders", lowRisk, nil)
	want("GET", o+"/api/orders", nil, operator())
	want("GET", o+"/api/orders/"+none, nil, operator())
	want("GET", o+"/api/orders/"+none+"/events", nil, operator())
	want("GET", o+"/api/orders/"+none+"/notifications", nil, operator())
	want("POST", o+"/api/orders/"+none+"/notifications/order_confirmed/resolve", map[string]string{"resolution": "sent"}, operator())
	want("POST", o+"/api/orders/approve", map[string]any{"orderId": none, "approved": true, "reason": "checked"}, bearer(managerToken))
	want("GET", o+"/api/support-tickets", nil, operator())
	want("GET", o+"/api/webhooks", nil, operator())
	raw, header := signedPayment(t, paymentSecret, map[string]string{"id": "evt-offline", "orderId": none, "status": "completed"})
	want("POST", o+"/webhooks/payment", raw, header)
	raw, err = json.Marshal(map[string]string{"id": "cev-offline", "orderId": none, "status": "delivered"})
	require.NoError(t, err)
	want("POST", o+"/webhooks/delivery", raw, http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(raw, deliverySecret, time.Now())}})

	p := offline(payments.New(down, logger, payments.Config{WebhookSecret: paymentSecret, OrdersWebhookURL: s.orders + "/webhooks/payment",
		Simulator: true, Callers: callers}).Handler(), s.payments)
	want("GET", p+"/api/payments/sessions/"+none, nil, svc)
	want("POST", p+"/api/payments/process", map[string]string{"orderId": none, "outcome": "completed"}, svc)
	want("GET", p+"/pay/"+none, nil, nil)
	want("POST", p+"/pay/"+none, url.Values{"outcome": {"completed"}, "csrf_token": {"t"}}, http.Header{"Cookie": {"ordermill_checkout=t"}})

	w := offline(warehouse.New(down, logger, warehouse.Config{Callers: callers}).Handler(), s.warehouse)
	lines := []map[string]any{{"sku": "SKU-001", "quantity": 1}}
	want("GET", w+"/api/inventory", nil, nil)
	want("GET", w+"/api/catalog?sku=SKU-001", nil, nil)
	want("POST", w+"/api/inventory/check-availability", map[string]any{"lines": lines}, svc)
	want("POST", w+"/api/inventory/reserve", map[string]any{"orderId": none, "lines": lines}, svc)
	want("POST", w+"/api/inventory/release", map[string]string{"orderId": none, "reason": "test"}, svc)
	want("GET", w+"/api/inventory/reservations/"+none, nil, svc)

	d := offline(delivery.New(down, logger, delivery.Config{WebhookSecret: deliverySecret, OrdersWebhookURL: s.orders + "/webhooks/delivery",
		Simulator: true, Callers: callers}).Handler(), s.delivery)
	want("POST", d+"/api/shipments", map[string]any{"orderId": none, "lines": lines,
		"address": map[string]string{"name": "Zoe", "line1": "1 Main St", "city": "Lyon", "postalCode": "69001", "country": "FR"}}, svc)
	want("GET", d+"/api/shipments/"+none, nil, svc)
	want("POST", d+"/api/shipments/"+none+"/simulate", map[string]string{"status": "delivered"}, svc)
}
