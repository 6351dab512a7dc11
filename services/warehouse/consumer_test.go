package warehouse_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/warehouse"
)

// Commands sent over the log are answered with reservation events, in order, with the
// sender's correlation; unknown names are skipped, and an unanswerable command and one
// contradicting its order's reservation are dead-lettered, none holding up the commands
// behind it.
func TestCommandsOnTheLogAreAnsweredWithReservationEvents(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	addStock(t, pool, "A", 10)
	addStock(t, pool, "LIMITED", 1)

	cmdMeta := eventstore.Metadata{CorrelationID: "corr-42", Actor: "saga"}
	commands := []eventstore.Message{
		{Name: "inventory.recount.v9", Data: map[string]string{"sku": "A"}},
		{Name: inventory.ReserveName, Data: inventory.Reserve{Lines: []inventory.Line{{SKU: "A", Quantity: 1}}}}, // no order id
		{Name: inventory.ReserveName, Data: inventory.Reserve{OrderID: "o-1", Lines: []inventory.Line{{SKU: "A", Quantity: 4}}}},
		{Name: inventory.ReserveName, Data: inventory.Reserve{OrderID: "o-1", Lines: []inventory.Line{{SKU: "A", Quantity: 4}}}}, // redelivered
		{Name: inventory.ReserveName, Data: inventory.Reserve{OrderID: "o-1", Lines: []inventory.Line{{SKU: "A", Quantity: 5}}}}, // other lines
		{Name: inventory.ReserveName, Data: inventory.Reserve{OrderID: "o-2", Lines: []inventory.Line{{SKU: "LIMITED", Quantity: 2}}}},
		{Name: inventory.ReserveName, Data: inventory.Reserve{OrderID: "o-3"}}, // no lines
		{Name: inventory.ReserveName, Data: inventory.Reserve{OrderID: "o-4", Lines: []inventory.Line{{SKU: "A", Quantity: 2}}}},
		{Name: inventory.ReleaseName, Data: inventory.Release{OrderID: "o-4", Reason: "payment failed"}},
		{Name: inventory.ReleaseName, Data: inventory.Release{OrderID: "o-4", Reason: "payment failed"}}, // redelivered
	}
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, c := range commands {
			if err := eventstore.Send(ctx, tx, inventory.CommandsTopic, cmdMeta, c); err != nil {
				return err
			}
		}
		return nil
	}))

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	require.NoError(t, warehouse.New(pool, nil, warehouse.Config{}).RegisterConsumers(log, router))

	// A reservation event exists only once the warehouse's transaction committed, so seeing
	// the last expected one means every command's effects are committed.
	const want = 5 // Reserved o-1, Failed o-2, Failed o-3, Reserved o-4, Released o-4
	var mu sync.Mutex
	var got []eventstore.Recorded
	done := make(chan struct{})
	topic := eventstore.EventsTopic(inventory.StreamType)
	require.NoError(t, log.Consume(router, "test-observer", topic, func(_ context.Context, _ pgx.Tx, msg *message.Message) error {
		r, err := eventstore.DecodeRecorded(msg)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
		if len(got) == want {
			close(done)
		}
		return nil
	}))
	go func() { _ = router.Run(ctx) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("saw %d of %d reservation events", len(got), want)
	}
	require.NoError(t, router.Close())

	mu.Lock()
	defer mu.Unlock()
	type seen struct{ stream, name string }
	var order []seen
	for _, r := range got {
		order = append(order, seen{r.StreamID, r.Name})
		assert.Equal(t, "corr-42", r.Metadata.CorrelationID, "correlation carried from the command")
		assert.Equal(t, "saga", r.Metadata.Actor)
		assert.NotEmpty(t, r.Metadata.CausationID, "the command is the event's cause")
	}
	assert.Equal(t, []seen{
		{"reservation-o-1", inventory.ReservedName},
		{"reservation-o-2", inventory.ReservationFailedName},
		{"reservation-o-3", inventory.ReservationFailedName},
		{"reservation-o-4", inventory.ReservedName},
		{"reservation-o-4", inventory.ReleasedName},
	}, order)
	assert.JSONEq(t, `{"orderId":"o-3","reason":"invalid request: at least one line is required","sku":""}`, string(got[2].Payload))

	available, reserved := stockOf(t, pool, "A")
	assert.Equal(t, 6, available, "o-1 holds 4 once; o-4's 2 came back once")
	assert.Equal(t, 4, reserved)
	available, reserved = stockOf(t, pool, "LIMITED")
	assert.Equal(t, 1, available)
	assert.Zero(t, reserved)

	rows, err := pool.Query(ctx, `
		SELECT metadata->>'name', payload->>'orderId', error FROM dead_letters WHERE consumer_group = $1 ORDER BY id`,
		warehouse.ConsumerGroup)
	require.NoError(t, err)
	type deadLetter struct{ Name, OrderID, Error string }
	dead, err := pgx.CollectRows(rows, pgx.RowToStructByPos[deadLetter])
	require.NoError(t, err)
	require.Len(t, dead, 2, "the reserve without an order id, and the one contradicting o-1's reservation")
	assert.Equal(t, inventory.ReserveName, dead[0].Name)
	assert.Empty(t, dead[0].OrderID)
	assert.Equal(t, deadLetter{inventory.ReserveName, "o-1", dead[1].Error}, dead[1])
	assert.Contains(t, dead[1].Error, "A: 4 in the reservation, 5 asked")
}
