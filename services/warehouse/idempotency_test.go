package warehouse

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

func command(t *testing.T, id, name string, data any) *message.Message {
	t.Helper()
	raw, err := json.Marshal(data)
	require.NoError(t, err)
	msg := message.NewMessage(id, raw)
	msg.Metadata.Set("name", name)
	msg.Metadata.Set("correlation_id", "o-1")
	return msg
}

// Each warehouse command handled a second time (the log redelivers it) changes nothing:
// no second hold on the stock, no second event, no second reply.
func TestCommandsHandledTwiceChangeNothing(t *testing.T) {
	pool := pgtest.Pool(t)
	require.NoError(t, Seed(context.Background(), pool))
	s := New(pool, nil, Config{})
	for _, c := range []struct {
		name string
		msg  *message.Message
	}{
		{"a reservation", command(t, "m-1", inventory.ReserveName, inventory.Reserve{OrderID: "o-1", Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 2}}})},
		{"a reservation the stock cannot meet", command(t, "m-2", inventory.ReserveName, inventory.Reserve{OrderID: "o-2", Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 10_000}}})},
		{"an invalid reservation", command(t, "m-3", inventory.ReserveName, inventory.Reserve{OrderID: "o-3", Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 0}}})},
		{"a release", command(t, "m-4", inventory.ReleaseName, inventory.Release{OrderID: "o-1", Reason: "payment failed"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			// On a pipeline, as the command consumer (QueueWrites) runs it.
			pgtest.HandleTwice(t, pool, c.name, pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error {
				return s.executeCommands(ctx, tx, []*message.Message{c.msg})
			}))
		})
	}
}

// A batch of reservations takes its locks and reads its reservations and stock in one
// round trip and writes with the commit: two round trips however many commands. Within
// the batch each reservation sees the stock the ones before it took, a command repeated
// finds the first one's reservation, and after a release the next command reads again.
func TestABatchOfReservationsCostsTwoRoundTrips(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	for sku, n := range map[string]int{"MUG": 3, "CAP": 100} {
		_, err := pool.Exec(ctx, `INSERT INTO warehouse.stock (sku, name, available) VALUES ($1, $1, $2)`, sku, n)
		require.NoError(t, err)
	}
	counted, trips := pgtest.CountingPool(t, pool)
	s := New(counted, nil, Config{})
	reserve := func(id, orderID string, lines ...inventory.Line) *message.Message {
		return command(t, id, inventory.ReserveName, inventory.Reserve{OrderID: orderID, Lines: lines})
	}
	batch := func(msgs ...*message.Message) {
		t.Helper()
		pgtest.Run(t, counted, pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.executeCommands(ctx, tx, msgs) }))
	}
	batch(reserve("w-1", "warm-1", inventory.Line{SKU: "CAP", Quantity: 1})) // statements prepared
	trips.Reset()
	mug := inventory.Line{SKU: "MUG", Quantity: 2}
	batch(reserve("m-1", "o-1", mug), reserve("m-2", "o-2", mug, inventory.Line{SKU: "CAP", Quantity: 1}),
		reserve("m-3", "o-3", inventory.Line{SKU: "CAP", Quantity: 5}), reserve("m-4", "o-1", mug))
	// BEGIN, the locks and reads, the writes, COMMIT.
	assert.EqualValues(t, 4, trips.Count())
	status := func(orderID string) string {
		var st string
		require.NoError(t, pool.QueryRow(ctx, `SELECT status FROM warehouse.reservations WHERE order_id = $1`, orderID).Scan(&st))
		return st
	}
	assert.Equal(t, string(inventory.StatusReserved), status("o-1"))
	assert.Equal(t, string(inventory.StatusFailed), status("o-2"), "o-1 took two of the three mugs")
	assert.Equal(t, string(inventory.StatusReserved), status("o-3"))
	var mugs, caps int
	require.NoError(t, pool.QueryRow(ctx, `SELECT available FROM warehouse.stock WHERE sku = 'MUG'`).Scan(&mugs))
	require.NoError(t, pool.QueryRow(ctx, `SELECT available FROM warehouse.stock WHERE sku = 'CAP'`).Scan(&caps))
	assert.Equal(t, 1, mugs)
	assert.Equal(t, 100-1-5, caps)

	// A release in the batch gives the mugs back; the reservation after it sees them.
	batch(command(t, "m-5", inventory.ReleaseName, inventory.Release{OrderID: "o-1", Reason: "payment failed"}),
		reserve("m-6", "o-4", inventory.Line{SKU: "MUG", Quantity: 3}))
	assert.Equal(t, string(inventory.StatusReserved), status("o-4"))
	require.NoError(t, pool.QueryRow(ctx, `SELECT available FROM warehouse.stock WHERE sku = 'MUG'`).Scan(&mugs))
	assert.Zero(t, mugs)
}
