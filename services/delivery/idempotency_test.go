package delivery

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A shipment command handled a second time (the log redelivers it) changes nothing: no
// second shipment, no second event.
func TestCreateShipmentHandledTwiceChangesNothing(t *testing.T) {
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	raw, err := json.Marshal(shipping.CreateShipment{OrderID: "o-1", Lines: []shipping.Line{{SKU: "MUG", Quantity: 2}},
		Address: &shipping.Address{Name: "Ann", Line1: "1 Road", City: "Paris", PostalCode: "75001", Country: "FR"}})
	require.NoError(t, err)
	msg := message.NewMessage("m-1", raw)
	msg.Metadata.Set("name", shipping.CreateShipmentName)
	// As the consumer runs it (eventstore.QueueWrites): its writes queued until the commit.
	pgtest.HandleTwice(t, pool, "a shipment", pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.handleCommands(ctx, tx, []*message.Message{msg}) }))
}

// A batch of commands reads its orders' shipments in one round trip and writes with the
// commit: two round trips however many commands, and a command repeated in the same batch
// still finds the shipment the first one booked.
func TestABatchOfShipmentCommandsCostsTwoRoundTrips(t *testing.T) {
	pool := pgtest.Pool(t)
	counted, trips := pgtest.CountingPool(t, pool)
	s := New(counted, slog.New(slog.DiscardHandler), Config{})
	create := func(id, orderID string) *message.Message {
		raw, err := json.Marshal(shipping.CreateShipment{OrderID: orderID, Lines: []shipping.Line{{SKU: "MUG", Quantity: 2}},
			Address: &shipping.Address{Name: "Ann", Line1: "1 Road", City: "Paris", PostalCode: "75001", Country: "FR"}})
		require.NoError(t, err)
		msg := message.NewMessage(id, raw)
		msg.Metadata.Set("name", shipping.CreateShipmentName)
		return msg
	}
	batch := func(msgs ...*message.Message) {
		t.Helper()
		pgtest.Run(t, counted, pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.handleCommands(ctx, tx, msgs) }))
	}
	batch(create("w-1", "warm-1")) // statements prepared
	trips.Reset()
	batch(create("m-1", "o-1"), create("m-2", "o-2"), create("m-3", "o-3"), create("m-4", "o-4"), create("m-5", "o-1"))
	// BEGIN, the shipments' read, the writes, COMMIT.
	require.EqualValues(t, 4, trips.Count())
	var shipments, events int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM delivery.shipments WHERE order_id LIKE 'o-%'`).Scan(&shipments))
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE stream_type = $1 AND stream_id LIKE '%o-%'`, shipping.StreamType).Scan(&events))
	require.Equal(t, 4, shipments)
	require.Equal(t, 4, events)
}

// A shipment command the contract refuses (an order an earlier release accepted) is
// answered with ShipmentRefused, once however often it comes, so that the saga hands the
// paid order to a person; it was dead-lettered, and the order waited for ever. One for an
// order already shipped is answered already, and one naming no order cannot be answered:
// it fails, for the dead letters.
func TestARefusedShipmentCommandIsAnsweredOnce(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	handle := func(id string, cmd shipping.CreateShipment) func(ctx context.Context, tx pgx.Tx) error {
		raw, err := json.Marshal(cmd)
		require.NoError(t, err)
		msg := message.NewMessage(id, raw)
		msg.Metadata.Set("name", shipping.CreateShipmentName)
		return pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.handleCommands(ctx, tx, []*message.Message{msg}) })
	}
	refused := shipping.CreateShipment{OrderID: "o-refused", Lines: []shipping.Line{{SKU: "MUG", Quantity: 0}}}
	pgtest.HandleTwice(t, pool, "the refused command again", handle("m-refused", refused))
	pgtest.Run(t, pool, handle("m-refused-by-hand", refused))

	lines := []shipping.Line{{SKU: "MUG", Quantity: 2}}
	pgtest.Run(t, pool, handle("m-shipped", shipping.CreateShipment{OrderID: "o-shipped", Lines: lines}))
	pgtest.Run(t, pool, handle("m-shipped-refused", shipping.CreateShipment{OrderID: "o-shipped"}))

	noOrder := handle("m-no-order", shipping.CreateShipment{Lines: lines})
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return noOrder(ctx, tx) })
	assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err), "dead-lettered at once: %v", err)

	rows, err := pool.Query(ctx, `SELECT stream_id, event_name, payload::text FROM events WHERE stream_type = $1 ORDER BY position`, shipping.StreamType)
	require.NoError(t, err)
	type event struct{ Stream, Name, Payload string }
	events, err := pgx.CollectRows(rows, pgx.RowToStructByPos[event])
	require.NoError(t, err)
	require.Len(t, events, 2, "a refusal, and the shipped order's shipment: %v", events)
	assert.Equal(t, shipping.StreamID("o-refused"), events[0].Stream)
	assert.Equal(t, shipping.ShipmentRefusedName, events[0].Name)
	assert.JSONEq(t, `{"orderId":"o-refused","reason":"lines[0].quantity must be from 1 to 10000, got 0"}`, events[0].Payload)
	assert.Equal(t, shipping.ShipmentCreatedName, events[1].Name)
	var shipments int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM delivery.shipments WHERE order_id = 'o-refused'`).Scan(&shipments))
	assert.Zero(t, shipments, "nothing booked")
}

// A valid shipment command for an order whose command was refused before (a corrected
// command an operator writes by hand, or sends through the procedure) books the
// shipment, its event after the refusal on the order's shipment stream, whether it comes
// alone, in the refusal's batch, or through a caller's own transaction. It was appended
// where the refusal stood, met it at every try and was dead-lettered after five (the
// procedure answered 409). A refused command that comes again afterwards is answered
// already.
func TestAValidShipmentCommandAfterARefusalBooksTheShipment(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	command := func(id string, cmd shipping.CreateShipment) *message.Message {
		raw, err := json.Marshal(cmd)
		require.NoError(t, err)
		msg := message.NewMessage(id, raw)
		msg.Metadata.Set("name", shipping.CreateShipmentName)
		return msg
	}
	handle := func(msgs ...*message.Message) func(ctx context.Context, tx pgx.Tx) error {
		return pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.handleCommands(ctx, tx, msgs) })
	}
	refused := func(orderID string) shipping.CreateShipment {
		return shipping.CreateShipment{OrderID: orderID, Lines: []shipping.Line{{SKU: "MUG", Quantity: 0}}}
	}
	valid := func(orderID string) shipping.CreateShipment {
		return shipping.CreateShipment{OrderID: orderID, Lines: []shipping.Line{{SKU: "MUG", Quantity: 2}}}
	}
	pgtest.Run(t, pool, handle(command("m-refused", refused("o-alone"))))
	pgtest.HandleTwice(t, pool, "the corrected command", handle(command("m-by-hand", valid("o-alone"))))
	pgtest.Run(t, pool, handle(command("m-refused-again", refused("o-alone"))))

	pgtest.Run(t, pool, handle(command("m-batch-refused", refused("o-batch")), command("m-batch-by-hand", valid("o-batch"))))

	pgtest.Run(t, pool, handle(command("m-call-refused", refused("o-call"))))
	pgtest.Run(t, pool, func(ctx context.Context, tx pgx.Tx) error {
		_, created, err := s.CreateShipment(ctx, tx, valid("o-call"))
		assert.True(t, created)
		return err
	})

	for _, orderID := range []string{"o-alone", "o-batch", "o-call"} {
		recs, err := eventstore.Load(ctx, pool, shipping.StreamID(orderID))
		require.NoError(t, err)
		var names []string
		for i, rec := range recs {
			assert.Equal(t, i+1, rec.Version)
			names = append(names, rec.Name)
		}
		assert.Equal(t, []string{shipping.ShipmentRefusedName, shipping.ShipmentCreatedName}, names, orderID)
		var shipments int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM delivery.shipments WHERE order_id = $1`, orderID).Scan(&shipments))
		assert.Equal(t, 1, shipments, orderID)
	}
}
