package shipping_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/shipping"
)

func valid() shipping.CreateShipment {
	return shipping.CreateShipment{
		OrderID: "o1",
		Address: &shipping.Address{Name: "Ann", Line1: "1 Road", City: "Paris", PostalCode: "75001", Country: "FR"},
		Lines:   []shipping.Line{{SKU: "MUG", Quantity: 1}},
	}
}

func TestCreateShipmentValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*shipping.CreateShipment)
		field string
	}{
		{"valid", func(*shipping.CreateShipment) {}, ""},
		{"no address is fine, as orders accept none", func(c *shipping.CreateShipment) { c.Address = nil }, ""},
		{"blank order", func(c *shipping.CreateShipment) { c.OrderID = "" }, "orderId"},
		{"no lines", func(c *shipping.CreateShipment) { c.Lines = nil }, "lines"},
		{"blank sku", func(c *shipping.CreateShipment) { c.Lines = append(c.Lines, shipping.Line{Quantity: 1}) }, "lines[1].sku"},
		{"zero quantity", func(c *shipping.CreateShipment) { c.Lines[0].Quantity = 0 }, "lines[0].quantity"},
		{"too many units", func(c *shipping.CreateShipment) { c.Lines[0].Quantity = 10_001 }, "lines[0].quantity"},
		{"too many lines", func(c *shipping.CreateShipment) {
			for range 100 {
				c.Lines = append(c.Lines, shipping.Line{SKU: "MUG", Quantity: 1})
			}
		}, "lines"},
		{"long sku", func(c *shipping.CreateShipment) { c.Lines[0].SKU = strings.Repeat("S", 65) }, "lines[0].sku"},
		{"long order id", func(c *shipping.CreateShipment) { c.OrderID = strings.Repeat("o", 129) }, "orderId"},
		{"long address line", func(c *shipping.CreateShipment) { c.Address.Line2 = strings.Repeat("x", 201) }, "address.line2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := valid()
			c.edit(&cmd)
			err := cmd.Validate()
			if c.field == "" {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err))
			assert.Equal(t, c.field, apperr.ErrorField(err))
		})
	}
}

func TestWebhookValidate(t *testing.T) {
	assert.NoError(t, shipping.Webhook{OrderID: "o1", Status: shipping.StatusDelivered}.Validate())
	assert.NoError(t, shipping.Webhook{OrderID: "o1", Status: "picked_up"}.Validate(), "intermediate statuses pass")
	assert.Equal(t, "orderId", apperr.ErrorField(shipping.Webhook{Status: shipping.StatusFailed}.Validate()))
	assert.Equal(t, "status", apperr.ErrorField(shipping.Webhook{OrderID: "o1"}.Validate()))

	long := strings.Repeat("x", 129)
	delivered := shipping.Webhook{ID: "dlv_1", OrderID: "o1", ShipmentID: "shp_1", Status: shipping.StatusDelivered}
	for field, edit := range map[string]func(*shipping.Webhook){
		"id":         func(w *shipping.Webhook) { w.ID = long },
		"orderId":    func(w *shipping.Webhook) { w.OrderID = long },
		"shipmentId": func(w *shipping.Webhook) { w.ShipmentID = long },
		"status":     func(w *shipping.Webhook) { w.Status = strings.Repeat("s", 65) },
		"reason":     func(w *shipping.Webhook) { w.Reason = strings.Repeat("r", 1001) },
	} {
		wh := delivered
		edit(&wh)
		assert.Equal(t, field, apperr.ErrorField(wh.Validate()), field)
	}
}

// The JSON shapes are a contract with other services, so their field names are pinned here.
func TestWireFormat(t *testing.T) {
	b, err := json.Marshal(valid())
	assert.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"o1","address":{"name":"Ann","line1":"1 Road","city":"Paris","postalCode":"75001","country":"FR"},"lines":[{"sku":"MUG","quantity":1}]}`, string(b))
	b, err = json.Marshal(shipping.ShipmentCreated{OrderID: "o1", ShipmentID: "s", Carrier: "c", TrackingNumber: "t"})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"o1","shipmentId":"s","carrier":"c","trackingNumber":"t"}`, string(b))
	b, err = json.Marshal(shipping.ShipmentCreated{OrderID: "o1", ShipmentID: "s", Carrier: "c", TrackingNumber: "t", Address: valid().Address, Lines: valid().Lines})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"o1","shipmentId":"s","carrier":"c","trackingNumber":"t",`+
		`"address":{"name":"Ann","line1":"1 Road","city":"Paris","postalCode":"75001","country":"FR"},"lines":[{"sku":"MUG","quantity":1}]}`, string(b))
	b, err = json.Marshal(shipping.ShipmentRefused{OrderID: "o1", Reason: "r"})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"o1","reason":"r"}`, string(b))
	b, err = json.Marshal(shipping.ShipmentRefused{OrderID: "o1", ShipmentID: "s", Reason: "r"})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"o1","shipmentId":"s","reason":"r"}`, string(b))
	assert.Equal(t, "shipment-o1", shipping.StreamID("o1"))
	b, err = json.Marshal(shipping.CancelShipment{OrderID: "o1", Reason: "r"})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"o1","reason":"r"}`, string(b))
	b, err = json.Marshal(shipping.CancelShipment{OrderID: "o1", ShipmentID: "s", Reason: "r"})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"o1","shipmentId":"s","reason":"r"}`, string(b))
	b, err = json.Marshal(shipping.ShipmentCancelled{OrderID: "o1", ShipmentID: "s", Reason: "r"})
	assert.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"o1","shipmentId":"s","reason":"r"}`, string(b))
}

func TestCancelShipmentValidate(t *testing.T) {
	assert.NoError(t, shipping.CancelShipment{OrderID: "o1", Reason: "no such order"}.Validate())
	assert.Equal(t, "orderId", apperr.ErrorField(shipping.CancelShipment{Reason: "no such order"}.Validate()))
	assert.Equal(t, "orderId", apperr.ErrorField(shipping.CancelShipment{OrderID: ".."}.Validate()))
	assert.Equal(t, "reason", apperr.ErrorField(shipping.CancelShipment{OrderID: "o1", Reason: strings.Repeat("r", 1001)}.Validate()))
	assert.NoError(t, shipping.CancelShipment{OrderID: "o1", ShipmentID: "shp_1", Reason: "order cancelled"}.Validate())
	assert.Equal(t, "shipmentId", apperr.ErrorField(shipping.CancelShipment{OrderID: "o1", ShipmentID: strings.Repeat("s", 1001)}.Validate()))
}

// A shipment of the parcel a command asks for differs in nothing, however its lines are
// split or ordered and whatever spaces surround its address's parts, so that a command
// that comes again is answered with its own shipment; anything else is named.
func TestDifferences(t *testing.T) {
	same := valid()
	same.Lines = []shipping.Line{{SKU: "TEA", Quantity: 2}, {SKU: "MUG", Quantity: 1}, {SKU: "TEA", Quantity: 1}}
	asked := valid()
	asked.Lines = []shipping.Line{{SKU: "MUG", Quantity: 1}, {SKU: "TEA", Quantity: 3}}
	same.Address.Name, same.Address.City = " Ann", "Paris "
	assert.Nil(t, shipping.Differences(same, asked))
	assert.Nil(t, shipping.Differences(asked, asked))

	none := shipping.CreateShipment{OrderID: "o1", Lines: asked.Lines}
	assert.Nil(t, shipping.Differences(none, shipping.CreateShipment{OrderID: "o1", Address: &shipping.Address{Line2: " "}, Lines: asked.Lines}),
		"no address is one of empty parts")
	assert.Equal(t, []string{"address.name", "address.line1", "address.city", "address.postalCode", "address.country"},
		shipping.Differences(none, asked))

	other := valid()
	other.Lines = []shipping.Line{{SKU: "TEA", Quantity: 1}, {SKU: "CUP", Quantity: 4}}
	other.Address.Line2, other.Address.Country = "Flat 3", "fr"
	assert.Equal(t, []string{"CUP: 4 in the shipment, 0 asked", "MUG: 0 in the shipment, 1 asked", "TEA: 1 in the shipment, 3 asked",
		"address.line2", "address.country"}, shipping.Differences(other, asked))
}
