package shipping_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/shipping"
)

// FuzzMessages decodes any body as the delivery contract's command and the courier's
// webhook, as the delivery service and the orders service do: no panic, and a refusal
// is always the sender's 400, never an internal error.
func FuzzMessages(f *testing.F) {
	for _, s := range []string{
		`{"orderId":"o1","address":{"name":"Ann","line1":"1 Road","city":"Paris","postalCode":"75001","country":"FR"},"lines":[{"sku":"MUG","quantity":1}]}`,
		`{"orderId":"o1","lines":[{"sku":"","quantity":0}]}`,
		`{"orderId":"o1","lines":[{"sku":"A","quantity":-9223372036854775808}],"address":{}}`,
		`{"id":"d1","orderId":"o1","shipmentId":"s1","status":"delivered"}`,
		`{"orderId":"o1","status":"out for delivery!"}`,
		`{"orderId":"o1","status":"failed","reason":"` + "\u00e9" + `"}`,
		`null`, `{"lines":null}`, `{"address":null,"orderId":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		check := func(v interface{ Validate() error }) error {
			err := v.Validate()
			var ae *apperr.Error
			if err != nil && (!errors.As(err, &ae) || ae.Code != apperr.CodeInvalid) {
				t.Fatalf("%T.Validate(%s) = %v, want an invalid-input error", v, raw, err)
			}
			return err
		}
		var c shipping.CreateShipment
		if json.Unmarshal(raw, &c) == nil && check(c) == nil {
			if len(c.Lines) == 0 {
				t.Fatalf("a shipment without lines passed Validate: %s", raw)
			}
			for _, l := range c.Lines {
				if l.Quantity <= 0 || l.SKU == "" {
					t.Fatalf("line %+v passed Validate: %s", l, raw)
				}
			}
		}
		var w shipping.Webhook
		if json.Unmarshal(raw, &w) == nil {
			check(w)
		}
	})
}
