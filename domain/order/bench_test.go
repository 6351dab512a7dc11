package order_test

import (
	"testing"
	"time"

	"github.com/ordermill/ordermill/domain/order"
)

// BenchmarkDecideApply measures the pure part of an order's whole happy path: every
// command deciding on the current state and every event applied, with no I/O.
func BenchmarkDecideApply(b *testing.B) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for b.Loop() {
		o := &order.Order{}
		apply := func(events []order.Event, err error) {
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range events {
				o.Apply(e)
			}
		}
		apply(o.Place(order.PlaceOrder{OrderID: "o", Items: []order.Item{{SKU: "SKU-001", Quantity: 1}}, Total: 1000, Currency: "USD", At: at}))
		apply(o.AssessRisk(10, nil, 70, at.Add(time.Hour), at))
		apply(o.ReserveInventory("r", at))
		apply(o.RecordPaymentSession(order.PaymentSession{ID: "s", URL: "http://pay/s", Amount: 1000, Currency: "USD", Deadline: at.Add(time.Hour)}, at))
		apply(o.CompletePayment("pi", order.Charge{SessionID: "s", Amount: 1000, Currency: "USD"}, at))
		apply(o.CreateShipment("sh", "acme", "T", at))
		apply(o.UpdateDelivery("delivered", "", at))
		apply(o.Complete(at))
		if o.Status != order.StatusCompleted {
			b.Fatalf("ended %s", o.Status)
		}
	}
}
