package sagas_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/sagas"
)

// BenchmarkHandleOneMessage measures the saga handling one message on its own, in a
// transaction: lock the order's saga row, load the order (its snapshot), decide, carry
// the effects out (append InventoryReserved with its snapshot, record the confirmation
// email, send the payment command, arm the payment deadline), save the state. Each
// iteration is rolled back, so every one handles the same reply.
func BenchmarkHandleOneMessage(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	at := time.Now().UTC().Truncate(time.Microsecond)
	o := &order.Order{ID: "bench-1"}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		events, err := o.Place(order.PlaceOrder{OrderID: o.ID, CustomerEmail: "c@example.com",
			Items: []order.Item{{SKU: "SKU-001", Quantity: 1}}, Total: 1000, Currency: "USD", At: at})
		if err != nil {
			return err
		}
		if err := orderstream.Append(ctx, tx, o, eventstore.Metadata{}, events...); err != nil {
			return err
		}
		events, err = o.AssessRisk(10, nil, 70, at.Add(time.Hour), at)
		if err != nil {
			return err
		}
		return orderstream.Append(ctx, tx, o, eventstore.Metadata{}, events...)
	})
	if err != nil {
		b.Fatal(err)
	}
	reply, err := json.Marshal(inventory.Reserved{OrderID: o.ID, ReservationID: "r-1", Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	runner := sagas.NewRunner(sagas.ProcessOrder, sagas.DefaultConfig(), &emails{}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	msg := sagas.Message{Name: inventory.ReservedName, ID: "m-1", Payload: reply}
	meta := eventstore.Metadata{CorrelationID: o.ID, Actor: "saga"}
	for b.Loop() {
		tx, err := pool.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := runner.Handle(ctx, tx, o.ID, msg, meta); err != nil {
			b.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
