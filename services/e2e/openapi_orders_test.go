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

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// ordersAPI places, reads and decides orders through the orders service's API; it returns
// the first order it placed, which the later parts pay, ship and look at.
func (r *contractRun) ordersAPI(t *testing.T) placed {
	t.Helper()
	s, cs, api, logger, none, tooLong := r.s, r.cs, r.api, r.logger, r.none, r.tooLong
	// orders: placing.
	var p placed
	api.want(t, http.StatusCreated, "POST", s.orders+"/api/orders", lowRisk, nil).json(t, &p)
	key := http.Header{"Idempotency-Key": {uuid.NewString()}}
	api.want(t, http.StatusCreated, "POST", s.orders+"/api/orders", lowRisk, key)
	api.want(t, http.StatusOK, "POST", s.orders+"/api/orders", lowRisk, key)
	api.want(t, http.StatusConflict, "POST", s.orders+"/api/orders", highRisk, key)
	api.want(t, http.StatusBadRequest, "POST", s.orders+"/api/orders", `{"items":[]}`, nil)
	api.want(t, http.StatusUnprocessableEntity, "POST", s.orders+"/api/orders", `{"items":[{"sku":"SKU-001","quantity":2}],"total":1}`, nil)
	// Each JSON operation refuses a body over its limit before reading it.
	huge := strings.Repeat(" ", httpx.MaxBody) + "{}"
	api.want(t, http.StatusRequestEntityTooLarge, "POST", s.orders+"/api/orders", strings.Repeat(" ", orders.MaxOrderBody)+lowRisk, nil)
	api.want(t, http.StatusRequestEntityTooLarge, "POST", s.orders+"/api/orders/approve", huge, bearer(managerToken))
	api.want(t, http.StatusRequestEntityTooLarge, "POST", s.orders+"/webhooks/payment", huge, nil)
	api.want(t, http.StatusRequestEntityTooLarge, "POST", s.orders+"/webhooks/delivery", huge, nil)
	// An orders service whose catalog cannot be reached places nothing.
	offline := httptest.NewServer(orders.New(s.db, logger, orders.Config{WarehouseURL: "http://127.0.0.1:1", OrderTokenSecret: orderTokenSecret}).Handler())
	t.Cleanup(offline.Close)
	cs.add(t, offline.URL, cs.byHost[hostOf(t, s.orders)])
	api.want(t, http.StatusServiceUnavailable, "POST", offline.URL+"/api/orders", lowRisk, nil)

	// orders: reading.
	order := s.orders + "/api/orders/" + p.ID
	for _, path := range []string{"", "/events"} {
		api.want(t, http.StatusOK, "GET", order+path, nil, operator())
		api.want(t, http.StatusOK, "GET", order+path, nil, bearer(p.AccessToken))
		api.want(t, http.StatusOK, "GET", order+path+"?token="+url.QueryEscape(p.AccessToken), nil, nil)
		api.want(t, http.StatusUnauthorized, "GET", order+path, nil, nil)
		api.want(t, http.StatusNotFound, "GET", s.orders+"/api/orders/"+none+path, nil, operator())
		api.want(t, http.StatusBadRequest, "GET", s.orders+"/api/orders/"+tooLong+path, nil, operator())
		api.want(t, http.StatusBadRequest, "GET", order+path+"?token="+url.QueryEscape(p.AccessToken)+"&token=wrong", nil, nil)
	}
	api.want(t, http.StatusOK, "GET", order+"/notifications", nil, operator())
	api.want(t, http.StatusUnauthorized, "GET", order+"/notifications", nil, nil)
	api.want(t, http.StatusBadRequest, "GET", s.orders+"/api/orders/"+tooLong+"/notifications", nil, operator())
	api.want(t, http.StatusBadRequest, "GET", order+"/notifications?limit=1", nil, operator())
	// An email in doubt (its sender stopped mid-send, as a crash leaves it) settled by a person.
	// The confirmation is recorded by the saga's step after the placement's answer: the
	// statement below found none on a loaded machine, and the resolve was a 404.
	s.waitNotification(t, p.ID, "order_confirmed")
	_, err := s.db.Exec(context.Background(), `UPDATE orders.notifications SET claimed_at = now() - interval '10 minutes', sent_at = NULL, error = NULL
		WHERE order_id = $1 AND kind = 'order_confirmed'`, p.ID)
	require.NoError(t, err)
	resolve := order + "/notifications/order_confirmed/resolve"
	api.want(t, http.StatusUnauthorized, "POST", resolve, map[string]string{"resolution": "sent"}, nil)
	api.want(t, http.StatusBadRequest, "POST", resolve, map[string]string{"resolution": "maybe"}, operator())
	api.want(t, http.StatusNotFound, "POST", order+"/notifications/no_such_kind/resolve", map[string]string{"resolution": "sent"}, operator())
	api.want(t, http.StatusRequestEntityTooLarge, "POST", resolve, huge, operator())
	api.want(t, http.StatusOK, "POST", resolve, map[string]string{"resolution": "sent"}, operator())
	api.want(t, http.StatusConflict, "POST", resolve, map[string]string{"resolution": "sent"}, operator())
	api.want(t, http.StatusBadRequest, "GET", order+"/events?limit=1", nil, operator())
	api.want(t, http.StatusOK, "GET", s.orders+"/api/orders?limit=1", nil, operator())
	api.want(t, http.StatusBadRequest, "GET", s.orders+"/api/orders?limit=0", nil, operator())
	api.want(t, http.StatusUnauthorized, "GET", s.orders+"/api/orders", nil, nil)
	api.want(t, http.StatusUnauthorized, "GET", s.orders+"/api/support-tickets", nil, nil)
	api.want(t, http.StatusUnauthorized, "GET", s.orders+"/api/webhooks", nil, nil)

	// orders: approvals.
	held := s.placeOrder(t, highRisk)
	s.waitStatus(t, held, "awaiting_approval")
	manager := bearer(managerToken)
	api.want(t, http.StatusUnauthorized, "POST", s.orders+"/api/orders/approve", map[string]any{"orderId": held, "approved": true}, nil)
	api.want(t, http.StatusBadRequest, "POST", s.orders+"/api/orders/approve", map[string]any{"approved": true}, manager)
	api.want(t, http.StatusNotFound, "POST", s.orders+"/api/orders/approve", map[string]any{"orderId": none, "approved": true}, manager)
	api.want(t, http.StatusOK, "POST", s.orders+"/api/orders/approve", map[string]any{"orderId": held, "approved": true, "reason": "checked"}, manager)
	api.want(t, http.StatusConflict, "POST", s.orders+"/api/orders/approve", map[string]any{"orderId": held, "approved": false, "reason": "late"}, manager)
	return p
}

// paymentWebhook sends the orders service payment webhooks, signed and not; it returns
// the order it paid.
func (r *contractRun) paymentWebhook(t *testing.T) string {
	t.Helper()
	s, api, none := r.s, r.api, r.none
	// orders: the payment webhook.
	payWebhook := func(status int, body any, signed bool) {
		t.Helper()
		raw, header := signedPayment(t, paymentSecret, body)
		if !signed {
			header = nil
		}
		api.want(t, status, "POST", s.orders+"/webhooks/payment", raw, header)
	}
	late := s.placeOrder(t, lowRisk)
	s.waitStatus(t, late, "awaiting_payment")
	payWebhook(http.StatusAccepted, s.mustProviderPayment(t, late, "evt-contract"), true)
	payWebhook(http.StatusOK, s.mustProviderPayment(t, late, "evt-contract"), true)
	payWebhook(http.StatusUnauthorized, map[string]string{"orderId": late, "status": "completed"}, false)
	payWebhook(http.StatusNotFound, map[string]string{"id": "evt-nobody", "orderId": none, "status": "completed"}, true)
	payWebhook(http.StatusBadRequest, map[string]string{"id": "evt-empty"}, true)
	ignored := stripeEvent(t, "evt-contract-ignored", "customer.created", map[string]any{"id": "cus_1", "object": "customer"})
	api.want(t, http.StatusOK, "POST", s.orders+"/webhooks/payment", ignored, stripeSignature(ignored, paymentSecret))
	// A Stripe event naming no order here is kept and answered 200 (unknown_order), so
	// that Stripe does not send it again for days.
	unknown := stripeEvent(t, "evt-contract-unknown", "checkout.session.completed", map[string]any{
		"id": "cs_none", "object": "checkout.session", "mode": "payment", "status": "complete", "payment_status": "paid",
		"amount_total": 100, "currency": "usd", "client_reference_id": none, "metadata": map[string]string{"order_id": none}, "payment_intent": "pi_none"})
	api.want(t, http.StatusOK, "POST", s.orders+"/webhooks/payment", unknown, stripeSignature(unknown, paymentSecret))
	// A refund of a payment no order records (another integration's) is answered 200
	// ignored, naming the payment: the answer broke its schema. A payment id too long
	// for any order is refused before it is looked up.
	foreign := stripeEvent(t, "evt-contract-refund", "charge.refunded", refundedCharge("pi_of_another_integration", 500, true))
	var answer map[string]any
	api.want(t, http.StatusOK, "POST", s.orders+"/webhooks/payment", foreign, stripeSignature(foreign, paymentSecret)).json(t, &answer)
	assert.Equal(t, map[string]any{"orderId": "", "paymentId": "pi_of_another_integration", "outcome": "ignored"}, answer)
	long := stripeEvent(t, "evt-contract-refund-long", "charge.refunded", refundedCharge(r.tooLong, 500, true))
	api.want(t, http.StatusBadRequest, "POST", s.orders+"/webhooks/payment", long, stripeSignature(long, paymentSecret))
	// A part of a payment refunded before the order it names recorded the payment is sent
	// back for Stripe to send again.
	waiting := s.placeOrder(t, lowRisk)
	s.waitStatus(t, waiting, "awaiting_payment")
	part := namingOrder(refundedCharge("pi_contract_part", 100, false), waiting)
	early := stripeEvent(t, "evt-contract-refund-early", "charge.refunded", part)
	api.want(t, http.StatusConflict, "POST", s.orders+"/webhooks/payment", early, stripeSignature(early, paymentSecret))
	return late
}

// deliveryWebhook sends the orders service courier webhooks about p, then reads the
// support tickets and the webhook inbox once late is completed.
func (r *contractRun) deliveryWebhook(t *testing.T, p placed, late string) {
	t.Helper()
	s, api, none := r.s, r.api, r.none
	// orders: the delivery webhook.
	courier := func(status int, body any, signed bool) {
		t.Helper()
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		var header http.Header
		if signed {
			header = http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(raw, deliverySecret, time.Now())}}
		}
		api.want(t, status, "POST", s.orders+"/webhooks/delivery", raw, header)
	}
	courier(http.StatusAccepted, map[string]string{"id": "cev-contract", "orderId": p.ID, "status": "in_transit"}, true)
	courier(http.StatusOK, map[string]string{"id": "cev-contract", "orderId": p.ID, "status": "in_transit"}, true)
	courier(http.StatusUnauthorized, map[string]string{"orderId": p.ID, "status": "delivered"}, false)
	courier(http.StatusNotFound, map[string]string{"id": "cev-nobody", "orderId": none, "status": "delivered"}, true)
	courier(http.StatusBadRequest, map[string]string{"id": "cev-empty"}, true)
	s.waitStatus(t, late, "completed")
	api.want(t, http.StatusOK, "GET", s.orders+"/api/support-tickets?orderId="+late, nil, operator())
	api.want(t, http.StatusOK, "GET", s.orders+"/api/webhooks?outcome=unknown_order", nil, operator())
	api.want(t, http.StatusBadRequest, "GET", s.orders+"/api/support-tickets?orderId="+r.tooLong, nil, operator())
	api.want(t, http.StatusBadRequest, "GET", s.orders+"/api/webhooks?outcome=bogus", nil, operator())
}
