package sagas_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/risk"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/sagas"
)

// Order velocity counts the customer's orders placed in either version of the event: a
// customer's orders from before order.placed.v2 still count. The partial index the count
// reads covers every stored name of the event.
func TestRecentOrdersCountsEveryVersionOfOrderPlaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	place := func(tx pgx.Tx, id string, at time.Time) *order.Order {
		o := &order.Order{ID: id}
		events, err := o.Place(order.PlaceOrder{OrderID: id, CustomerID: "c-1", Items: []order.Item{{SKU: "SKU-001", Quantity: 1}}, Total: 1000, At: at})
		require.NoError(t, err)
		require.NoError(t, orderstream.Append(ctx, tx, o, eventstore.Metadata{}, events...))
		return o
	}
	var o *order.Order
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		err := eventstore.Import(ctx, tx, []eventstore.Recorded{{
			StreamID: "o-v1", StreamType: orderstream.StreamType, Version: 1, Name: order.NameOrderPlacedV1, RecordedAt: at.Add(-10 * time.Minute),
			Payload: []byte(`{"orderId":"o-v1","customerId":"c-1","items":[{"sku":"SKU-001","quantity":1}],"total":1000,"currency":"USD","placedAt":"2026-03-02T08:50:00Z"}`),
		}})
		require.NoError(t, err)
		place(tx, "o-v2", at.Add(-5*time.Minute))
		o = place(tx, "o-now", at)
		return nil
	}))
	n, err := sagas.RecentOrders(ctx, pool, o, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the v1 and the v2 order of the customer")

	var def string
	require.NoError(t, pool.QueryRow(ctx, `SELECT indexdef FROM pg_indexes WHERE indexname = 'events_placed_by_customer'`).Scan(&def))
	for _, name := range order.StoredNames(order.NameOrderPlaced) {
		assert.Contains(t, def, "'"+name+"'", "the index covers %s", name)
	}
}

// A customer's recent orders are counted up to risk.RecentOrdersCounted and no further:
// one who orders thousands of times an hour does not make each placement read them all.
func TestRecentOrdersStopsCountingAtTheLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var past []eventstore.Recorded
	for i := range risk.RecentOrdersCounted + 20 {
		id := fmt.Sprintf("o-many-%03d", i)
		past = append(past, eventstore.Recorded{
			StreamID: id, StreamType: orderstream.StreamType, Version: 1, Name: order.NameOrderPlaced, RecordedAt: at.Add(-time.Duration(i+1) * time.Second),
			Payload: []byte(`{"orderId":"` + id + `","customerId":"c-many","items":[{"sku":"SKU-001","quantity":1}],"total":1000,"currency":"USD","placedAt":"2026-03-02T08:50:00Z"}`),
		})
	}
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return eventstore.Import(ctx, tx, past) }))
	o := &order.Order{ID: "o-many-now", CustomerID: "c-many", PlacedAt: at}
	n, err := sagas.RecentOrders(ctx, pool, o, nil)
	require.NoError(t, err)
	assert.Equal(t, risk.RecentOrdersCounted, n)
	until := at.Add(-time.Duration(risk.RecentOrdersCounted+11) * time.Second) // the last 10
	n, err = sagas.RecentOrders(ctx, pool, o, &until)
	require.NoError(t, err)
	assert.Equal(t, 10, n, "as of a past moment, below the limit, the count is exact")
}

// The runner scores an order with the customer's recent orders as the log has them: the
// fourth order of a customer within the hour carries the velocity factor, counting the
// three before it.
func TestRunnerScoresWithTheCustomersRecentOrders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	runner := sagas.NewRunner(sagas.ProcessOrder, sagas.DefaultConfig(), &emails{}, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	var last eventstore.Recorded
	for i, id := range []string{"v-1", "v-2", "v-3", "v-4"} {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			o := &order.Order{ID: id}
			events, err := o.Place(order.PlaceOrder{OrderID: id, CustomerID: "c-fast", Items: []order.Item{{SKU: "SKU-001", Quantity: 1}},
				Total: 1000, Currency: "USD", At: now.Add(time.Duration(i-4) * time.Minute)})
			if err != nil {
				return err
			}
			if err := orderstream.Append(ctx, tx, o, eventstore.Metadata{CorrelationID: id}, events...); err != nil {
				return err
			}
			recorded, err := eventstore.Load(ctx, tx, id)
			last = recorded[0]
			return err
		}))
	}
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return runner.Handle(ctx, tx, "v-4", sagas.Message{Name: last.Name, ID: last.EventID, Payload: last.Payload}, eventstore.Metadata{CorrelationID: "v-4"})
	}))
	o, err := orderstream.Load(ctx, pool, "v-4")
	require.NoError(t, err)
	var velocity []string
	for _, f := range o.RiskFactors {
		if f.Code == "order_velocity" {
			velocity = append(velocity, f.Description)
		}
	}
	assert.Equal(t, []string{"3 other orders from this customer in the last hour"}, velocity)
}
