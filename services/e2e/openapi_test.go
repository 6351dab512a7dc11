package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	domain "github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/webhooksig"
	"github.com/ordermill/ordermill/ui"
)

// notExercised are the documented answers this test cannot provoke from a healthy
// system, by operationId and status, each with where it is shown instead: none today.
var notExercised = map[string]map[string]string{}

// exchange is one checked request's answer.
type exchange struct {
	body string
}

// caller sends checked requests.
type caller struct {
	c *http.Client
}

// want sends a request and requires the status.
func (c caller) want(t *testing.T, status int, method, target string, body any, header http.Header) exchange {
	t.Helper()
	got, e := c.send(t, method, target, body, header)
	require.Equal(t, status, got, "%s %s: %s", method, target, e.body)
	return e
}

// send sends a request: a body other than a string, bytes or a form is sent as JSON.
func (c caller) send(t *testing.T, method, target string, body any, header http.Header) (int, exchange) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = strings.NewReader(string(b))
	case url.Values:
		r = strings.NewReader(b.Encode())
		if header == nil {
			header = http.Header{}
		}
		header.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		r = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, target, r)
	require.NoError(t, err)
	if _, ok := body.(url.Values); !ok && r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, exchange{body: string(raw)}
}

func (e exchange) json(t *testing.T, out any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(e.body), out), e.body)
}

// csrf is the CSRF token of the page's first form.
func (e exchange) csrf(t *testing.T) string {
	t.Helper()
	return formPage{body: e.body}.csrfToken(t)
}

// The business case's services integrate through their OpenAPI documents (issue 10): every
// route a service's process serves is in its document, and real answers of every
// documented operation, successes and errors, match it.
func TestEveryAnswerMatchesTheServicesOpenAPIDocument(t *testing.T) {
	s := start(t, defaultOptions())
	cs := s.loadContracts(t)
	for _, c := range cs.byHost {
		c.checkRoutes(t, s.routes[c.name])
	}
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	tooLong := strings.Repeat("x", 129)
	none := uuid.NewString()
	svc := bearer(ordersServiceToken)
	api := caller{cs.client(t)}

	for _, base := range s.bases() {
		api.want(t, http.StatusOK, "GET", base+"/healthz", nil, nil)
		api.want(t, http.StatusOK, "GET", base+"/readyz", nil, nil)
		api.want(t, http.StatusOK, "GET", base+"/metrics", nil, nil)
		api.want(t, http.StatusOK, "GET", base+"/openapi.json", nil, nil)
	}
	// A schema behind the binaries (the newest migration undone in the books): every
	// service is not ready, and says why in the document's shape.
	var newest int64
	var applied bool
	var at time.Time
	require.NoError(t, s.db.QueryRow(ctx, `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)
		RETURNING version_id, is_applied, tstamp`).Scan(&newest, &applied, &at))
	for _, base := range s.bases() {
		var h struct{ Checks map[string]string }
		api.want(t, http.StatusServiceUnavailable, "GET", base+"/readyz", nil, nil).json(t, &h)
		assert.Contains(t, h.Checks["migrations"], "this binary needs", base)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES ($1, $2, $3)`, newest, applied, at)
	require.NoError(t, err)
	for _, base := range s.bases() {
		api.want(t, http.StatusOK, "GET", base+"/readyz", nil, nil)
	}

	// orders: placing.
	var p placed
	api.want(t, http.StatusCreated, "POST", s.orders+"/api/orders", lowRisk, nil).json(t, &p)
	key := http.Header{"Idempotency-Key": {uuid.NewString()}}
	api.want(t, http.StatusCreated, "POST", s.orders+"/api/orders", lowRisk, key)
	api.want(t, http.StatusOK, "POST", s.orders+"/api/orders", lowRisk, key)
	api.want(t, http.StatusConflict, "POST", s.orders+"/api/orders", highRisk, key)
	api.want(t, http.StatusBadRequest, "POST", s.orders+"/api/orders", `{"items":[]}`, nil)
	api.want(t, http.StatusUnprocessableEntity, "POST", s.orders+"/api/orders", `{"items":[{"sku":"SKU-001","quantity":2}],"total":1}`, nil)
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
	}
	api.want(t, http.StatusOK, "GET", order+"/notifications", nil, operator())
	api.want(t, http.StatusUnauthorized, "GET", order+"/notifications", nil, nil)
	api.want(t, http.StatusBadRequest, "GET", s.orders+"/api/orders/"+tooLong+"/notifications", nil, operator())
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

	// payments: the session, the simulator and the checkout page.
	s.waitStatus(t, p.ID, "awaiting_payment")
	sess := s.session(t, p.ID)
	api.want(t, http.StatusOK, "GET", s.payments+"/api/payments/sessions/"+p.ID, nil, svc)
	api.want(t, http.StatusUnauthorized, "GET", s.payments+"/api/payments/sessions/"+p.ID, nil, nil)
	api.want(t, http.StatusNotFound, "GET", s.payments+"/api/payments/sessions/"+none, nil, svc)
	api.want(t, http.StatusBadRequest, "GET", s.payments+"/api/payments/sessions/"+tooLong, nil, svc)
	checkout := api.want(t, http.StatusOK, "GET", s.payments+"/pay/"+sess, nil, nil)
	api.want(t, http.StatusNotFound, "GET", s.payments+"/pay/"+none, nil, nil)
	api.want(t, http.StatusForbidden, "POST", s.payments+"/pay/"+sess, url.Values{"outcome": {"completed"}}, nil)
	api.want(t, http.StatusNotFound, "POST", s.payments+"/pay/"+none, url.Values{"outcome": {"completed"}, "csrf_token": {"t"}},
		http.Header{"Cookie": {"ordermill_checkout=t"}})
	api.want(t, http.StatusSeeOther, "POST", s.payments+"/pay/"+sess, url.Values{"outcome": {"completed"}, "csrf_token": {checkout.csrf(t)}}, nil)
	s.waitStatus(t, p.ID, "awaiting_delivery")
	api.want(t, http.StatusOK, "POST", s.payments+"/api/payments/process", map[string]string{"orderId": p.ID, "outcome": "completed"}, svc)
	api.want(t, http.StatusConflict, "POST", s.payments+"/api/payments/process", map[string]string{"orderId": p.ID, "outcome": "failed"}, svc)
	api.want(t, http.StatusBadRequest, "POST", s.payments+"/api/payments/process", map[string]string{"orderId": p.ID, "outcome": "maybe"}, svc)
	api.want(t, http.StatusUnauthorized, "POST", s.payments+"/api/payments/process", map[string]string{"orderId": p.ID, "outcome": "completed"}, nil)
	// A simulator that cannot reach the orders service says so.
	lost := httptest.NewServer(payments.New(s.db, logger, payments.Config{WebhookSecret: paymentSecret, OrdersWebhookURL: "http://127.0.0.1:1/webhooks/payment",
		Simulator: true, Callers: callers}).Handler())
	t.Cleanup(lost.Close)
	cs.add(t, lost.URL, cs.byHost[hostOf(t, s.payments)])
	api.want(t, http.StatusBadGateway, "POST", lost.URL+"/api/payments/process", map[string]string{"orderId": none, "outcome": "completed"}, svc)

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

	// delivery: shipments and the courier simulator.
	s.waitStatus(t, late, "awaiting_delivery")
	shipment := map[string]any{"orderId": uuid.NewString(), "lines": []map[string]any{{"sku": "SKU-001", "quantity": 1}},
		"address": map[string]string{"name": "Zoe", "line1": "1 Main St", "city": "Lyon", "postalCode": "69001", "country": "FR"}}
	api.want(t, http.StatusCreated, "POST", s.delivery+"/api/shipments", shipment, svc)
	api.want(t, http.StatusOK, "POST", s.delivery+"/api/shipments", shipment, svc)
	api.want(t, http.StatusBadRequest, "POST", s.delivery+"/api/shipments", map[string]any{"orderId": none}, svc)
	api.want(t, http.StatusUnauthorized, "POST", s.delivery+"/api/shipments", shipment, nil)
	api.want(t, http.StatusOK, "GET", s.delivery+"/api/shipments/"+late, nil, svc)
	api.want(t, http.StatusNotFound, "GET", s.delivery+"/api/shipments/"+none, nil, svc)
	api.want(t, http.StatusBadRequest, "GET", s.delivery+"/api/shipments/"+tooLong, nil, svc)
	api.want(t, http.StatusUnauthorized, "GET", s.delivery+"/api/shipments/"+late, nil, nil)
	simulate := s.delivery + "/api/shipments/" + late + "/simulate"
	api.want(t, http.StatusOK, "POST", simulate, map[string]string{"status": "delivered"}, svc)
	api.want(t, http.StatusConflict, "POST", simulate, map[string]string{"status": "failed", "reason": "lost"}, svc)
	api.want(t, http.StatusBadRequest, "POST", simulate, map[string]string{"status": "teleported"}, svc)
	api.want(t, http.StatusUnauthorized, "POST", simulate, map[string]string{"status": "delivered"}, nil)
	api.want(t, http.StatusNotFound, "POST", s.delivery+"/api/shipments/"+none+"/simulate", map[string]string{"status": "delivered"}, svc)
	lostCourier := httptest.NewServer(delivery.New(s.db, logger, delivery.Config{WebhookSecret: deliverySecret,
		OrdersWebhookURL: "http://127.0.0.1:1/webhooks/delivery", Simulator: true, Callers: callers}).Handler())
	t.Cleanup(lostCourier.Close)
	cs.add(t, lostCourier.URL, cs.byHost[hostOf(t, s.delivery)])
	api.want(t, http.StatusBadGateway, "POST", lostCourier.URL+"/api/shipments/"+shipment["orderId"].(string)+"/simulate", map[string]string{"status": "in_transit"}, svc)

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

	// warehouse.
	reservation := map[string]any{"orderId": uuid.NewString(), "lines": []map[string]any{{"sku": "SKU-001", "quantity": 1}}}
	lines := map[string]any{"lines": reservation["lines"]}
	api.want(t, http.StatusOK, "GET", s.warehouse+"/api/inventory", nil, nil)
	api.want(t, http.StatusOK, "GET", s.warehouse+"/api/catalog?sku=SKU-001&sku=SKU-031", nil, nil)
	api.want(t, http.StatusOK, "GET", s.warehouse+"/api/catalog", nil, nil)
	api.want(t, http.StatusBadRequest, "GET", s.warehouse+"/api/catalog?sku="+tooLong, nil, nil)
	api.want(t, http.StatusOK, "POST", s.warehouse+"/api/inventory/check-availability", lines, svc)
	api.want(t, http.StatusBadRequest, "POST", s.warehouse+"/api/inventory/check-availability", `{"lines":"none"}`, svc)
	api.want(t, http.StatusUnauthorized, "POST", s.warehouse+"/api/inventory/check-availability", lines, nil)
	api.want(t, http.StatusCreated, "POST", s.warehouse+"/api/inventory/reserve", reservation, svc)
	api.want(t, http.StatusConflict, "POST", s.warehouse+"/api/inventory/reserve",
		map[string]any{"orderId": uuid.NewString(), "lines": []map[string]any{{"sku": "SKU-001", "quantity": 10000}}}, svc)
	api.want(t, http.StatusBadRequest, "POST", s.warehouse+"/api/inventory/reserve", map[string]any{"orderId": none}, svc)
	api.want(t, http.StatusUnauthorized, "POST", s.warehouse+"/api/inventory/reserve", reservation, nil)
	reserved := s.warehouse + "/api/inventory/reservations/" + reservation["orderId"].(string)
	api.want(t, http.StatusOK, "GET", reserved, nil, svc)
	api.want(t, http.StatusNotFound, "GET", s.warehouse+"/api/inventory/reservations/"+none, nil, svc)
	api.want(t, http.StatusBadRequest, "GET", s.warehouse+"/api/inventory/reservations/"+tooLong, nil, svc)
	api.want(t, http.StatusUnauthorized, "GET", reserved, nil, nil)
	api.want(t, http.StatusOK, "POST", s.warehouse+"/api/inventory/release", map[string]string{"orderId": reservation["orderId"].(string), "reason": "test"}, svc)
	api.want(t, http.StatusBadRequest, "POST", s.warehouse+"/api/inventory/release", map[string]string{}, svc)
	api.want(t, http.StatusUnauthorized, "POST", s.warehouse+"/api/inventory/release", map[string]string{"orderId": none}, nil)

	// orders: the dashboard, as a person would use it, and as nobody signed in.
	const email, password = "ana@example.com", "a long and private passphrase"
	require.NoError(t, orders.CreateManager(ctx, s.db, email, password))
	anonymous, ana := caller{cs.client(t)}, caller{cs.client(t)}
	dash := s.orders + "/dashboard"
	api.want(t, http.StatusOK, "GET", dash+"/static/app.css", nil, nil)
	api.want(t, http.StatusNotFound, "GET", dash+"/static/missing.css", nil, nil)
	signin := ana.want(t, http.StatusOK, "GET", dash+"/signin", nil, nil)
	ana.want(t, http.StatusForbidden, "POST", dash+"/signin", url.Values{"email": {email}, "password": {password}, "csrf_token": {"guess"}}, nil)
	// Wrong passwords are refused, then slowed down (each failure makes the next attempt
	// wait) and, at the latest after the fifth, locked out: either way, 429.
	refused, throttled := 0, false
	for form := signin; !throttled && refused <= 5; {
		status, page := ana.send(t, "POST", dash+"/signin", url.Values{"email": {"eve@example.com"}, "password": {"guess"}, "csrf_token": {form.csrf(t)}}, nil)
		require.Contains(t, []int{http.StatusUnauthorized, http.StatusTooManyRequests}, status, page.body)
		refused, throttled, form = refused+1, status == http.StatusTooManyRequests, page
	}
	require.True(t, throttled, "repeated wrong passwords are throttled")
	ana.want(t, http.StatusSeeOther, "POST", dash+"/signin", url.Values{"email": {email}, "password": {password}, "csrf_token": {ana.want(t, http.StatusOK, "GET", dash+"/signin", nil, nil).csrf(t)}}, nil)
	ana.want(t, http.StatusSeeOther, "GET", dash+"/signin", nil, nil)
	for _, page := range []string{"", "/", "/approvals", "/orders?status=completed", "/orders/" + p.ID, "/tickets", "/dead-letters"} {
		anonymous.want(t, http.StatusSeeOther, "GET", dash+page, nil, nil)
		ana.want(t, http.StatusOK, "GET", dash+page, nil, nil)
	}
	ana.want(t, http.StatusNotFound, "GET", dash+"/orders/"+none, nil, nil)
	csrf := ana.want(t, http.StatusOK, "GET", dash+"/approvals", nil, nil).csrf(t)
	htmx := http.Header{"HX-Request": {"true"}, ui.CSRFHeader: {csrf}}
	first, second := s.placeOrder(t, highRisk), s.placeOrder(t, highRisk)
	s.waitStatus(t, first, "awaiting_approval")
	s.waitStatus(t, second, "awaiting_approval")
	decide := func(id string) string { return dash + "/approvals/" + id + "/decide" }
	anonymous.want(t, http.StatusUnauthorized, "POST", decide(first), url.Values{"decision": {"approve"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", decide(first), url.Values{"decision": {"approve"}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", decide(first), url.Values{"decision": {"maybe"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", decide(first), url.Values{"decision": {"approve"}}, htmx)
	ana.want(t, http.StatusSeeOther, "POST", decide(second), url.Values{"decision": {"reject"}, "reason": {"no"}, "csrf_token": {csrf}}, nil)
	anonymous.want(t, http.StatusUnauthorized, "POST", dash+"/orders/"+p.ID+"/simulate", url.Values{"action": {"pay"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", dash+"/orders/"+p.ID+"/simulate", url.Values{"action": {"pay"}}, nil)
	ana.want(t, http.StatusNotFound, "POST", dash+"/orders/"+p.ID+"/simulate", url.Values{"action": {"pay"}, "csrf_token": {csrf}}, nil)
	notes := dash + "/orders/" + p.ID + "/notes"
	anonymous.want(t, http.StatusUnauthorized, "POST", notes, url.Values{"text": {"hello"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", notes, url.Values{"text": {"hello"}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", notes, url.Values{"text": {" "}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusSeeOther, "POST", notes, url.Values{"text": {"called the customer"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", notes, url.Values{"text": {"and again"}}, htmx)
	ana.want(t, http.StatusNotFound, "POST", dash+"/orders/"+none+"/notes", url.Values{"text": {"hello"}}, htmx)
	// Claims, on a held order and on one already decided.
	toClaim := s.placeOrder(t, highRisk)
	s.waitStatus(t, toClaim, "awaiting_approval")
	claim := func(id string) string { return dash + "/approvals/" + id + "/claim" }
	anonymous.want(t, http.StatusUnauthorized, "POST", claim(toClaim), url.Values{"action": {"claim"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", claim(toClaim), url.Values{"action": {"claim"}}, nil)
	ana.want(t, http.StatusNotFound, "POST", claim(none), url.Values{"action": {"claim"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusSeeOther, "POST", claim(toClaim), url.Values{"action": {"claim"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", claim(toClaim), url.Values{"action": {"release"}}, htmx)
	ana.want(t, http.StatusConflict, "POST", claim(first), url.Values{"action": {"claim"}, "csrf_token": {csrf}}, nil)
	// Bulk decisions: the confirmation page, and a decision that is neither.
	bulk := dash + "/approvals/bulk"
	anonymous.want(t, http.StatusUnauthorized, "POST", bulk, url.Values{"order": {toClaim}, "decision": {"reject"}, "reason": {"bulk"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", bulk, url.Values{"order": {toClaim}, "decision": {"reject"}, "reason": {"bulk"}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", bulk, url.Values{"order": {toClaim}, "decision": {"maybe"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", bulk, url.Values{"order": {toClaim}, "decision": {"reject"}, "reason": {"bulk"}, "csrf_token": {csrf}}, nil)
	// The export of the list's filter.
	anonymous.want(t, http.StatusSeeOther, "GET", dash+"/orders.csv?status=completed", nil, nil)
	ana.want(t, http.StatusOK, "GET", dash+"/orders.csv?status=completed&sort=total&dir=asc", nil, nil)
	// Ticket work, on a ticket opened for the purpose.
	require.NoError(t, pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, p.ID, eventstore.Metadata{CorrelationID: p.ID, Actor: "e2e"}, func(o *domain.Order) ([]domain.Event, error) {
			return o.OpenSupportTicket("documented", "opened for the document", time.Now())
		})
		return err
	}))
	var ticketID int64
	require.Eventually(t, func() bool {
		return s.db.QueryRow(ctx, `SELECT id FROM orders.support_tickets WHERE order_id = $1 AND kind = 'documented'`, p.ID).Scan(&ticketID) == nil
	}, 30*time.Second, 20*time.Millisecond, "the ticket reaches its read model")
	ticket := dash + "/tickets/" + strconv.FormatInt(ticketID, 10)
	anonymous.want(t, http.StatusUnauthorized, "POST", ticket, url.Values{"action": {"assign"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", ticket, url.Values{"action": {"assign"}}, nil)
	ana.want(t, http.StatusNotFound, "POST", dash+"/tickets/0", url.Values{"action": {"assign"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", ticket, url.Values{"action": {"comment"}, "text": {" "}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusSeeOther, "POST", ticket, url.Values{"action": {"assign"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", ticket, url.Values{"action": {"close"}, "resolution": {"documented"}}, htmx)
	// Dead letters, made by hand for a group that does not exist (no consumer handles them
	// again): one re-driven by id, one by its topic, each after its confirmation page.
	var deadIDs []int64
	for range 2 {
		var id int64
		require.NoError(t, s.db.QueryRow(ctx, `INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
			VALUES ('payments_commands', 'e2e.nobody', $1, '{}', '{}', 'documented') RETURNING id`, uuid.NewString()).Scan(&id))
		deadIDs = append(deadIDs, id)
	}
	redrive := dash + "/dead-letters/" + strconv.FormatInt(deadIDs[0], 10) + "/redrive"
	anonymous.want(t, http.StatusUnauthorized, "POST", redrive, url.Values{"confirm": {"yes"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", redrive, url.Values{"confirm": {"yes"}}, nil)
	ana.want(t, http.StatusNotFound, "POST", dash+"/dead-letters/0/redrive", url.Values{"csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", redrive, url.Values{"csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusSeeOther, "POST", redrive, url.Values{"csrf_token": {csrf}, "confirm": {"yes"}}, nil)
	redriveTopic := dash + "/dead-letters/redrive"
	anonymous.want(t, http.StatusUnauthorized, "POST", redriveTopic, url.Values{"topic": {"payments_commands"}}, nil)
	ana.want(t, http.StatusForbidden, "POST", redriveTopic, url.Values{"topic": {"payments_commands"}}, nil)
	ana.want(t, http.StatusBadRequest, "POST", redriveTopic, url.Values{"csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusOK, "POST", redriveTopic, url.Values{"topic": {"payments_commands"}, "csrf_token": {csrf}}, nil)
	ana.want(t, http.StatusSeeOther, "POST", redriveTopic, url.Values{"topic": {"payments_commands"}, "csrf_token": {csrf}, "confirm": {"yes"}}, nil)
	// The simulator buttons exist in dev mode: an orders service in dev mode on the same data.
	devOrders := httptest.NewServer(orders.New(s.db, logger, orders.Config{DevMode: true, OrderTokenSecret: orderTokenSecret, ServiceToken: ordersServiceToken,
		PaymentsURL: s.payments, DeliveryURL: s.delivery, WarehouseURL: s.warehouse}).Handler())
	t.Cleanup(devOrders.Close)
	cs.add(t, devOrders.URL, cs.byHost[hostOf(t, s.orders)])
	dev := caller{cs.client(t)}
	devSignin := dev.want(t, http.StatusOK, "GET", devOrders.URL+"/dashboard/signin", nil, nil)
	dev.want(t, http.StatusSeeOther, "POST", devOrders.URL+"/dashboard/signin", url.Values{"email": {email}, "password": {password}, "csrf_token": {devSignin.csrf(t)}}, nil)
	devCSRF := dev.want(t, http.StatusOK, "GET", devOrders.URL+"/dashboard/orders/"+p.ID, nil, nil).csrf(t)
	dev.want(t, http.StatusBadRequest, "POST", devOrders.URL+"/dashboard/orders/"+p.ID+"/simulate", url.Values{"action": {"teleport"}, "csrf_token": {devCSRF}}, nil)
	dev.want(t, http.StatusSeeOther, "POST", devOrders.URL+"/dashboard/orders/"+p.ID+"/simulate", url.Values{"action": {"delivered"}, "csrf_token": {devCSRF}}, nil)

	anonymous.want(t, http.StatusUnauthorized, "GET", dash+"/events", nil, http.Header{"Accept": {"text/event-stream"}})
	streamCtx, stopStream := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(streamCtx, "GET", dash+"/events?list=pending", nil)
	require.NoError(t, err)
	stream, err := ana.c.Do(req)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, stream.StatusCode)
	stopStream()
	stream.Body.Close()

	anonymous.want(t, http.StatusUnauthorized, "POST", dash+"/signout", url.Values{}, nil)
	ana.want(t, http.StatusForbidden, "POST", dash+"/signout", url.Values{}, nil)
	ana.want(t, http.StatusSeeOther, "POST", dash+"/signout", url.Values{"csrf_token": {csrf}}, nil)

	for _, base := range s.bases() {
		c := cs.byHost[hostOf(t, base)]
		c.checkExercised(t, notExercised)
	}
}

// hostOf is the host:port of a base URL.
func hostOf(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err)
	return u.Host
}

// mustProviderPayment is the provider's report of the order's payment, as event eventID.
func (s *system) mustProviderPayment(t *testing.T, id, eventID string) any {
	t.Helper()
	wh, err := s.providerPayment(t.Context(), id, eventID, "completed", "pay-"+id)
	require.NoError(t, err)
	return wh
}
