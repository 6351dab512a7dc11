package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/services/orders/ordersclient"
	"github.com/ordermill/ordermill/services/webhooksig"
)

const lowRisk = `{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":50}],"total":100,"customerId":"c-1","customerEmail":"ann@example.com"}`
const highRisk = `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"newCustomer":true,"customerEmail":"bob@example.com"}`

// pay is the customer paying at the checkout of the order's session, once there is one:
// the payment simulator settles it and sends the signed webhook a provider would.
func (s *system) pay(t *testing.T, orderID, outcome string) {
	t.Helper()
	s.session(t, orderID)
	s.simulatePayment(t, orderID, outcome)
}

// simulatePayment asks the payment simulator for a payment whether or not the order has a
// session yet.
func (s *system) simulatePayment(t *testing.T, orderID, outcome string) {
	t.Helper()
	var out struct {
		OrdersStatus int `json:"ordersStatus"`
	}
	code := s.call(t, "POST", s.payments+"/api/payments/process", map[string]string{"orderId": orderID, "outcome": outcome}, bearer(ordersServiceToken), &out)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, out.OrdersStatus)
}

// courier asks the courier simulator to send a signed delivery webhook.
func (s *system) courier(t *testing.T, orderID, status string) {
	t.Helper()
	var out struct {
		OrdersStatus int `json:"ordersStatus"`
	}
	code := s.call(t, "POST", s.delivery+"/api/shipments/"+orderID+"/simulate", map[string]string{"status": status}, bearer(ordersServiceToken), &out)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, out.OrdersStatus)
}

type stock struct {
	SKU       string `json:"sku"`
	Available int    `json:"available"`
	Reserved  int    `json:"reserved"`
}

func (s *system) stock(t *testing.T, sku string) stock {
	t.Helper()
	var all []stock
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.warehouse+"/api/inventory", nil, nil, &all))
	for _, st := range all {
		if st.SKU == sku {
			return st
		}
	}
	t.Fatalf("sku %s not in the catalog", sku)
	return stock{}
}

func (s *system) notifications(t *testing.T, orderID string) []string {
	t.Helper()
	res, err := s.api.ListNotificationsWithResponse(t.Context(), orderID, ordersclient.WithHeaders(operator()))
	require.NoError(t, err)
	require.NotNil(t, res.JSON200, "status %d: %s", res.StatusCode(), res.Body)
	kinds := []string{}
	for _, n := range res.JSON200.Notifications {
		kinds = append(kinds, n.Kind)
	}
	return kinds
}

func (s *system) tickets(t *testing.T, orderID string) []string {
	t.Helper()
	res, err := s.api.ListSupportTicketsWithResponse(t.Context(), &ordersclient.ListSupportTicketsParams{OrderId: &orderID},
		ordersclient.WithHeaders(operator()))
	require.NoError(t, err)
	require.NotNil(t, res.JSON200, "status %d: %s", res.StatusCode(), res.Body)
	kinds := []string{}
	for _, t := range res.JSON200.Tickets {
		kinds = append(kinds, t.Kind)
	}
	return kinds
}

// Scenario 1: a low-risk order runs to completion without anyone stepping in.
func TestScenario1LowRiskOrderCompletes(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.stock(t, "SKU-001")
	id := s.placeOrder(t, lowRisk)

	o := s.waitStatus(t, id, "awaiting_payment")
	require.NotNil(t, o.RiskScore)
	assert.Less(t, *o.RiskScore, 70)
	assert.NotEmpty(t, o.ReservationID)
	assert.Equal(t, before.Available-2, s.stock(t, "SKU-001").Available)

	s.pay(t, id, "completed")
	o = s.waitStatus(t, id, "awaiting_delivery")
	assert.NotEmpty(t, o.ShipmentID)

	s.courier(t, id, "in_transit")
	s.courier(t, id, "delivered")
	s.waitStatus(t, id, "completed")
	s.waitNotification(t, id, "order_completed")
	assert.ElementsMatch(t, []string{"order_confirmed", "order_completed"}, s.notifications(t, id))
}

// Scenario 2: a high-risk order waits for a manager, who approves it.
func TestScenario2HighRiskOrderApprovedCompletes(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, highRisk)
	o := s.waitStatus(t, id, "awaiting_approval")
	require.NotNil(t, o.RiskScore)
	assert.GreaterOrEqual(t, *o.RiskScore, 70)

	assert.Equal(t, http.StatusUnauthorized, s.decide(t, "wrong", id, true, "").StatusCode(), "approval needs the manager token")

	require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, true, "known reseller").StatusCode())
	o = s.waitStatus(t, id, "awaiting_payment")
	assert.Equal(t, "known reseller", o.DecisionReason)
	assert.NotEmpty(t, o.DecidedBy)

	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_delivery")
	s.courier(t, id, "delivered")
	s.waitStatus(t, id, "completed")
}

// Scenario 2b: the manager rejects: nothing is reserved, the customer hears why.
func TestScenario2HighRiskOrderRejected(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.stock(t, "SKU-031")
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")
	require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, false, "card mismatch").StatusCode())
	o := s.waitStatus(t, id, "rejected")
	assert.Empty(t, o.ReservationID)
	assert.Equal(t, before, s.stock(t, "SKU-031"))
	s.waitNotification(t, id, "order_rejected")
}

// waitNotification waits until the order has an email of kind recorded.
func (s *system) waitNotification(t *testing.T, id, kind string) {
	t.Helper()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); <-poll.C {
		for _, k := range s.notifications(t, id) {
			if k == kind {
				return
			}
		}
	}
	t.Fatalf("no %s email for order %s", kind, id)
}

// waitTicket waits until a support ticket of kind exists for the order.
func (s *system) waitTicket(t *testing.T, id, kind string) {
	t.Helper()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); <-poll.C {
		for _, k := range s.tickets(t, id) {
			if k == kind {
				return
			}
		}
	}
	t.Fatalf("no %s ticket for order %s", kind, id)
}

// waitStock waits until a SKU's stock is back to want.
func (s *system) waitStock(t *testing.T, sku string, want stock) {
	t.Helper()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	var got stock
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); <-poll.C {
		if got = s.stock(t, sku); got == want {
			return
		}
	}
	t.Fatalf("stock of %s is %+v, want %+v", sku, got, want)
}

// Scenario 3: the payment fails: stock goes back, the customer is told, the order is cancelled.
func TestScenario3PaymentFailureCompensates(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.stock(t, "SKU-001")
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	s.pay(t, id, "failed")
	o := s.waitStatus(t, id, "cancelled")
	assert.Equal(t, "payment_failed", o.CancelReason)
	s.waitStock(t, "SKU-001", before)
	s.waitNotification(t, id, "order_cancelled")
}

func TestOutOfStockCancelsAndNotifies(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, `{"items":[{"sku":"SKU-LIMITED","quantity":6}],"total":120,"customerEmail":"cat@example.com"}`)
	o := s.waitStatus(t, id, "cancelled")
	assert.Equal(t, "out_of_stock", o.CancelReason)
	s.waitNotification(t, id, "order_cancelled")
}

func TestDeliveryFailureOpensTicket(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_delivery")
	s.courier(t, id, "failed")
	s.waitStatus(t, id, "delivery_failed")
	s.waitTicket(t, id, "delivery_failed")
}

func TestApprovalTimeoutCancels(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.ApprovalTimeout = time.Second
	s := start(t, opt)
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")
	o := s.waitStatus(t, id, "cancelled")
	assert.Equal(t, "timed_out", o.CancelReason)
	// A decision after the deadline is refused.
	assert.Equal(t, http.StatusConflict, s.decide(t, managerToken, id, true, "").StatusCode())
}

func TestPaymentTimeoutCancelsAndReleasesStock(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.PaymentTimeout = time.Second
	s := start(t, opt)
	before := s.stock(t, "SKU-001")
	id := s.placeOrder(t, lowRisk)
	o := s.waitStatus(t, id, "cancelled")
	assert.Equal(t, "timed_out", o.CancelReason)
	s.waitStock(t, "SKU-001", before)
}

func TestDeliveryTimeoutOpensTicket(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.DeliveryTimeout = time.Second
	s := start(t, opt)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_delivery")
	s.waitTicket(t, id, "delivery_overdue")
	assert.Equal(t, "awaiting_delivery", s.order(t, id).Status)
}

// A payment that arrives while the order still waits for approval is kept until the order
// records its session, and then checked against it: this one names no session (the
// simulator had none to settle), so it pays nothing, a ticket says why, and the order waits
// for the payment of its own session.
func TestEarlyPaymentWebhookIsCheckedOnceTheSessionIsRecorded(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")
	s.simulatePayment(t, id, "completed")
	assert.Equal(t, "awaiting_approval", s.order(t, id).Status)
	require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, true, "").StatusCode())
	s.waitTicket(t, id, "payment_mismatch")
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status)
	s.pay(t, id, "completed")
	o := s.waitStatus(t, id, "awaiting_delivery")
	assert.NotEmpty(t, o.PaymentID)
}

// Issue 8, finding 3: a 50,000 order was paid through a session opened for 0.01. Sessions
// are opened only by the workflow, for the order's total; a provider's webhook about
// another session, a smaller amount or another currency opens a payment_mismatch ticket
// and leaves the order waiting, and only the payment of its own session moves it on.
func TestOnlyThePaymentOfTheOrdersOwnSessionPaysIt(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")
	require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, true, "").StatusCode())

	assert.Equal(t, http.StatusNotFound, s.call(t, "POST", s.payments+"/api/payments/sessions",
		map[string]any{"orderId": id, "amount": 1, "currency": "USD"}, bearer(ordersServiceToken), nil),
		"no session is opened over HTTP, even with the orders service's token")

	good, err := s.providerPayment(t.Context(), id, "evt_good", "completed", "pi_good")
	require.NoError(t, err)
	assert.Equal(t, int64(50_000_00), good.Amount, "the session the workflow opened is for the order's total")
	assert.Equal(t, s.session(t, id), good.SessionID, "the order recorded the payment service's session")
	bad := map[string]payment.Webhook{}
	for name, change := range map[string]func(*payment.Webhook){
		"0.01":             func(w *payment.Webhook) { w.Amount = 1 },
		"another session":  func(w *payment.Webhook) { w.SessionID = "cs_someone_else" },
		"another currency": func(w *payment.Webhook) { w.Currency = "EUR" },
		"no session named": func(w *payment.Webhook) { w.SessionID, w.Amount, w.Currency = "", 0, "" },
	} {
		wh := good
		wh.ID, wh.PaymentID = "evt_bad_"+strings.ReplaceAll(name, " ", "_"), "pi_bad"
		change(&wh)
		bad[name] = wh
	}
	for name, wh := range bad {
		body, header := signedPayment(t, paymentSecret, wh)
		require.Equal(t, http.StatusAccepted, s.postPayment(t, body, header).StatusCode(), name)
	}
	s.waitTicket(t, id, "payment_mismatch")
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status)

	// Webhooks are handled in the order they came, so once the good one has moved the
	// order on, every bad one before it has been refused.
	body, header := signedPayment(t, paymentSecret, good)
	require.Equal(t, http.StatusAccepted, s.postPayment(t, body, header).StatusCode())
	o := s.waitStatus(t, id, "awaiting_delivery")
	assert.Equal(t, "pi_good", o.PaymentID)
	var tickets struct {
		Tickets []struct{ Kind, Reason string } `json:"tickets"`
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/support-tickets?orderId="+id, nil, operator(), &tickets))
	require.Len(t, tickets.Tickets, 1)
	assert.Contains(t, tickets.Tickets[0].Reason, "refused")
}

// signedPayment builds a payment webhook body and its Stripe signature.
func signedPayment(t *testing.T, secret string, body any) ([]byte, http.Header) {
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	return raw, http.Header{webhooksig.StripeHeader: {webhooksig.SignStripe(raw, secret, time.Now())}}
}

// providerPayment is what a payment provider reports when the order's checkout session
// settles: it names the session, the amount and the currency, so it waits until the order
// has recorded its session. It returns errors so it can run in a goroutine.
func (s *system) providerPayment(ctx context.Context, id, eventID, status, paymentID string) (payment.Webhook, error) {
	o, err := s.recordedSession(ctx, id)
	if err != nil {
		return payment.Webhook{}, err
	}
	return payment.Webhook{ID: eventID, OrderID: id, Status: status, PaymentID: paymentID,
		SessionID: o.PaymentSessionID, Amount: int64(math.Round(o.Total * 100)), Currency: o.Currency}, nil
}

// recordedSession waits until the order has recorded its payment session: only then can a
// customer pay it.
func (s *system) recordedSession(ctx context.Context, id string) (orderView, error) {
	var o orderView
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for deadline := time.Now().Add(30 * time.Second); o.PaymentSessionID == ""; <-poll.C {
		var err error
		if o, err = s.read(ctx, id); err != nil {
			return o, err
		}
		if time.Now().After(deadline) {
			return o, fmt.Errorf("order %s never recorded a payment session", id)
		}
	}
	return o, nil
}

// signedProviderPayment is providerPayment, signed with the provider's secret.
func (s *system) signedProviderPayment(t *testing.T, id, eventID, status, paymentID string) ([]byte, http.Header) {
	t.Helper()
	wh, err := s.providerPayment(t.Context(), id, eventID, status, paymentID)
	require.NoError(t, err)
	return signedPayment(t, paymentSecret, wh)
}

func TestDuplicateWebhooksHaveOneEffect(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	body, header := s.signedProviderPayment(t, id, "evt_dup_1", "completed", "pi_1")
	first := s.postPayment(t, body, header)
	require.Equal(t, http.StatusAccepted, first.StatusCode())
	second := s.postPayment(t, body, header)
	require.Equal(t, http.StatusOK, second.StatusCode())
	assert.Equal(t, ordersclient.WebhookAnswerOutcome("accepted"), first.JSON202.Outcome)
	assert.Equal(t, ordersclient.WebhookAnswerOutcome("duplicate"), second.JSON200.Outcome)
	s.waitStatus(t, id, "awaiting_delivery")

	// The same delivery status twice (different event ids) records one update.
	s.courier(t, id, "in_transit")
	s.courier(t, id, "in_transit")
	s.courier(t, id, "delivered")
	s.waitStatus(t, id, "completed")
	var history struct {
		Events []struct{ Name string } `json:"events"`
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/orders/"+id+"/events", nil, operator(), &history))
	counts := map[string]int{}
	for _, e := range history.Events {
		counts[e.Name]++
	}
	assert.Equal(t, 1, counts["order.payment_completed.v1"])
	assert.Equal(t, 2, counts["order.delivery_status_updated.v1"], "in_transit once, delivered once")
}

func TestForgedOrUnsignedWebhooksAreRefused(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")

	body, header := signedPayment(t, "whsec_attacker", map[string]string{"orderId": id, "status": "completed"})
	forged := s.postPayment(t, body, header)
	assert.Equal(t, http.StatusUnauthorized, forged.StatusCode())
	require.NotNil(t, forged.JSON401, "body: %s", forged.Body)
	assert.Equal(t, ordersclient.ErrorErrorCode("unauthorized"), forged.JSON401.Error.Code)
	assert.Equal(t, http.StatusUnauthorized, s.postPayment(t, body, nil).StatusCode(), "unsigned outside dev mode")
	courierBody := []byte(fmt.Sprintf(`{"orderId":%q,"status":"delivered"}`, id))
	assert.Equal(t, http.StatusUnauthorized, s.postDelivery(t, courierBody,
		http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(courierBody, "wrong", time.Now())}}).StatusCode())
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status)
}

// The business case's curl commands, unsigned, work in dev mode.
func TestBusinessCaseCurlWebhooksInDevMode(t *testing.T) {
	opt := defaultOptions()
	opt.devMode = true
	s := start(t, opt)
	id := s.placeOrder(t, `{"items":[{"sku":"SKU-003","quantity":1}],"total":100}`)
	s.waitStatus(t, id, "awaiting_payment")
	require.Equal(t, http.StatusAccepted, s.postPayment(t, []byte(fmt.Sprintf(`{"orderId":%q,"status":"completed"}`, id)), nil).StatusCode())
	s.waitStatus(t, id, "awaiting_delivery")
	require.Equal(t, http.StatusAccepted, s.postDelivery(t, []byte(fmt.Sprintf(`{"orderId":%q,"status":"delivered"}`, id)), nil).StatusCode())
	s.waitStatus(t, id, "completed")
}

func TestWebhookForUnknownOrderIsRecorded(t *testing.T) {
	s := start(t, defaultOptions())
	body, header := signedPayment(t, paymentSecret, map[string]string{"id": "evt_ghost", "orderId": "no-such-order", "status": "completed"})
	assert.Equal(t, http.StatusNotFound, s.postPayment(t, body, header).StatusCode())
	var inbox struct {
		Webhooks []struct{ OrderID, Outcome string } `json:"webhooks"`
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/webhooks?outcome=unknown_order", nil, operator(), &inbox))
	require.Len(t, inbox.Webhooks, 1)
	assert.Equal(t, "no-such-order", inbox.Webhooks[0].OrderID)
}

// Two managers decide the same order at the same moment: one wins, the other gets 409.
func TestConcurrentManagerDecisions(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")
	codes := make([]int, 2)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i, approved := range []bool{true, false} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			res, err := s.api.ApproveOrderWithResponse(t.Context(), ordersclient.ApproveOrderJSONRequestBody{OrderId: id, Approved: approved},
				ordersclient.WithHeaders(http.Header{"Authorization": {"Bearer " + managerToken}, "X-Manager": {fmt.Sprintf("manager-%d", i)}}))
			if err != nil {
				return
			}
			codes[i] = res.StatusCode()
		}()
	}
	close(startGate)
	wg.Wait()
	assert.ElementsMatch(t, []int{http.StatusOK, http.StatusConflict}, codes)
}

// A webhook first refused for an unknown order is applied when the provider retries it
// once the order exists, and only once.
func TestRetriedWebhookForAnOrderThatNowExistsIsApplied(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	// The provider's first attempt named the order before it existed (as the same event id).
	_, err := s.db.Exec(context.Background(), `INSERT INTO orders.webhook_inbox (provider, event_id, order_id, status, outcome, payload)
		VALUES ('payment', 'evt_retry', $1, 'completed', 'unknown_order', '{}')`, id)
	require.NoError(t, err)

	body, header := s.signedProviderPayment(t, id, "evt_retry", "completed", "pi_retry")
	first := s.postPayment(t, body, header)
	require.Equal(t, http.StatusAccepted, first.StatusCode())
	second := s.postPayment(t, body, header)
	require.Equal(t, http.StatusOK, second.StatusCode())
	assert.Equal(t, ordersclient.WebhookAnswerOutcome("accepted"), first.JSON202.Outcome)
	assert.Equal(t, ordersclient.WebhookAnswerOutcome("duplicate"), second.JSON200.Outcome)
	s.waitStatus(t, id, "awaiting_delivery")
}
