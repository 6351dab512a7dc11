package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/services/ordersclient"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// A payment that arrives while the order still waits for approval is kept until the order
// records its session, and then checked against it: this one names no session (the
// simulator had none to settle), so it pays nothing, a ticket says why, and the order waits
// for the payment of its own session.
func TestEarlyPaymentWebhookIsCheckedOnceTheSessionIsRecorded(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")
	// The provider reports a payment before the order has a session (the simulator no
	// longer makes one up for an order without a session).
	body, header := signedPayment(t, paymentSecret, payment.Webhook{ID: "evt_early", OrderID: id, Status: payment.StatusCompleted, PaymentID: "pi_bad"})
	require.Equal(t, http.StatusAccepted, s.postPayment(t, body, header).StatusCode())
	assert.Equal(t, "awaiting_approval", s.order(t, id).Status)
	require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, true, "").StatusCode())
	s.waitTicket(t, id, "payment_mismatch")
	s.waitRefund(t, id) // of pi_bad, once, whichever report asked first
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status)
	s.pay(t, id, "completed")
	o := s.waitStatus(t, id, "awaiting_delivery")
	assert.NotEmpty(t, o.PaymentID)
}

// Issue 8, finding 3: a 50,000 order was paid through a session opened for 0.01. Sessions
// are opened only by the workflow, for the order's total; a provider's webhook about
// another session, a smaller amount or another currency opens a payment_mismatch ticket,
// is refunded and leaves the order waiting, and only the payment of its own session moves
// it on.
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
	s.waitRefund(t, id) // of pi_bad, once, whichever report asked first
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status)

	// Webhooks are handled in the order they came, so once the good one has moved the
	// order on, every bad one before it has been refused. A currency's case does not
	// matter, as it does not in an order's or a Stripe event's.
	good.Currency = strings.ToLower(good.Currency)
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
	t.Helper()
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

// postPaymentTwice posts the same payment webhook twice: the first is accepted, the second
// is answered as a duplicate.
func (s *system) postPaymentTwice(t *testing.T, body []byte, header http.Header) {
	t.Helper()
	first := s.postPayment(t, body, header)
	require.Equal(t, http.StatusAccepted, first.StatusCode())
	second := s.postPayment(t, body, header)
	require.Equal(t, http.StatusOK, second.StatusCode())
	assert.Equal(t, ordersclient.WebhookAnswerOutcome("accepted"), first.JSON202.Outcome)
	assert.Equal(t, ordersclient.WebhookAnswerOutcome("duplicate"), second.JSON200.Outcome)
}

func TestDuplicateWebhooksHaveOneEffect(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	body, header := s.signedProviderPayment(t, id, "evt_dup_1", "completed", "pi_1")
	s.postPaymentTwice(t, body, header)
	s.waitStatus(t, id, "awaiting_delivery")

	// The same delivery status twice (different event ids) records one update.
	s.courier(t, id, "in_transit")
	s.courier(t, id, "in_transit")
	// A courier that shouts is heard: "DELIVERED" delivers, spaces around it too (it was
	// recorded as a status of its own, shown to the customer, and the order waited on).
	shout := []byte(fmt.Sprintf(`{"id":"dlv_shout","orderId":%q,"status":" DELIVERED "}`, id))
	res := s.postDelivery(t, shout, http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(shout, deliverySecret, time.Now())}})
	require.Equal(t, http.StatusAccepted, res.StatusCode(), string(res.Body))
	s.waitStatus(t, id, "completed")
	s.courier(t, id, "delivered")
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
	// Each 401 says what is wanted: the webhook's signature, not the API's bearer token.
	assert.Equal(t, `Stripe-Signature realm="ordermill"`, forged.HTTPResponse.Header.Get("WWW-Authenticate"))
	unsigned := s.postPayment(t, body, nil)
	assert.Equal(t, http.StatusUnauthorized, unsigned.StatusCode(), "unsigned outside dev mode")
	assert.Equal(t, `Stripe-Signature realm="ordermill"`, unsigned.HTTPResponse.Header.Get("WWW-Authenticate"))
	courierBody := []byte(fmt.Sprintf(`{"orderId":%q,"status":"delivered"}`, id))
	wrong := s.postDelivery(t, courierBody, http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(courierBody, "wrong", time.Now())}})
	assert.Equal(t, http.StatusUnauthorized, wrong.StatusCode())
	assert.Equal(t, webhooksig.CourierHeader+` realm="ordermill"`, wrong.HTTPResponse.Header.Get("WWW-Authenticate"))
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

	// The provider's retry, while the order is still unknown, is answered 404 again: a 200
	// duplicate stopped its retries, and the webhook was never applied once the order was.
	res := s.postPayment(t, body, header)
	assert.Equal(t, http.StatusNotFound, res.StatusCode(), "%s", res.Body)
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
	s.postPaymentTwice(t, body, header)
	s.waitStatus(t, id, "awaiting_delivery")
}

// A payment webhook without an event id is known by what it reports, not by its order and
// status alone: a refused report of one payment (too small) must not make the order's own
// payment, reported next without an id either, a duplicate that leaves the order unpaid.
func TestARefusedPaymentWithoutAnIDDoesNotHideTheOrdersOwn(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	good, err := s.providerPayment(t.Context(), id, "", "completed", "pi_real")
	require.NoError(t, err)
	short := good
	short.PaymentID, short.Amount = "pi_short", 1
	body, header := signedPayment(t, paymentSecret, short)
	require.Equal(t, http.StatusAccepted, s.postPayment(t, body, header).StatusCode())
	s.waitTicket(t, id, "payment_mismatch")

	body, header = signedPayment(t, paymentSecret, good)
	s.postPaymentTwice(t, body, header)
	assert.Equal(t, "pi_real", s.waitStatus(t, id, "awaiting_delivery").PaymentID)
}

// A courier's update is about the order's own parcel: one that comes before the order is
// paid (nothing was shipped) or names another shipment opens a delivery_mismatch ticket
// and changes nothing. Kept, an early "delivered" completed the order the moment it was
// shipped, with its parcel still in the warehouse.
func TestACourierUpdateAboutAnotherParcelIsRefused(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	courier := func(eventID, shipmentID, status string) {
		body, err := json.Marshal(shipping.Webhook{ID: eventID, OrderID: id, ShipmentID: shipmentID, Status: status})
		require.NoError(t, err)
		header := http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(body, deliverySecret, time.Now())}}
		require.Equal(t, http.StatusAccepted, s.postDelivery(t, body, header).StatusCode())
	}
	courier("dlv_early", "shp_bogus", "delivered")
	s.waitTicket(t, id, "delivery_mismatch")

	s.pay(t, id, "completed")
	o := s.waitStatus(t, id, "awaiting_delivery")
	courier("dlv_other", "shp_someone_else", "delivered")
	courier("dlv_own", o.ShipmentID, "in_transit")
	if !poll(10*time.Millisecond, func() bool { return s.order(t, id).DeliveryStatus == "in_transit" }) {
		t.Fatal("the update about the order's own shipment was not applied")
	}
	// Updates of one order are handled in the order they came: the refused ones first.
	assert.Equal(t, "awaiting_delivery", s.order(t, id).Status)
	var tickets struct {
		Tickets []struct{ Kind, Reason string } `json:"tickets"`
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/support-tickets?orderId="+id, nil, operator(), &tickets))
	require.Len(t, tickets.Tickets, 1)
	assert.Contains(t, tickets.Tickets[0].Reason, `"shp_bogus" refused: the order is not paid`)
	_, events := s.raw(t, s.orders+"/api/orders/"+id+"/events", operator())
	assert.Contains(t, events, `\"shp_someone_else\" refused: the order's shipment is `+o.ShipmentID, "a comment on the ticket")
}
