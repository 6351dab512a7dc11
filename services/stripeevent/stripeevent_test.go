package stripeevent_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/services/stripeevent"
)

const secret = "whsec_stripeevent_test"

func event(t *testing.T, typ string, obj map[string]any) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"id": "evt_1", "object": "event", "type": typ, "api_version": "2020-08-27", "data": map[string]any{"object": obj}})
	require.NoError(t, err)
	return raw
}

func session(status string) map[string]any {
	return map[string]any{"id": "cs_1", "object": "checkout.session", "payment_status": status, "amount_total": 4200, "currency": "eur",
		"client_reference_id": "ord-ref", "metadata": map[string]string{"order_id": "ord-1"}, "payment_intent": "pi_1"}
}

// construct signs body as Stripe does and reads it back through Construct and Read.
func construct(t *testing.T, body []byte) (payment.Webhook, bool) {
	t.Helper()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now(), Scheme: "v1"})
	ev, err := stripeevent.Construct(body, signed.Header, secret)
	require.NoError(t, err, "an account on another API version is read all the same")
	p, handled, err := stripeevent.Read(ev)
	require.NoError(t, err)
	return p, handled
}

func TestReadMapsStripeEventsOntoTheWorkflow(t *testing.T) {
	completed := payment.Webhook{ID: "evt_1", OrderID: "ord-1", Status: payment.StatusCompleted, PaymentID: "pi_1", SessionID: "cs_1", Amount: 4200, Currency: "EUR"}
	failed := func(reason string) payment.Webhook {
		w := completed
		w.Status, w.Reason = payment.StatusFailed, reason
		return w
	}
	for _, c := range []struct {
		name    string
		body    []byte
		want    payment.Webhook
		handled bool
	}{
		{"paid", event(t, "checkout.session.completed", session("paid")), completed, true},
		{"completed but not paid yet", event(t, "checkout.session.completed", session("unpaid")), payment.Webhook{}, false},
		{"async paid", event(t, "checkout.session.async_payment_succeeded", session("paid")), completed, true},
		{"async failed", event(t, "checkout.session.async_payment_failed", session("unpaid")), failed(stripeevent.ReasonAsyncFailed), true},
		{"expired", event(t, "checkout.session.expired", session("unpaid")), failed(stripeevent.ReasonExpired), true},
		{"unhandled type", event(t, "charge.refunded", map[string]any{"id": "ch_1", "object": "charge"}), payment.Webhook{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, handled := construct(t, c.body)
			assert.Equal(t, c.handled, handled)
			if c.handled {
				assert.Equal(t, c.want, p)
			}
		})
	}
}

func TestReadTakesTheOrderFromMetadataThenTheClientReference(t *testing.T) {
	s := session("paid")
	delete(s, "metadata")
	p, handled := construct(t, event(t, "checkout.session.completed", s))
	assert.True(t, handled)
	assert.Equal(t, "ord-ref", p.OrderID)

	delete(s, "client_reference_id")
	_, handled = construct(t, event(t, "checkout.session.completed", s))
	assert.False(t, handled, "a session naming no order was not opened by Ordermill")
}

// A declined attempt ends nothing: Checkout keeps the session open for another, and it
// cancelled the order at the first decline, the customer's second try then refunded.
func TestAPaymentIntentFailureIsNotTheOrdersFailure(t *testing.T) {
	_, handled := construct(t, event(t, "payment_intent.payment_failed", map[string]any{
		"id": "pi_9", "object": "payment_intent", "metadata": map[string]string{"order_id": "ord-9"},
		"last_payment_error": map[string]any{"code": "card_declined", "decline_code": "insufficient_funds"},
	}))
	assert.False(t, handled)
}

func TestConstructRefusesAForgedOrStaleSignature(t *testing.T) {
	body := event(t, "checkout.session.completed", session("paid"))
	forged := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: "whsec_other", Timestamp: time.Now(), Scheme: "v1"})
	_, err := stripeevent.Construct(body, forged.Header, secret)
	assert.Error(t, err)
	stale := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now().Add(-10 * time.Minute), Scheme: "v1"})
	_, err = stripeevent.Construct(body, stale.Header, secret)
	assert.Error(t, err)
	assert.True(t, stripeevent.Is(body))
	assert.False(t, stripeevent.Is([]byte(`{"orderId":"o","status":"completed"}`)))
}

func TestReadRefundReadsAChargeRefunded(t *testing.T) {
	charge := func(refunded bool, amount int64, refunds any) map[string]any {
		return map[string]any{"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 4200, "amount_refunded": amount,
			"currency": "eur", "refunded": refunded, "refunds": refunds}
	}
	read := func(body []byte) (payment.RefundReport, bool) {
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now(), Scheme: "v1"})
		ev, err := stripeevent.Construct(body, signed.Header, secret)
		require.NoError(t, err)
		r, ok, err := stripeevent.ReadRefund(ev)
		require.NoError(t, err)
		return r, ok
	}
	r, ok := read(event(t, "charge.refunded", charge(true, 4200, nil)))
	require.True(t, ok)
	assert.Equal(t, payment.RefundReport{ID: "evt_1", PaymentID: "pi_1", RefundID: "ch_1", Amount: 4200, Currency: "EUR", Full: true}, r,
		"without its refunds, the charge names the refund; the order is found by the payment")

	r, ok = read(event(t, "charge.refunded", charge(false, 1000, map[string]any{"object": "list", "data": []map[string]any{{"id": "re_2"}, {"id": "re_1"}}})))
	require.True(t, ok)
	assert.Equal(t, payment.RefundReport{ID: "evt_1", PaymentID: "pi_1", RefundID: "re_2", Amount: 1000, Currency: "EUR"}, r, "the latest refund, in part")

	noIntent := charge(true, 4200, nil)
	delete(noIntent, "payment_intent")
	_, ok = read(event(t, "charge.refunded", noIntent))
	assert.False(t, ok, "a charge made without a payment intent was not made through Ordermill's Checkout")
	_, ok = read(event(t, "checkout.session.completed", session("paid")))
	assert.False(t, ok)
}

// An event of a type the workflow acts on that carries no data is refused; it panicked
// (500) before, and a null object was answered 200 ignored.
func TestAHandledEventWithoutDataIsRefused(t *testing.T) {
	for _, typ := range []string{"checkout.session.completed", "checkout.session.expired", "charge.refunded"} {
		for _, body := range []string{`{"id":"evt_1","object":"event","type":"` + typ + `"}`, `{"id":"evt_1","object":"event","type":"` + typ + `","data":null}`,
			`{"id":"evt_1","object":"event","type":"` + typ + `","data":{"object":null}}`} {
			signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: secret, Timestamp: time.Now(), Scheme: "v1"})
			ev, err := stripeevent.Construct([]byte(body), signed.Header, secret)
			require.NoError(t, err)
			_, _, err = stripeevent.Read(ev)
			_, _, rerr := stripeevent.ReadRefund(ev)
			if typ == "charge.refunded" {
				err = rerr
			}
			assert.ErrorContains(t, err, "carries no data.object", body)
		}
	}
}

// A field of the wrong JSON type is told in JSON's terms: the refusal named a Go struct
// field and its Go type to the sender.
func TestAFieldOfTheWrongTypeIsToldInJSONTerms(t *testing.T) {
	bad := session("paid")
	bad["amount_total"] = "x"
	body := event(t, "checkout.session.completed", bad)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now(), Scheme: "v1"})
	ev, err := stripeevent.Construct(body, signed.Header, secret)
	require.NoError(t, err)
	_, _, err = stripeevent.Read(ev)
	require.EqualError(t, err, "the Checkout Session of checkout.session.completed: amount_total must be an integer within range")
}

// 15.259 KWD has no hundredths: read as 15.25 (rounded down), it paid a 15.25 KWD order.
// The payment now names no amount, which pays no order (a payment_mismatch ticket, and
// refunded), and a refund of such an amount is refused.
func TestAnAmountOfNoWholeHundredthsPaysNothing(t *testing.T) {
	paid := session("paid")
	paid["amount_total"], paid["currency"] = 15259, "kwd"
	p, handled := construct(t, event(t, "checkout.session.completed", paid))
	require.True(t, handled, "the money was taken: the workflow must refuse it and give it back")
	assert.Equal(t, payment.StatusCompleted, p.Status)
	assert.Zero(t, p.Amount)
	assert.Equal(t, "KWD", p.Currency)

	body := event(t, "charge.refunded", map[string]any{"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 15259,
		"amount_refunded": 15259, "currency": "kwd", "refunded": true})
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now(), Scheme: "v1"})
	ev, err := stripeevent.Construct(body, signed.Header, secret)
	require.NoError(t, err)
	_, _, err = stripeevent.ReadRefund(ev)
	assert.EqualError(t, err, "charge.refunded: amount_refunded 15.259 KWD is a fraction of a hundredth, which Ordermill does not count")
}
