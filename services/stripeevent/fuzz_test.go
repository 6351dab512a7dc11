package stripeevent_test

import (
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/services/stripeevent"
)

// FuzzStripeEvent reads any body, correctly signed, the way the payment webhook does:
// Is, then Construct (stripe-go's checks), then ReadRefund and Read. None may panic (an
// event of a handled type without data did); a refund names its payment and refund; what Read hands
// on names an order and is completed or failed; a failure names its reason.
func FuzzStripeEvent(f *testing.F) {
	obj := func(typ, data string) []byte {
		return []byte(`{"id":"evt_1","object":"event","type":"` + typ + `","api_version":"2020-08-27","data":{"object":` + data + `}}`)
	}
	cs := `{"id":"cs_1","object":"checkout.session","payment_status":"paid","amount_total":4200,"currency":"eur","client_reference_id":"ord-ref","metadata":{"order_id":"ord-1"},"payment_intent":"pi_1"}`
	for _, b := range [][]byte{
		obj("checkout.session.completed", cs),
		obj("checkout.session.completed", `{"id":"cs_1","payment_status":"unpaid","client_reference_id":"ord-2"}`),
		obj("checkout.session.async_payment_succeeded", `{"id":"cs_1","payment_intent":{"id":"pi_1"},"metadata":{}}`),
		obj("checkout.session.async_payment_failed", `{"id":"cs_1","metadata":{"order_id":""}}`),
		obj("checkout.session.expired", `"not an object"`),
		obj("payment_intent.payment_failed", `{"id":"pi_1","metadata":{"order_id":"ord-1"},"last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds"}}`),
		obj("payment_intent.payment_failed", `{"id":"pi_1","metadata":null,"last_payment_error":null}`),
		obj("charge.refunded", `{}`),
		obj("charge.refunded", `{"id":"ch_1","object":"charge","payment_intent":"pi_1","amount_refunded":100,"currency":"usd","refunded":false,"refunds":{"data":[{"id":"re_1"}]}}`),
		[]byte(`{"id":"evt_1","object":"event","type":"checkout.session.completed"}`),
		[]byte(`{"id":"evt_1","object":"event","type":"charge.refunded","data":null}`),
		[]byte(`{"object":"event"}`),
		[]byte(`{"object":"event","data":null}`),
		[]byte(`{"orderId":"ord-1","status":"completed"}`),
		[]byte(`not json`),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !stripeevent.Is(body) {
			return
		}
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now(), Scheme: "v1"})
		ev, err := stripeevent.Construct(body, signed.Header, secret)
		if err != nil {
			return
		}
		if r, ok, err := stripeevent.ReadRefund(ev); err == nil && ok && (r.PaymentID == "" || r.RefundID == "" || r.ID != ev.ID) {
			t.Fatalf("%s was read as refund %+v", body, r)
		}
		p, handled, err := stripeevent.Read(ev)
		if err != nil || !handled {
			return
		}
		switch {
		case p.OrderID == "":
			t.Fatalf("%s was handled without naming an order", body)
		case p.Status != payment.StatusCompleted && p.Status != payment.StatusFailed:
			t.Fatalf("%s was handled with status %q", body, p.Status)
		case p.Status == payment.StatusFailed && p.Reason == "":
			t.Fatalf("%s failed without a reason", body)
		case p.ID != ev.ID:
			t.Fatalf("%s was handed on as event %q", body, p.ID)
		}
	})
}
