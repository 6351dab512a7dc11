package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/payments"
)

// paymentsAPI reads p's payment session, pays it at the checkout page and drives the
// payment simulator, with and without an orders service to report to.
func (r *contractRun) paymentsAPI(t *testing.T, p placed) {
	t.Helper()
	s, cs, api, logger, svc, none, tooLong := r.s, r.cs, r.api, r.logger, r.svc, r.none, r.tooLong
	// payments: the session, the simulator and the checkout page.
	s.waitStatus(t, p.ID, "awaiting_payment")
	sess := s.session(t, p.ID)
	api.want(t, http.StatusOK, "GET", s.payments+"/api/payments/sessions/"+p.ID, nil, svc)
	api.want(t, http.StatusUnauthorized, "GET", s.payments+"/api/payments/sessions/"+p.ID, nil, nil)
	api.want(t, http.StatusNotFound, "GET", s.payments+"/api/payments/sessions/"+none, nil, svc)
	api.want(t, http.StatusBadRequest, "GET", s.payments+"/api/payments/sessions/"+tooLong, nil, svc)
	checkout := api.want(t, http.StatusOK, "GET", s.payments+"/pay/"+sess, nil, nil)
	api.want(t, http.StatusNotFound, "GET", s.payments+"/pay/"+none, nil, nil)
	api.want(t, http.StatusBadRequest, "GET", s.payments+"/pay/"+tooLong, nil, nil)
	api.want(t, http.StatusBadRequest, "POST", s.payments+"/pay/"+tooLong, url.Values{"outcome": {"completed"}, "csrf_token": {"t"}},
		http.Header{"Cookie": {"ordermill_checkout=t"}})
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
	api.want(t, http.StatusBadGateway, "POST", lost.URL+"/api/payments/process", map[string]string{"orderId": p.ID, "outcome": "completed"}, svc)
	api.want(t, http.StatusNotFound, "POST", s.payments+"/api/payments/process", map[string]string{"orderId": none, "outcome": "completed"}, svc)
}

// deliveryAPI books and reads shipments and drives the courier simulator, late's among
// them, with and without an orders service to report to.
func (r *contractRun) deliveryAPI(t *testing.T, late string) {
	t.Helper()
	s, cs, api, logger, svc, none, tooLong := r.s, r.cs, r.api, r.logger, r.svc, r.none, r.tooLong
	// delivery: shipments and the courier simulator.
	s.waitStatus(t, late, "awaiting_delivery")
	shipment := map[string]any{"orderId": uuid.NewString(), "lines": []map[string]any{{"sku": "SKU-001", "quantity": 1}},
		"address": map[string]string{"name": "Zoe", "line1": "1 Main St", "city": "Lyon", "postalCode": "69001", "country": "FR"}}
	api.want(t, http.StatusCreated, "POST", s.delivery+"/api/shipments", shipment, svc)
	// The repeat is asked of a placed order's shipment, which its workflow keeps: the
	// workflow calls the booking above off, and one called off is booked anew (201). A
	// repeat of other lines than the order's (lowRisk's) is a conflict.
	api.want(t, http.StatusOK, "POST", s.delivery+"/api/shipments", map[string]any{"orderId": late, "lines": []map[string]any{{"sku": "SKU-001", "quantity": 2}}}, svc)
	api.want(t, http.StatusConflict, "POST", s.delivery+"/api/shipments", map[string]any{"orderId": late, "lines": shipment["lines"]}, svc)
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
	// The shipment booked above for an order never placed is called off by the workflow at
	// once: the courier reports late's delivery again, as couriers do.
	api.want(t, http.StatusBadGateway, "POST", lostCourier.URL+"/api/shipments/"+late+"/simulate", map[string]string{"status": "delivered"}, svc)
}

// warehouseAPI reads the catalog and the stock, and reserves and releases stock.
func (r *contractRun) warehouseAPI(t *testing.T) {
	t.Helper()
	s, api, svc, none, tooLong := r.s, r.api, r.svc, r.none, r.tooLong
	// warehouse.
	reservation := map[string]any{"orderId": uuid.NewString(), "lines": []map[string]any{{"sku": "SKU-001", "quantity": 1}}}
	lines := map[string]any{"lines": reservation["lines"]}
	api.want(t, http.StatusOK, "GET", s.warehouse+"/api/inventory", nil, nil)
	api.want(t, http.StatusOK, "GET", s.warehouse+"/api/catalog?sku=SKU-001&sku=SKU-031", nil, nil)
	api.want(t, http.StatusOK, "GET", s.warehouse+"/api/catalog", nil, nil)
	api.want(t, http.StatusBadRequest, "GET", s.warehouse+"/api/catalog?sku="+tooLong, nil, nil)
	api.want(t, http.StatusBadRequest, "GET", s.warehouse+"/api/catalog?SKU=SKU-001", nil, nil)
	api.want(t, http.StatusBadRequest, "GET", s.warehouse+"/api/inventory?sku=SKU-001", nil, nil)
	api.want(t, http.StatusOK, "POST", s.warehouse+"/api/inventory/check-availability", lines, svc)
	api.want(t, http.StatusBadRequest, "POST", s.warehouse+"/api/inventory/check-availability", `{"lines":"none"}`, svc)
	api.want(t, http.StatusUnauthorized, "POST", s.warehouse+"/api/inventory/check-availability", lines, nil)
	api.want(t, http.StatusCreated, "POST", s.warehouse+"/api/inventory/reserve", reservation, svc)
	// A reservation of an order never placed is given back by the workflow at once: the
	// same again is asked of a placed order's, which its workflow holds (lowRisk's lines).
	held := map[string]any{"orderId": s.placeOrder(t, lowRisk), "lines": []map[string]any{{"sku": "SKU-001", "quantity": 2}}}
	s.waitStatus(t, held["orderId"].(string), "awaiting_payment")
	api.want(t, http.StatusOK, "POST", s.warehouse+"/api/inventory/reserve", held, svc) // the same again
	api.want(t, http.StatusConflict, "POST", s.warehouse+"/api/inventory/reserve",
		map[string]any{"orderId": held["orderId"], "lines": []map[string]any{{"sku": "SKU-001", "quantity": 3}}}, svc)
	api.want(t, http.StatusConflict, "POST", s.warehouse+"/api/inventory/reserve",
		map[string]any{"orderId": uuid.NewString(), "lines": []map[string]any{{"sku": "SKU-001", "quantity": 10000}}}, svc)
	api.want(t, http.StatusBadRequest, "POST", s.warehouse+"/api/inventory/reserve", map[string]any{"orderId": none}, svc)
	api.want(t, http.StatusUnauthorized, "POST", s.warehouse+"/api/inventory/reserve", reservation, nil)
	reserved := s.warehouse + "/api/inventory/reservations/" + held["orderId"].(string)
	api.want(t, http.StatusOK, "GET", reserved, nil, svc)
	api.want(t, http.StatusNotFound, "GET", s.warehouse+"/api/inventory/reservations/"+none, nil, svc)
	api.want(t, http.StatusBadRequest, "GET", s.warehouse+"/api/inventory/reservations/"+tooLong, nil, svc)
	api.want(t, http.StatusUnauthorized, "GET", reserved, nil, nil)
	api.want(t, http.StatusOK, "POST", s.warehouse+"/api/inventory/release", map[string]string{"orderId": reservation["orderId"].(string), "reason": "test"}, svc)
	api.want(t, http.StatusBadRequest, "POST", s.warehouse+"/api/inventory/release", map[string]string{}, svc)
	api.want(t, http.StatusUnauthorized, "POST", s.warehouse+"/api/inventory/release", map[string]string{"orderId": none}, nil)
}
