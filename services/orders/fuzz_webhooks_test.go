package orders_test

import (
	"net/http"
	"testing"

	"github.com/ordermill/ordermill/services/webhooksig"
)

// webhookSeeds adds each body unsigned, signed correctly and with a broken header.
func webhookSeeds(f *testing.F, bodies ...string) {
	for _, b := range bodies {
		f.Add([]byte(b), "", true)
		f.Add([]byte(b), "", false)
		f.Add([]byte(b), "t=1,v1=00", false)
	}
}

func FuzzPaymentWebhook(f *testing.F) {
	fz := newFuzzOrders(f)
	obj := func(typ, data string) string {
		return `{"id":"evt_1","object":"event","type":"` + typ + `","api_version":"2020-08-27","data":{"object":` + data + `}}`
	}
	webhookSeeds(f,
		`{"id":"evt-1","orderId":"`+fuzzHeldOrder+`","status":"completed","paymentId":"pay-1","sessionId":"cs_1","amount":5000000,"currency":"USD"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":"failed","reason":"card_declined"}`,
		`{"orderId":"unknown-order","status":"completed"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":"maybe"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":"completed","amount":-5,"currency":"usd"}`,
		obj("checkout.session.completed", `{"id":"cs_1","payment_status":"paid","amount_total":5000000,"currency":"usd","metadata":{"order_id":"`+fuzzHeldOrder+`"},"payment_intent":"pi_1"}`),
		obj("payment_intent.payment_failed", `{"id":"pi_1","metadata":{"order_id":"`+fuzzHeldOrder+`"},"last_payment_error":{"code":"card_declined"}}`),
		obj("checkout.session.expired", `7`),
		obj("customer.created", `{}`),
		`{"object":"event","data":"x"}`, `[]`, ``,
	)
	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = webhooksig.SignStripe(body, fuzzPaymentSecret, fuzzNow)
		}
		h := map[string]string{}
		if header != "" {
			h[webhooksig.StripeHeader] = header
		}
		// A webhook for an order not (yet) known is kept in the inbox and answered 404, so
		// that the provider retries it; that one refusal writes its inbox row.
		status, changed := fz.serve(t, post("/webhooks/payment", body, h), "orders.webhook_inbox")
		if status >= 400 && len(changed) > 0 && status != http.StatusNotFound {
			t.Fatalf("a payment webhook refused with %d kept an inbox row", status)
		}
		if !sign && header == "" && status < 400 {
			t.Fatalf("an unsigned payment webhook was accepted outside dev mode: %d", status)
		}
	})
}

func FuzzDeliveryWebhook(f *testing.F) {
	fz := newFuzzOrders(f)
	webhookSeeds(f,
		`{"id":"d-1","orderId":"`+fuzzHeldOrder+`","shipmentId":"shp-1","status":"in_transit"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":"failed","reason":"address not found"}`,
		`{"orderId":"unknown-order","status":"delivered"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":"out for delivery"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":""}`,
		`{"orderId":5}`, `null`, ``,
	)
	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = webhooksig.SignCourier(body, fuzzCourierSecret, fuzzNow)
		}
		h := map[string]string{}
		if header != "" {
			h[webhooksig.CourierHeader] = header
		}
		status, changed := fz.serve(t, post("/webhooks/delivery", body, h), "orders.webhook_inbox")
		if status >= 400 && len(changed) > 0 && status != http.StatusNotFound {
			t.Fatalf("a delivery webhook refused with %d kept an inbox row", status)
		}
		if !sign && header == "" && status < 400 {
			t.Fatalf("an unsigned delivery webhook was accepted: %d", status)
		}
	})
}
