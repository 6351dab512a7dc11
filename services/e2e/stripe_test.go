package e2e

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/ordersclient"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/payments/stripemock"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// startWithStripe runs the system with the Stripe provider against stripe-mock.
func startWithStripe(t *testing.T, configure ...func(*options)) (*system, *stripemock.Server) {
	t.Helper()
	mock := stripemock.Start(t)
	opt := defaultOptions()
	for _, c := range configure {
		c(&opt)
	}
	opt.noSimulators = true
	opt.paymentProvider = payments.NewStripe(payments.StripeConfig{SecretKey: "sk_test_ordermill", APIBase: mock.URL, SuccessURL: "https://shop.example/paid"})
	return start(t, opt), mock
}

// stripeEvent is a Stripe Event object about obj, as Stripe posts it.
func stripeEvent(t *testing.T, id, typ string, obj map[string]any) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "api_version": "2025-01-27.acacia", "created": time.Now().Unix(),
		"livemode": false, "pending_webhooks": 1, "data": map[string]any{"object": obj},
	})
	require.NoError(t, err)
	return raw
}

// sendStripe posts a Stripe event signed as Stripe signs it and returns the status and answer.
func (s *system) sendStripe(t *testing.T, body []byte, secret string) (int, map[string]any) {
	t.Helper()
	res := s.postPayment(t, body, stripeSignature(body, secret))
	var answer map[string]any
	if len(res.Body) > 0 {
		require.NoError(t, json.Unmarshal(res.Body, &answer), "body: %s", res.Body)
	}
	return res.StatusCode(), answer
}

// stripeSignature is the Stripe-Signature header Stripe sends with body.
func stripeSignature(body []byte, secret string) http.Header {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now(), Scheme: "v1"})
	return http.Header{webhooksig.StripeHeader: {signed.Header}}
}

// checkoutSession is the Checkout Session Stripe reports for the order's recorded session.
func (s *system) checkoutSession(t *testing.T, id, paymentStatus string) map[string]any {
	t.Helper()
	o, err := s.recordedSession(t.Context(), id)
	require.NoError(t, err)
	return map[string]any{
		"id": o.PaymentSessionID, "object": "checkout.session", "mode": "payment", "status": "complete",
		"payment_status": paymentStatus, "amount_total": int64(math.Round(o.Total * 100)), "currency": strings.ToLower(o.Currency),
		"client_reference_id": id, "metadata": map[string]string{"order_id": id}, "payment_intent": "pi_" + strings.ReplaceAll(id, "-", ""),
	}
}

// Issue 13: real Stripe events at the payment webhook, verified with stripe-go, each
// mapped onto the workflow, with the session opened at Stripe (stripe-mock).
func TestStripeEventsDriveThePayment(t *testing.T) {
	s, mock := startWithStripe(t)
	place := func() string {
		// One customer per order: a customer ordering often is a risk factor.
		id := s.placeOrder(t, strings.Replace(lowRisk, `"c-1"`, `"c-`+uuid.NewString()+`"`, 1))
		s.waitStatus(t, id, "awaiting_payment")
		return id
	}
	// The cases share one system, whose helpers fail the whole test: they run in turn.
	run := func(name string, f func(t *testing.T)) {
		t.Logf("case: %s", name)
		f(t)
	}
	accepted := func(body []byte) {
		t.Helper()
		status, answer := s.sendStripe(t, body, paymentSecret)
		require.Equal(t, http.StatusAccepted, status, "%v", answer)
		assert.Equal(t, "accepted", answer["outcome"])
	}

	run("paid", func(t *testing.T) {
		id := place()
		paid := stripeEvent(t, "evt_paid_"+id, "checkout.session.completed", s.checkoutSession(t, id, "paid"))
		assert.Regexp(t, `^https://checkout\.stripe\.com/`, s.paymentURL(t, id), "the customer pays at Stripe")
		accepted(paid)
		o := s.waitStatus(t, id, "awaiting_delivery")
		assert.Equal(t, "pi_"+strings.ReplaceAll(id, "-", ""), o.PaymentID)

		status, answer := s.sendStripe(t, stripeEvent(t, "evt_paid_"+id, "checkout.session.completed", s.checkoutSession(t, id, "paid")), paymentSecret)
		assert.Equal(t, http.StatusOK, status, "the same event id again")
		assert.Equal(t, "duplicate", answer["outcome"])
	})
	run("async paid", func(t *testing.T) {
		id := place()
		status, answer := s.sendStripe(t, stripeEvent(t, "evt_unpaid_"+id, "checkout.session.completed", s.checkoutSession(t, id, "unpaid")), paymentSecret)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, "ignored", answer["outcome"], "a completed checkout whose money has not arrived yet pays nothing")
		assert.Equal(t, "awaiting_payment", s.order(t, id).Status)
		accepted(stripeEvent(t, "evt_async_"+id, "checkout.session.async_payment_succeeded", s.checkoutSession(t, id, "paid")))
		s.waitStatus(t, id, "awaiting_delivery")
	})
	// A session that ran out unpaid is the time to pay over (timed_out), not a payment that
	// failed: expiring it, the payment deadline sets Stripe's report off itself.
	for name, c := range map[string]struct{ typ, reason string }{
		"async failed": {"checkout.session.async_payment_failed", "payment_failed"},
		"expired":      {"checkout.session.expired", "timed_out"},
	} {
		run(name, func(t *testing.T) {
			id := place()
			accepted(stripeEvent(t, "evt_"+strings.ReplaceAll(name, " ", "_")+"_"+id, c.typ, s.checkoutSession(t, id, "unpaid")))
			o := s.waitStatus(t, id, "cancelled")
			assert.Equal(t, c.reason, o.CancelReason)
		})
	}
	run("payment intent failed", func(t *testing.T) {
		// A declined card is one attempt: Checkout keeps the session open, and the customer
		// pays with another card. It cancelled the order at the first decline, and the
		// second card's payment was then refunded.
		id := place()
		status, answer := s.sendStripe(t, stripeEvent(t, "evt_pi_failed_"+id, "payment_intent.payment_failed", map[string]any{
			"id": "pi_declined", "object": "payment_intent", "amount": 10000, "currency": "usd", "status": "requires_payment_method",
			"metadata":           map[string]string{"order_id": id},
			"last_payment_error": map[string]any{"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"},
		}), paymentSecret)
		require.Equal(t, http.StatusOK, status, "%v", answer)
		assert.Equal(t, "ignored", answer["outcome"])
		accepted(stripeEvent(t, "evt_paid_"+id, "checkout.session.completed", s.checkoutSession(t, id, "paid")))
		o := s.waitStatus(t, id, "awaiting_delivery")
		assert.Empty(t, o.CancelReason)
		assert.Empty(t, mock.Requests("/v1/checkout/sessions/"+o.PaymentSessionID+"/expire"), "the session was left open")
	})
	run("amount mismatch", func(t *testing.T) {
		id := place()
		cs := s.checkoutSession(t, id, "paid")
		cs["amount_total"] = 1
		accepted(stripeEvent(t, "evt_cheap_"+id, "checkout.session.completed", cs))
		s.waitTicket(t, id, "payment_mismatch")
		assert.Equal(t, "awaiting_payment", s.order(t, id).Status)
	})
	run("unknown session", func(t *testing.T) {
		id := place()
		cs := s.checkoutSession(t, id, "paid")
		cs["id"] = "cs_test_not_this_orders"
		accepted(stripeEvent(t, "evt_other_session_"+id, "checkout.session.completed", cs))
		s.waitTicket(t, id, "payment_mismatch")
		assert.Equal(t, "awaiting_payment", s.order(t, id).Status, "another session pays nothing")

		foreign := s.checkoutSession(t, id, "paid")
		delete(foreign, "client_reference_id")
		delete(foreign, "metadata")
		status, answer := s.sendStripe(t, stripeEvent(t, "evt_foreign_"+id, "checkout.session.completed", foreign), paymentSecret)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "ignored", answer["outcome"], "a session Ordermill did not open is not ours")

		nobody := s.checkoutSession(t, id, "paid")
		nobody["metadata"] = map[string]string{"order_id": uuid.NewString()}
		status, answer = s.sendStripe(t, stripeEvent(t, "evt_nobody_"+id, "checkout.session.completed", nobody), paymentSecret)
		// Ordermill opens sessions only for orders it has recorded: this one is another
		// integration's (a Payment Link's client_reference_id). It is kept in the inbox but
		// answered 200; a 404 would have Stripe retry it for days and then disable the
		// endpoint, Ordermill's own payments with it.
		assert.Equal(t, http.StatusOK, status, "%v", answer)
		assert.Equal(t, "unknown_order", answer["outcome"], "kept in the inbox, as for any webhook")
	})
	run("unhandled type", func(t *testing.T) {
		status, answer := s.sendStripe(t, stripeEvent(t, "evt_customer", "customer.created", map[string]any{"id": "cus_1", "object": "customer"}), paymentSecret)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "ignored", answer["outcome"])
	})
	run("malformed event", func(t *testing.T) {
		status, answer := s.sendStripe(t, []byte(`{"object": "event", "id": 42, "type": "checkout.session.completed"}`), paymentSecret)
		assert.Equal(t, http.StatusBadRequest, status, "%v", answer)
	})
	run("bad signature", func(t *testing.T) {
		id := place()
		status, _ := s.sendStripe(t, stripeEvent(t, "evt_forged_"+id, "checkout.session.completed", s.checkoutSession(t, id, "paid")), "whsec_someone_else")
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, "awaiting_payment", s.order(t, id).Status)
	})

	for _, call := range mock.Requests("/v1/checkout/sessions") {
		if call.Path != "/v1/checkout/sessions" {
			continue // a session's expiry, checked above
		}
		assert.Equal(t, http.StatusOK, call.Status)
		assert.Equal(t, payments.SessionIdempotencyKey(call.Form.Get("client_reference_id")), call.IdempotencyKey)
		assert.Equal(t, "2", call.Form.Get("line_items[0][quantity]"))
		assert.Equal(t, "5000", call.Form.Get("line_items[0][price_data][unit_amount]"))
	}
}

// Ordermill counts every amount in hundredths of its currency; Stripe counts yen whole.
// A 7,200 JPY order is charged 7,200 at Stripe and paid by Stripe's report of 7,200: sent
// unconverted, it was charged 720,000 JPY, and the report of that paid the order.
func TestAZeroDecimalCurrencyIsChargedInStripesUnit(t *testing.T) {
	s, mock := startWithStripe(t)
	_, err := s.db.Exec(t.Context(), `UPDATE warehouse.stock SET currency = 'JPY', price = 240000 WHERE sku = 'SKU-020'`)
	require.NoError(t, err)
	id := s.placeOrder(t, `{"items":[{"sku":"SKU-020","quantity":3}],"total":7200,"currency":"JPY","customerId":"c-yen","customerEmail":"yen@example.com"}`)
	_, err = s.recordedSession(t.Context(), id)
	require.NoError(t, err)
	var opened []string
	for _, call := range mock.Requests("/v1/checkout/sessions") {
		if call.Form.Get("client_reference_id") == id {
			opened = append(opened, call.Form.Get("currency")+" "+call.Form.Get("line_items[0][quantity]")+" x "+call.Form.Get("line_items[0][price_data][unit_amount]"))
		}
	}
	assert.Equal(t, []string{"jpy 3 x 2400"}, opened, "2,400 yen a unit, in yen")

	cs := s.checkoutSession(t, id, "paid")
	cs["amount_total"] = int64(720000) // what an unconverted session charged
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_hundredfold_"+id, "checkout.session.completed", cs), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitTicket(t, id, "payment_mismatch")
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status, "720,000 JPY is not the order's 7,200")

	cs = s.checkoutSession(t, id, "paid")
	cs["amount_total"], cs["payment_intent"] = int64(7200), "pi_yen_"+strings.ReplaceAll(id, "-", "")
	status, _ = s.sendStripe(t, stripeEvent(t, "evt_paid_"+id, "checkout.session.completed", cs), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, id, "awaiting_delivery")
}

// paymentURL is the payment link the order shows.
func (s *system) paymentURL(t *testing.T, id string) string {
	t.Helper()
	var o struct {
		PaymentURL string `json:"paymentUrl"`
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/orders/"+id, nil, operator(), &o))
	return o.PaymentURL
}

// Issue 13: money Stripe takes for an order cancelled meanwhile is refunded through the
// Refund API, once, however often Stripe reports the payment; the refund is an order
// event and the payment_after_cancel ticket records it.
func TestALatePaymentIsRefundedOnce(t *testing.T) {
	s, mock := startWithStripe(t)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	mock.PaymentIntent("pi_"+strings.ReplaceAll(id, "-", ""), id)
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_expired_"+id, "checkout.session.expired", s.checkoutSession(t, id, "unpaid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, id, "cancelled")

	// The customer paid anyway; Stripe reports it, again, and then once more by another event.
	paid := stripeEvent(t, "evt_late_"+id, "checkout.session.completed", s.checkoutSession(t, id, "paid"))
	status, _ = s.sendStripe(t, paid, paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	status, _ = s.sendStripe(t, paid, paymentSecret)
	require.Equal(t, http.StatusOK, status, "the same event again is a duplicate")
	status, _ = s.sendStripe(t, stripeEvent(t, "evt_late_async_"+id, "checkout.session.async_payment_succeeded", s.checkoutSession(t, id, "paid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "another event about the same payment reaches the workflow")
	s.waitTicket(t, id, "payment_after_cancel")

	// Barriers, so that "once" is not just "not yet": the workflow takes webhooks in order,
	// so once a later order is paid, it has handled every event above (and sent any refund
	// command they caused); the payment service takes its commands in order, so once a
	// third order's session is open, it has handled those refund commands.
	later := s.placeOrder(t, strings.Replace(lowRisk, `"c-1"`, `"c-later"`, 1))
	s.waitStatus(t, later, "awaiting_payment")
	status, _ = s.sendStripe(t, stripeEvent(t, "evt_later_"+later, "checkout.session.completed", s.checkoutSession(t, later, "paid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, later, "awaiting_delivery")
	third := s.placeOrder(t, strings.Replace(lowRisk, `"c-1"`, `"c-third"`, 1))
	_, err := s.recordedSession(t.Context(), third)
	require.NoError(t, err)

	refunds := mock.Requests("/v1/refunds")
	require.Len(t, refunds, 1, "one refund at Stripe")
	pi := "pi_" + strings.ReplaceAll(id, "-", "")
	assert.Equal(t, pi, refunds[0].Form.Get("payment_intent"))
	assert.Equal(t, payments.RefundIdempotencyKey(pi), refunds[0].IdempotencyKey)

	assert.Regexp(t, `^payment `+pi+` completed for an order already cancelled: refunded as re_`, s.oneRefundTicket(t, id))
	assert.Equal(t, "cancelled", s.order(t, id).Status, "a refund changes no status")

	// Stripe then reports that refund as a refunded charge: it was Ordermill's, recorded already.
	status, answer := s.sendStripe(t, stripeEvent(t, "evt_charge_refunded_"+id, "charge.refunded", refundedCharge(pi, 100_00, true)), paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "%v", answer)
	s.oneRefundTicket(t, id)
}

// An order given up whose session Stripe shows paid when it is closed (the customer paid
// at the last moment; Stripe's webhook late, or never sent) is refunded all the same: the
// payment service records the session paid and tells the workflow. Before, it recorded
// A customer who paid at the last moment, whose payment Stripe's webhook never reports,
// is not cancelled and refunded at the deadline: the deadline closes the session first,
// Stripe shows it paid, and the payment pays the order (a probe: 40 customers who paid
// in time while the orders service was down were cancelled and refunded).
func TestASessionPaidBeforeItsDeadlinePaysTheOrderThoughItsReportIsLost(t *testing.T) {
	s, mock := startWithStripe(t, func(o *options) { o.workflow.PaymentTimeout = 2 * time.Second })
	id, cs := s.paidCheckout(t)
	pi := cs["payment_intent"].(string)
	// The customer paid at the last moment; Stripe's report of it is lost.
	mock.CheckoutSession(cs["id"].(string), "complete", "paid", pi)
	mock.SessionAmount(cs["id"].(string), 100_00, "usd")
	mock.PaymentIntent(pi, id)
	o := s.waitStatus(t, id, "awaiting_delivery")
	assert.Equal(t, pi, o.PaymentID)
	assert.Empty(t, mock.Requests("/v1/refunds"), "nothing refunded")
	require.NotEmpty(t, mock.Requests("/v1/checkout/sessions/"+cs["id"].(string)+"/expire"), "the deadline closed the session first")
}

// paidCheckout places a low-risk order and returns it, waiting for its payment, with the
// Checkout Session Stripe shows once the customer has paid it.
func (s *system) paidCheckout(t *testing.T) (string, map[string]any) {
	t.Helper()
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	return id, s.checkoutSession(t, id, "paid")
}

// refundedCharge is the charge Stripe reports refunded (charge.refunded), amount of it so far.
func refundedCharge(paymentIntent string, amount int64, full bool) map[string]any {
	return map[string]any{"id": "ch_" + strings.TrimPrefix(paymentIntent, "pi_"), "object": "charge", "payment_intent": paymentIntent,
		"amount": 100_00, "amount_refunded": amount, "currency": "usd", "refunded": full, "status": "succeeded"}
}

// namingOrder is charge with the order id Stripe copies into it from its payment
// intent's metadata (order_id).
func namingOrder(charge map[string]any, orderID string) map[string]any {
	charge["metadata"] = map[string]any{"order_id": orderID}
	return charge
}

// A refund made in Stripe's dashboard (charge.refunded) names no order: it is recorded on
// the order its payment intent paid, with a refunded_outside ticket for a person, and the
// order keeps its status. A refund of a payment no order records (another integration on
// the account) is ignored with a 200, so Stripe does not retry it for days.
func TestARefundMadeInStripesDashboardIsRecordedOnTheOrder(t *testing.T) {
	s, _ := startWithStripe(t)
	id, cs := s.paidCheckout(t)
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_paid_"+id, "checkout.session.completed", cs), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, id, "awaiting_delivery")

	pi := cs["payment_intent"].(string)
	refunded := stripeEvent(t, "evt_refunded_"+id, "charge.refunded", refundedCharge(pi, cs["amount_total"].(int64), true))
	status, answer := s.sendStripe(t, refunded, paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "%v", answer)
	assert.Equal(t, id, answer["orderId"], "the order found by the payment intent")
	s.waitTicket(t, id, "refunded_outside")
	assert.Regexp(t, `^payment `+pi+` refunded in full at the payment provider as ch_\w+, not by Ordermill, while the order is awaiting_delivery: decide whether it goes on$`,
		s.oneRefundTicket(t, id))
	assert.Equal(t, "awaiting_delivery", s.order(t, id).Status, "a refund changes no status: a person decides")

	status, answer = s.sendStripe(t, refunded, paymentSecret)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "duplicate", answer["outcome"])
	status, _ = s.sendStripe(t, stripeEvent(t, "evt_refunded_later_"+id, "charge.refunded", refundedCharge(pi, cs["amount_total"].(int64), true)), paymentSecret)
	assert.Equal(t, http.StatusAccepted, status)
	s.oneRefundTicket(t, id) // the payment's refund is recorded once

	status, answer = s.sendStripe(t, stripeEvent(t, "evt_refunded_other", "charge.refunded", refundedCharge("pi_of_another_integration", 500, true)), paymentSecret)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ignored", answer["outcome"])
}

// A refund Stripe reports before the payment it gives back (its events come in any order:
// the paid one retried while someone refunded in Stripe's dashboard) is recorded on the
// order the charge's metadata names, and the payment, when it is reported, pays nothing:
// the refund was answered ignored, and the order shipped on the refunded money (a probe).
func TestARefundReportedBeforeItsPaymentKeepsItFromPaying(t *testing.T) {
	s, _ := startWithStripe(t)
	id, cs := s.paidCheckout(t)
	pi := cs["payment_intent"].(string)

	charge := namingOrder(refundedCharge(pi, cs["amount_total"].(int64), true), id)
	status, answer := s.sendStripe(t, stripeEvent(t, "evt_refunded_"+id, "charge.refunded", charge), paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "%v", answer)
	assert.Equal(t, id, answer["orderId"], "the order the charge names")
	s.waitTicket(t, id, "refunded_outside")

	status, _ = s.sendStripe(t, stripeEvent(t, "evt_paid_"+id, "checkout.session.completed", cs), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitTicket(t, id, "payment_mismatch")
	o := s.order(t, id)
	assert.Equal(t, "awaiting_payment", o.Status, "the refunded payment does not pay the order")

	charge = namingOrder(refundedCharge("pi_of_another_integration", 500, true), "their-order-1")
	status, answer = s.sendStripe(t, stripeEvent(t, "evt_refunded_theirs", "charge.refunded", charge), paymentSecret)
	assert.Equal(t, http.StatusOK, status, "another integration's order: not retried for days")
	assert.Equal(t, "unknown_order", answer["outcome"])
	charge = namingOrder(charge, strings.Repeat("x", 200)) // Stripe takes 500
	status, answer = s.sendStripe(t, stripeEvent(t, "evt_refunded_theirs_long", "charge.refunded", charge), paymentSecret)
	assert.Equal(t, http.StatusOK, status, "an order id Ordermill could not have given names no order: %v", answer)
	assert.Equal(t, "ignored", answer["outcome"])
}

// A part of a payment refunded before the order records the payment is sent back, for
// Stripe to send again: recorded at once, it had the order refuse the whole payment and
// keep the rest when given up (the review). Sent again once the order is paid, it is a
// refund after payment: recorded, a ticket, the order goes on.
func TestAPartRefundedBeforeItsPaymentIsSentAgainLater(t *testing.T) {
	s, _ := startWithStripe(t)
	id, cs := s.paidCheckout(t)
	pi := cs["payment_intent"].(string)
	charge := namingOrder(refundedCharge(pi, 1_00, false), id)
	refunded := stripeEvent(t, "evt_part_"+id, "charge.refunded", charge)
	status, answer := s.sendStripe(t, refunded, paymentSecret)
	require.Equal(t, http.StatusConflict, status, "%v", answer)

	status, _ = s.sendStripe(t, stripeEvent(t, "evt_paid_"+id, "checkout.session.completed", cs), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, id, "awaiting_delivery")
	status, answer = s.sendStripe(t, refunded, paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "%v", answer)
	s.waitTicket(t, id, "refunded_outside")
	assert.Regexp(t, `refunded in part \(1\.00 USD so far\)`, s.oneRefundTicket(t, id))
	assert.Equal(t, "awaiting_delivery", s.order(t, id).Status, "the order goes on; a person decides")

	// Only an order that may yet record the payment waits for it: another integration's
	// order, or a part of another payment refunded on an order past its payment wait, was
	// answered 409 until Stripe gave up (the second review).
	theirs := namingOrder(refundedCharge("pi_of_another_integration", 1_00, false), "their-order-2")
	status, answer = s.sendStripe(t, stripeEvent(t, "evt_part_theirs", "charge.refunded", theirs), paymentSecret)
	assert.Equal(t, http.StatusOK, status, "%v", answer)
	assert.Equal(t, "unknown_order", answer["outcome"])
	second := namingOrder(refundedCharge("pi_second_"+strings.ReplaceAll(id, "-", ""), 1_00, false), id)
	status, answer = s.sendStripe(t, stripeEvent(t, "evt_part_second_"+id, "charge.refunded", second), paymentSecret)
	assert.Equal(t, http.StatusAccepted, status, "recorded on the paid order: %v", answer)
}

// A second payment Stripe reports for an order already paid (another payment intent) is
// money taken twice: it is refunded through the Refund API, recorded on the order, and the
// second_payment ticket says so; the order goes on as it was.
func TestASecondPaymentForAPaidOrderIsRefunded(t *testing.T) {
	s, mock := startWithStripe(t)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_paid_"+id, "checkout.session.completed", s.checkoutSession(t, id, "paid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, id, "awaiting_delivery")

	second := s.checkoutSession(t, id, "paid")
	second["payment_intent"] = "pi_second_" + strings.ReplaceAll(id, "-", "")
	mock.PaymentIntent(second["payment_intent"].(string), id)
	status, _ = s.sendStripe(t, stripeEvent(t, "evt_second_"+id, "checkout.session.async_payment_succeeded", second), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitTicket(t, id, "second_payment")

	refunds := mock.Requests("/v1/refunds")
	require.Len(t, refunds, 1, "one refund at Stripe")
	assert.Equal(t, second["payment_intent"], refunds[0].Form.Get("payment_intent"))
	assert.Regexp(t, `^payment pi_second_\w+ completed for an order already paid as pi_\w+: refunded as re_`, s.oneRefundTicket(t, id))
	assert.Equal(t, "awaiting_delivery", s.order(t, id).Status, "a refund changes no status")
}

// A completed payment the waiting order refuses (here for less than its total) pays for
// nothing: it is refunded at once, and the order keeps waiting for its own. Kept, it
// stayed taken when the order then timed out and was cancelled.
func TestARefusedPaymentIsRefunded(t *testing.T) {
	s, mock := startWithStripe(t)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	short := s.checkoutSession(t, id, "paid")
	short["amount_total"] = short["amount_total"].(int64) - 1
	mock.PaymentIntent(short["payment_intent"].(string), id)
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_short_"+id, "checkout.session.completed", short), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitTicket(t, id, "payment_mismatch")
	s.waitRefund(t, id)
	refunds := mock.Requests("/v1/refunds")
	require.Len(t, refunds, 1, "one refund at Stripe")
	assert.Equal(t, short["payment_intent"], refunds[0].Form.Get("payment_intent"))
	assert.Regexp(t, `^completed payment pi_\w+ refused: the payment is for`, s.oneRefundTicket(t, id))
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status, "the order waits for its own payment")
}

// A signed report that names another order's payment (a bug at whoever reports, or a
// signing secret in the wrong hands) gives nothing back: the order refuses the payment and
// asks for its refund, but Stripe says the intent was paid for the other order, so the
// payment service answers the refund command with its refusal, and the order gets a
// refund_refused ticket saying whose the payment is; the other order keeps its money.
// Before, the other order's payment was refunded while its goods shipped; then the
// command became a dead letter, with nothing on the order to say so.
func TestAReportNamingAnotherOrdersPaymentRefundsNothing(t *testing.T) {
	s, mock := startWithStripe(t)
	paid := s.placeOrder(t, lowRisk)
	s.waitStatus(t, paid, "awaiting_payment")
	theirs := s.checkoutSession(t, paid, "paid")
	mock.PaymentIntent(theirs["payment_intent"].(string), paid)
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_paid_"+paid, "checkout.session.completed", theirs), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, paid, "awaiting_delivery")

	id := s.placeOrder(t, strings.Replace(lowRisk, `"c-1"`, `"c-other"`, 1))
	s.waitStatus(t, id, "awaiting_payment")
	wrong := s.checkoutSession(t, id, "paid")
	wrong["payment_intent"] = theirs["payment_intent"]
	wrong["amount_total"] = wrong["amount_total"].(int64) - 1 // refused: not the order's amount
	status, _ = s.sendStripe(t, stripeEvent(t, "evt_wrong_"+id, "checkout.session.completed", wrong), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitTicket(t, id, "payment_mismatch")
	s.waitLag(t, "payments", s.payments)
	s.waitLag(t, "orders", s.orders)

	var dead int
	require.NoError(t, s.db.QueryRow(t.Context(), `SELECT count(*) FROM dead_letters`).Scan(&dead))
	assert.Zero(t, dead, "the refund command is answered, not left for an operator to find")
	s.waitTicket(t, id, "refund_refused")
	var tickets struct {
		Tickets []struct{ Kind, Reason string } `json:"tickets"`
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/support-tickets?orderId="+id, nil, operator(), &tickets))
	var refused []string
	for _, tk := range tickets.Tickets {
		if tk.Kind == "refund_refused" {
			refused = append(refused, tk.Reason)
		}
	}
	require.Len(t, refused, 1)
	assert.Contains(t, refused[0], theirs["payment_intent"].(string))
	assert.Contains(t, refused[0], "it was made for order "+paid)
	assert.Empty(t, mock.Requests("/v1/refunds"), "nothing refunded at Stripe")
	_, body := s.raw(t, s.orders+"/api/orders/"+paid+"/events", operator())
	assert.NotContains(t, body, `"order.payment_refunded.v1"`, "the paid order keeps its payment")
	assert.Equal(t, "awaiting_delivery", s.order(t, paid).Status)
}

// Money Stripe took for an order cancelled meanwhile whose charge the customer disputed
// (Stripe refuses its refund: charge_disputed) stayed taken, with nothing on the order to
// say so: the refund command was retried five times and dead-lettered. It is answered as
// a refusal for good now, and the order gets a refund_refused ticket in Stripe's words.
func TestARefundStripeRefusesForGoodOpensATicket(t *testing.T) {
	s, mock := startWithStripe(t)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	pi := "pi_" + strings.ReplaceAll(id, "-", "")
	mock.PaymentIntent(pi, id)
	mock.RefuseRefund(pi, stripemock.Refusal{Status: http.StatusBadRequest, Code: "charge_disputed",
		Message: "Charge ch_" + strings.ReplaceAll(id, "-", "") + " has been charged back; cannot issue a refund."})
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_expired_"+id, "checkout.session.expired", s.checkoutSession(t, id, "unpaid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, id, "cancelled")
	status, _ = s.sendStripe(t, stripeEvent(t, "evt_late_"+id, "checkout.session.completed", s.checkoutSession(t, id, "paid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)

	s.waitTicket(t, id, "refund_refused")
	var tickets struct {
		Tickets []struct{ Kind, Reason string } `json:"tickets"`
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/support-tickets?orderId="+id, nil, operator(), &tickets))
	require.NotEmpty(t, tickets.Tickets)
	var reason string
	for _, tk := range tickets.Tickets {
		if tk.Kind == "refund_refused" {
			reason = tk.Reason
		}
	}
	assert.Contains(t, reason, pi)
	assert.Contains(t, reason, "has been charged back; cannot issue a refund. (charge_disputed")
	assert.Contains(t, reason, "answer the dispute", "a disputed charge's money goes where its dispute decides")
	assert.NotContains(t, reason, "refund it by hand, or say")
	s.waitLag(t, "payments", s.payments)
	var dead int
	require.NoError(t, s.db.QueryRow(t.Context(), `SELECT count(*) FROM dead_letters`).Scan(&dead))
	assert.Zero(t, dead, "the refund command is answered, not left for an operator to find")
	_, body := s.raw(t, s.orders+"/api/orders/"+id+"/events", operator())
	assert.NotContains(t, body, `"order.payment_refunded.v1"`, "nothing was given back")
	s.verifyRebuild(t)
}

// A refund Stripe refuses until a person mends the cause (a balance too low) is
// dead-lettered, and made when the person re-drives it. Stripe keeps its first answer
// under an idempotency key for 24 h, refusals included: the re-drive asked under the same
// key, was answered with the same refusal, and was dead-lettered again, until a day later.
func TestARefundRefusedUntilTheBalanceIsToppedUpIsMadeWhenReDriven(t *testing.T) {
	s, mock := startWithStripe(t)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	pi := "pi_" + strings.ReplaceAll(id, "-", "")
	mock.PaymentIntent(pi, id)
	mock.Charge(pi, 100_00, 0, "usd")
	mock.RefuseRefund(pi, stripemock.Refusal{Status: http.StatusBadRequest, Code: "balance_insufficient",
		Message: "You have insufficient funds in your Stripe account for this refund."})
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_expired_"+id, "checkout.session.expired", s.checkoutSession(t, id, "unpaid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, id, "cancelled")
	status, _ = s.sendStripe(t, stripeEvent(t, "evt_late_"+id, "checkout.session.completed", s.checkoutSession(t, id, "paid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)

	var letter int64
	if !poll(10*time.Millisecond, func() bool {
		return s.db.QueryRow(t.Context(), `SELECT id FROM dead_letters WHERE consumer_group = 'payments' AND redriven_at IS NULL AND error LIKE '%insufficient funds%'`).Scan(&letter) == nil
	}) {
		t.Fatal("the refused refund was not dead-lettered")
	}
	mock.Mend(pi) // the balance topped up
	redriven, err := eventstore.Redrive(t.Context(), s.db, eventstore.RedriveFilter{ID: letter, By: "ops@example.com"})
	require.NoError(t, err)
	require.Len(t, redriven, 1)
	s.waitRefund(t, id)
	s.waitTicket(t, id, "payment_after_cancel")

	refunds := mock.Requests("/v1/refunds")
	made := refunds[len(refunds)-1]
	assert.Equal(t, http.StatusOK, made.Status)
	for _, refused := range refunds[:len(refunds)-1] {
		assert.Equal(t, http.StatusBadRequest, refused.Status)
		assert.NotEqual(t, made.IdempotencyKey, refused.IdempotencyKey, "no key Stripe refused under is asked again")
	}
	assert.Regexp(t, `^payment `+pi+` completed for an order already cancelled: refunded as re_`, s.oneRefundTicket(t, id))
	s.verifyRebuild(t)
}

// oneRefundTicket checks that the order records one refund and has one support ticket,
// and returns the ticket's reason.
func (s *system) oneRefundTicket(t *testing.T, id string) string {
	t.Helper()
	status, body := s.raw(t, s.orders+"/api/orders/"+id+"/events", operator())
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 1, strings.Count(body, `"order.payment_refunded.v1"`), "one refund recorded on the order: %s", body)
	var tickets struct {
		Tickets []struct{ Kind, Reason string } `json:"tickets"`
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/support-tickets?orderId="+id, nil, operator(), &tickets))
	require.Len(t, tickets.Tickets, 1)
	return tickets.Tickets[0].Reason
}

// Every refund Stripe reports of the order's payment is on the order, once: a part
// refunded in its dashboard, another part, then the rest (each a charge.refunded whose
// amount_refunded is the running total). Each is recorded as the part it gave back, so
// the order's refunds add up to what Stripe shows refunded, and the refunded_outside
// ticket tells a person of each. A report of a total the order has already (the event
// redelivered, or an older one arriving late) records nothing. Before, only the first
// was recorded, and the books said 30.00 refunded where Stripe said 100.00.
func TestEveryRefundStripeReportsOfAPaymentIsRecordedOnce(t *testing.T) {
	s, _ := startWithStripe(t)
	id, cs := s.paidCheckout(t)
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_paid_"+id, "checkout.session.completed", cs), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, id, "awaiting_delivery")
	pi, paid := cs["payment_intent"].(string), cs["amount_total"].(int64)
	require.Equal(t, int64(100_00), paid)

	for _, r := range []struct {
		event  string
		so     int64
		full   bool
		status int
	}{
		{"evt_part_1_" + id, 30_00, false, http.StatusAccepted},
		{"evt_part_2_" + id, 50_00, false, http.StatusAccepted}, // two parts in a row
		{"evt_part_2_" + id, 50_00, false, http.StatusOK},       // redelivered: a duplicate
		{"evt_full_" + id, paid, true, http.StatusAccepted},     // the rest
		{"evt_full_" + id, paid, true, http.StatusOK},
		{"evt_part_1_late_" + id, 30_00, false, http.StatusAccepted}, // an older total, arriving late
		{"evt_full_again_" + id, paid, true, http.StatusAccepted},    // the same total, another event
	} {
		status, answer := s.sendStripe(t, stripeEvent(t, r.event, "charge.refunded", refundedCharge(pi, r.so, r.full)), paymentSecret)
		require.Equal(t, r.status, status, "%s: %v", r.event, answer)
	}

	status, body := s.raw(t, s.orders+"/api/orders/"+id+"/events", operator())
	require.Equal(t, http.StatusOK, status)
	var history struct {
		Events []struct {
			Name string
			Data json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &history))
	var refunded []int64
	comments := 0
	for _, e := range history.Events {
		switch e.Name {
		case "order.payment_refunded.v1":
			var r struct {
				PaymentID string
				Amount    int64
			}
			require.NoError(t, json.Unmarshal(e.Data, &r))
			assert.Equal(t, pi, r.PaymentID)
			refunded = append(refunded, r.Amount)
		case "order.ticket_commented.v1":
			comments++
		}
	}
	assert.Equal(t, []int64{30_00, 20_00, 50_00}, refunded, "each refund once, as the part it gave back: %s", body)
	assert.Equal(t, 2, comments, "the ticket tells of the second and third refund")

	var o struct {
		Status  string
		Refunds []struct{ Amount float64 }
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/orders/"+id, nil, operator(), &o))
	assert.Equal(t, "awaiting_delivery", o.Status, "a refund changes no status: a person decides")
	given := 0.0
	for _, r := range o.Refunds {
		given += r.Amount
	}
	assert.InDelta(t, 100.00, given, 0.001, "the order's refunds add up to what Stripe refunded: %+v", o.Refunds)
	s.waitTicket(t, id, "refunded_outside")
	s.verifyRebuild(t)
}

// refundParts is what the order's refund events record, in order: each refund's payment,
// refund id, the part it gave back and, for a payment's further part, the total so far
// (minor units).
type refundPart struct {
	PaymentID, RefundID string
	Amount, Total       int64
}

func (s *system) refundParts(t *testing.T, id string) []refundPart {
	t.Helper()
	status, body := s.raw(t, s.orders+"/api/orders/"+id+"/events", operator())
	require.Equal(t, http.StatusOK, status)
	var history struct {
		Events []struct {
			Name string
			Data json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &history))
	var parts []refundPart
	for _, e := range history.Events {
		if e.Name == "order.payment_refunded.v1" {
			var p refundPart
			require.NoError(t, json.Unmarshal(e.Data, &p))
			parts = append(parts, p)
		}
	}
	return parts
}

// ticketReason is the reason of the order's ticket of kind, with its comments after it.
func (s *system) ticketReason(t *testing.T, id, kind string) string {
	t.Helper()
	var tickets struct {
		Tickets []struct{ Kind, Reason string } `json:"tickets"`
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/support-tickets?orderId="+id, nil, operator(), &tickets))
	for _, k := range tickets.Tickets {
		if k.Kind == kind {
			return k.Reason
		}
	}
	t.Fatalf("order %s has no %s ticket", id, kind)
	return ""
}

// A refund Ordermill asks for, of a payment a part of which was given back in Stripe's
// dashboard already, gives back the rest, once: the customer paid an order cancelled
// meanwhile, a person refunded 30.00 of the 100.00 at Stripe, and Stripe reported that
// before the payment. Before, the workflow took the payment for one refunded already and
// asked for nothing: 70.00 stayed with the shop, and only the refunded_outside ticket told
// a person. The refund asks Stripe for no amount (Stripe then gives back what is left)
// under the payment's key, and the order records it as the 70.00 it adds.
func TestARefundAskedForAfterAPartRefundedAtStripeGivesBackTheRest(t *testing.T) {
	s, mock := startWithStripe(t)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	pi := "pi_" + strings.ReplaceAll(id, "-", "")
	mock.PaymentIntent(pi, id)
	mock.Charge(pi, 100_00, 30_00, "usd")
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_expired_"+id, "checkout.session.expired", s.checkoutSession(t, id, "unpaid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, id, "cancelled")

	status, answer := s.sendStripe(t, stripeEvent(t, "evt_part_"+id, "charge.refunded", namingOrder(refundedCharge(pi, 30_00, false), id)), paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "%v", answer)
	s.waitTicket(t, id, "refunded_outside")
	status, _ = s.sendStripe(t, stripeEvent(t, "evt_late_"+id, "checkout.session.completed", s.checkoutSession(t, id, "paid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitTicket(t, id, "payment_after_cancel")

	refunds := mock.Requests("/v1/refunds")
	require.Len(t, refunds, 1, "one refund at Stripe")
	assert.Equal(t, pi, refunds[0].Form.Get("payment_intent"))
	assert.Empty(t, refunds[0].Form.Get("amount"), "no amount: Stripe gives back what is left")
	assert.Equal(t, payments.RefundIdempotencyKey(pi), refunds[0].IdempotencyKey)
	ours := stripeRefundID(t, refunds[0])

	parts := s.refundParts(t, id)
	require.Len(t, parts, 2, "%+v", parts)
	assert.Equal(t, refundPart{PaymentID: pi, RefundID: "ch_" + strings.TrimPrefix(pi, "pi_"), Amount: 30_00}, parts[0], "the part refunded in Stripe's dashboard")
	assert.Equal(t, refundPart{PaymentID: pi, RefundID: ours, Amount: 70_00, Total: 100_00}, parts[1], "Ordermill's refund of the rest")
	assert.Equal(t, "payment "+pi+" completed for an order already cancelled: refunded the rest, 70.00 USD, as "+ours+
		"; 30.00 USD of it was refunded at the payment provider before, not by Ordermill", s.ticketReason(t, id, "payment_after_cancel"))
	res, err := s.api.GetOrderWithResponse(t.Context(), id, ordersclient.WithHeaders(operator()))
	require.NoError(t, err)
	require.NotNil(t, res.JSON200, "status %d: %s", res.StatusCode(), res.Body)
	o, err := res.JSON200.AsOrder()
	require.NoError(t, err)
	require.NotNil(t, o.RefundedPayments)
	require.Len(t, *o.RefundedPayments, 1, "the payment once, its two refunds together")
	paid := (*o.RefundedPayments)[0]
	assert.Equal(t, pi, paid.PaymentId)
	assert.InDelta(t, 100.00, deref(paid.Amount), 0.001, "what Stripe shows refunded of it")
	assert.Equal(t, "USD", deref(paid.Currency))

	// Stripe then reports that refund (the whole payment refunded now): it was Ordermill's,
	// recorded already. The workflow takes a webhook as it answers it.
	status, answer = s.sendStripe(t, stripeEvent(t, "evt_rest_"+id, "charge.refunded", refundedCharge(pi, 100_00, true)), paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "%v", answer)
	assert.Len(t, s.refundParts(t, id), 2, "the order's refunds add up to what Stripe refunded, 100.00")
	assert.Len(t, mock.Requests("/v1/refunds"), 1)
	s.verifyRebuild(t)
}

// A payment Ordermill asks to refund that Stripe shows refunded in full already (a person
// gave it back in Stripe's dashboard, and Stripe's report of that is still on its way, or
// came while the refund was asked for, when it could have been Ordermill's own) has
// nothing left: Stripe is asked for no refund, and the order records the refund as
// Stripe's, once, with the payment_after_cancel ticket saying nothing was left. Before,
// Stripe refused the refund, the command was dead-lettered, and the order recorded
// nothing.
func TestARefundAskedForOfAPaymentRefundedInFullAtStripeAsksNothing(t *testing.T) {
	s, mock := startWithStripe(t)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	pi := "pi_" + strings.ReplaceAll(id, "-", "")
	mock.PaymentIntent(pi, id)
	mock.Charge(pi, 100_00, 100_00, "usd")
	status, _ := s.sendStripe(t, stripeEvent(t, "evt_expired_"+id, "checkout.session.expired", s.checkoutSession(t, id, "unpaid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitStatus(t, id, "cancelled")

	status, _ = s.sendStripe(t, stripeEvent(t, "evt_late_"+id, "checkout.session.completed", s.checkoutSession(t, id, "paid")), paymentSecret)
	require.Equal(t, http.StatusAccepted, status)
	s.waitTicket(t, id, "payment_after_cancel")
	assert.Empty(t, mock.Requests("/v1/refunds"), "nothing asked of Stripe")
	charge := "ch_" + strings.TrimPrefix(pi, "pi_")
	assert.Equal(t, []refundPart{{PaymentID: pi, RefundID: charge, Amount: 100_00}}, s.refundParts(t, id))
	assert.Equal(t, "payment "+pi+" completed for an order already cancelled: nothing left to refund, it was refunded in full (100.00 USD) "+
		"at the payment provider already, not by Ordermill", s.ticketReason(t, id, "payment_after_cancel"))

	status, answer := s.sendStripe(t, stripeEvent(t, "evt_refunded_"+id, "charge.refunded", namingOrder(refundedCharge(pi, 100_00, true), id)), paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "%v", answer)
	assert.Len(t, s.refundParts(t, id), 1, "Stripe's report of it records nothing more")
	var dead int
	require.NoError(t, s.db.QueryRow(t.Context(), `SELECT count(*) FROM dead_letters`).Scan(&dead))
	assert.Zero(t, dead)
	s.verifyRebuild(t)
}

// stripeRefundID is the id of the refund object stripe-mock answered call with.
func stripeRefundID(t *testing.T, call stripemock.Request) string {
	t.Helper()
	var re struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(call.Response, &re), "%s", call.Response)
	return re.ID
}
