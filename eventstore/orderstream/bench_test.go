package orderstream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// completedOrder stores an order through its whole happy path (12 events, as in the
// workflow) and returns its id.
func completedOrder(b *testing.B, ctx context.Context, tx pgx.Tx, id string) {
	b.Helper()
	steps := []func(o *order.Order) ([]order.Event, error){
		func(o *order.Order) ([]order.Event, error) {
			return o.Place(order.PlaceOrder{OrderID: id, CustomerID: "c", CustomerEmail: "c@example.com",
				Items: []order.Item{{SKU: "SKU-001", Quantity: 1}}, Total: 1000, Currency: "USD", At: at})
		},
		func(o *order.Order) ([]order.Event, error) { return o.AssessRisk(10, nil, 70, at.Add(time.Hour), at) },
		func(o *order.Order) ([]order.Event, error) { return o.ReserveInventory("r", at) },
		func(o *order.Order) ([]order.Event, error) {
			return o.RecordPaymentSession(order.PaymentSession{ID: "s", URL: "http://pay/s", Amount: o.Total, Currency: o.Currency, Deadline: at.Add(time.Hour)}, at)
		},
		func(o *order.Order) ([]order.Event, error) {
			return o.CompletePayment("pi", order.Charge{SessionID: o.PaymentSessionID, Amount: o.Total, Currency: o.Currency}, at)
		},
		func(o *order.Order) ([]order.Event, error) { return o.CreateShipment("sh", "acme", "T", at) },
		func(o *order.Order) ([]order.Event, error) { return o.UpdateDelivery("delivered", "", at) },
		func(o *order.Order) ([]order.Event, error) { return o.Complete(at) },
	}
	o := &order.Order{ID: id}
	for _, step := range steps {
		if _, err := orderstream.UpdateLoaded(ctx, tx, o, eventstore.Metadata{}, step); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad measures one read of an order, as GET /api/orders/{id}, a saga step and
// the summary projection do it: from the snapshot (one row) against folding its events.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for i := range 100 {
			completedOrder(b, ctx, tx, fmt.Sprintf("o-%d", i))
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		load func(ctx context.Context, q eventstore.Querier, id string) (*order.Order, error)
	}{{"snapshot", orderstream.Load}, {"events", func(ctx context.Context, q eventstore.Querier, id string) (*order.Order, error) {
		h, err := orderstream.LoadHistory(ctx, q, id) // every event folded, the snapshot ignored
		return h.Order, err
	}}} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := c.load(ctx, pool, fmt.Sprintf("o-%d", i%100)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkDecideAndAppend measures one decision on a loaded order: the command, the
// events' insert with the snapshot, and the publish, in a transaction that commits.
func BenchmarkDecideAndAppend(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	n := 0
	for b.Loop() {
		id := fmt.Sprintf("a-%d", n)
		n++
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			o := &order.Order{ID: id}
			_, err := orderstream.DecideAndAppend(ctx, tx, o, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
				return o.Place(order.PlaceOrder{OrderID: id, Items: []order.Item{{SKU: "SKU-001", Quantity: 1}}, Total: 1000, Currency: "USD", At: at})
			})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
