package order

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

// placedV1 is an order.placed.v1 payload as the code before version 2 wrote it.
const placedV1 = `{"orderId":"o-1","customerId":"c-1","customerEmail":"ann@example.com","newCustomer":true,` +
	`"items":[{"sku":"A","quantity":2,"unitPrice":250},{"sku":"B","quantity":1}],"total":700,"currency":"EUR",` +
	`"shippingAddress":{"name":"Ann","line1":"1 Rue","city":"Paris","postalCode":"75001","country":"FR"},` +
	`"placedAt":"2025-03-01T12:00:00Z"}`

func placedV2() *OrderPlaced {
	price := Cents(250)
	return &OrderPlaced{
		OrderID: "o-1", CustomerID: "c-1", CustomerEmail: "ann@example.com", NewCustomer: true,
		Items:           []Item{{SKU: "A", Quantity: 2, UnitPrice: &price}, {SKU: "B", Quantity: 1}},
		Total:           Money{Amount: 700, Currency: "EUR"},
		ShippingAddress: &Address{Name: "Ann", Line1: "1 Rue", City: "Paris", PostalCode: "75001", Country: "FR"},
		PlacedAt:        t0,
	}
}

// A v1 event is read as the v2 event carrying the same order, so the aggregate folds
// a v1 stream into the state the equivalent v2 stream gives.
func TestDecodeUpcastsOrderPlacedV1(t *testing.T) {
	got, err := Decode(NameOrderPlacedV1, []byte(placedV1))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, placedV2()) {
		t.Fatalf("upcast v1\n got %#v\nwant %#v", got, placedV2())
	}
	if got.EventName() != NameOrderPlaced {
		t.Fatalf("an upcast event is named %q, want %q", got.EventName(), NameOrderPlaced)
	}
	if a, b := Rehydrate([]Event{got}), Rehydrate([]Event{placedV2()}); !reflect.DeepEqual(a, b) || a.Total != 700 || a.Currency != "EUR" {
		t.Fatalf("v1 stream folds to %+v, v2 stream to %+v", a, b)
	}
	if _, err := Decode(NameOrderPlacedV1, []byte(`{"total":"x"}`)); err == nil {
		t.Fatal("a malformed v1 payload must fail to decode")
	}
}

// Upcast gives a v1 envelope the current name and the v2 payload; current events and
// other messages pass unchanged.
func TestUpcast(t *testing.T) {
	name, payload, err := Upcast(NameOrderPlacedV1, []byte(placedV1))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"orderId":"o-1","customerId":"c-1","customerEmail":"ann@example.com","newCustomer":true,` +
		`"items":[{"sku":"A","quantity":2,"unitPrice":250},{"sku":"B","quantity":1}],"total":{"amount":700,"currency":"EUR"},` +
		`"shippingAddress":{"name":"Ann","line1":"1 Rue","city":"Paris","postalCode":"75001","country":"FR"},` +
		`"placedAt":"2025-03-01T12:00:00Z"}`
	if name != NameOrderPlaced || string(payload) != want {
		t.Fatalf("Upcast(v1) = %s %s, want %s %s", name, payload, NameOrderPlaced, want)
	}
	for _, n := range []string{NameOrderPlaced, NameOrderCancelled, "webhook.payment.v1"} {
		name, payload, err := Upcast(n, []byte(`{"x":1}`))
		if err != nil || name != n || string(payload) != `{"x":1}` {
			t.Fatalf("Upcast(%s) = %s %s %v, want it unchanged", n, name, payload, err)
		}
	}
}

func TestStoredNames(t *testing.T) {
	if got := StoredNames(NameOrderPlaced); !slices.Equal(got, []string{"order.placed.v1", "order.placed.v2"}) {
		t.Fatalf("StoredNames(placed) = %v", got)
	}
	if got := StoredNames(NameOrderCancelled); !slices.Equal(got, []string{NameOrderCancelled}) {
		t.Fatalf("StoredNames(cancelled) = %v", got)
	}
}

// reservationFailedBeforeSKU is an order.reservation_failed.v1 payload as the code before
// the event kept the short SKU wrote it.
const reservationFailedBeforeSKU = `{"reason":"insufficient stock for A: requested 2, available 0","at":"2025-03-01T12:00:00Z"}`

// ReservationFailed gained an optional SKU under the same name (an added field whose zero
// means what the old event meant: the warehouse named no SKU). An event written before it
// loads as it did, and one without a SKU is still written as it was.
func TestReservationFailedWithoutSKUStillLoads(t *testing.T) {
	got, err := Decode(NameReservationFailed, []byte(reservationFailedBeforeSKU))
	if err != nil {
		t.Fatal(err)
	}
	want := &ReservationFailed{Reason: "insufficient stock for A: requested 2, available 0", At: t0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n got %#v\nwant %#v", got, want)
	}
	o := Rehydrate([]Event{placedV2(), got})
	if o.ReservationFailed != want.Reason || o.ReservationFailedSKU != "" || o.Version != 2 {
		t.Fatalf("an old ReservationFailed folds to %+v", o)
	}
	if b, err := json.Marshal(*want); err != nil || string(b) != reservationFailedBeforeSKU {
		t.Fatalf("ReservationFailed without a SKU is written as %s (%v), want %s", b, err, reservationFailedBeforeSKU)
	}
	if b, err := json.Marshal(ReservationFailed{Reason: "r", SKU: "A", At: t0}); err != nil || string(b) != `{"reason":"r","sku":"A","at":"2025-03-01T12:00:00Z"}` {
		t.Fatalf("ReservationFailed with a SKU is written as %s (%v)", b, err)
	}
}
