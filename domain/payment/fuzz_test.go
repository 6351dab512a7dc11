package payment_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"testing"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/payment"
)

// validated decodes raw as the service's consumers and HTTP edges do and validates it:
// neither may panic, and a refusal is always the sender's 400 (an apperr invalid), never
// an internal error.
func validated[T interface{ Validate() error }](t *testing.T, raw []byte) (T, bool) {
	var v T
	if json.Unmarshal(raw, &v) != nil {
		return v, false
	}
	err := v.Validate()
	var ae *apperr.Error
	if err != nil && (!errors.As(err, &ae) || ae.Code != apperr.CodeInvalid) {
		t.Fatalf("%T.Validate(%s) = %v, want an invalid-input error", v, raw, err)
	}
	return v, err == nil
}

// FuzzMessages decodes any body as each message of the payment contract, as the payment
// service's consumers and the orders service's webhook do.
func FuzzMessages(f *testing.F) {
	for _, s := range []string{
		`{"orderId":"o1","amount":100,"currency":"USD","customerEmail":"a@b.c","lines":[{"sku":"A","quantity":2,"unitPrice":50}]}`,
		`{"orderId":"o1","amount":1,"currency":"USD","lines":[{"sku":"A","quantity":2,"unitPrice":4611686018427387904},{"sku":"B","quantity":1,"unitPrice":1}]}`,
		`{"orderId":"o1","amount":-1,"currency":"usd"}`,
		`{"id":"evt_1","orderId":"o1","status":"completed","paymentId":"pi_1","sessionId":"cs_1","amount":4200,"currency":"EUR"}`,
		`{"orderId":" ","status":"failed","reason":"card_declined"}`,
		`{"orderId":"o1","paymentId":"pi_1","reason":"cancelled"}`,
		`{"orderId":1}`, `null`, `[]`, `{"lines":[null]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if c, ok := validated[payment.CreateSession](t, raw); ok {
			if c.Amount <= 0 || c.OrderID == "" {
				t.Fatalf("CreateSession %s passed Validate", raw)
			}
		}
		var c payment.CreateSession
		if json.Unmarshal(raw, &c) == nil && c.LinesMatch() {
			// Lines are shown as the bill only when they add up to the amount in exact
			// arithmetic: an overflowing product must not pass for the total.
			sum := new(big.Int)
			for _, l := range c.Lines {
				sum.Add(sum, new(big.Int).Mul(big.NewInt(l.Quantity), big.NewInt(l.UnitPrice)))
			}
			if sum.Cmp(big.NewInt(c.Amount)) != 0 {
				t.Fatalf("lines of %s add up to %s, not the amount %d, yet LinesMatch", raw, sum, c.Amount)
			}
		}
		if w, ok := validated[payment.Webhook](t, raw); ok {
			if w.Status != payment.StatusCompleted && w.Status != payment.StatusFailed {
				t.Fatalf("webhook status %q passed Validate", w.Status)
			}
		}
		validated[payment.Refund](t, raw)
	})
}
