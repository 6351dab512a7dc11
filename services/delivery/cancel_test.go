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

// The saga calls off a shipment booked by hand for an order the orders service never
// placed (delivery.cancel_shipment.v1): it stayed booked with the courier for ever. The
// shipment is cancelled once however often the command comes, ShipmentCancelled after
// what its stream holds (also when its booking is in the same batch), and the courier may
// not move it any more. A shipment the courier has moved on, or none, is left as it is.
func TestACancelledShipmentIsCalledOffOnce(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{Simulator: true, OrdersWebhookURL: "http://127.0.0.1:1/webhooks/delivery"})
	book := func(id, orderID string) *message.Message {
		return commandMessage(t, id, shipping.CreateShipmentName, shipping.CreateShipment{OrderID: orderID, Lines: []shipping.Line{{SKU: "MUG", Quantity: 2}}})
	}
	const why = "no such order: a shipment is booked only for an order the orders service placed"
	cancel := func(id, orderID string) *message.Message {
		return commandMessage(t, id, shipping.CancelShipmentName, shipping.CancelShipment{OrderID: orderID, Reason: why})
	}

	pgtest.Run(t, pool, batch(s, book("m-hand", "o-hand")))
	pgtest.HandleTwice(t, pool, "the cancel", batch(s, cancel("m-cancel", "o-hand")))
	pgtest.Run(t, pool, batch(s, book("m-batch", "o-batch"), cancel("m-batch-cancel", "o-batch")))
	pgtest.Run(t, pool, batch(s, book("m-moved", "o-moved")))
	_, err := pool.Exec(ctx, `UPDATE delivery.shipments SET status = $2 WHERE order_id = $1`, "o-moved", shipping.StatusInTransit)
	require.NoError(t, err)
	pgtest.Run(t, pool, batch(s, cancel("m-moved-cancel", "o-moved"), cancel("m-none", "o-none")))

	for _, orderID := range []string{"o-hand", "o-batch"} {
		sh, err := s.ShipmentByOrder(ctx, pool, orderID)
		require.NoError(t, err)
		assert.Equal(t, StatusCancelled, sh.Status, orderID)
		assert.Equal(t, why, sh.Reason, orderID)
		recs, err := eventstore.Load(ctx, pool, shipping.StreamID(orderID))
		require.NoError(t, err)
		require.Len(t, recs, 2, orderID)
		assert.Equal(t, shipping.ShipmentCreatedName, recs[0].Name)
		assert.Equal(t, shipping.ShipmentCancelledName, recs[1].Name)
		var ev shipping.ShipmentCancelled
		require.NoError(t, json.Unmarshal(recs[1].Payload, &ev))
		assert.Equal(t, shipping.ShipmentCancelled{OrderID: orderID, ShipmentID: sh.ShipmentID, Reason: why}, ev)

		_, err = s.Simulate(ctx, orderID, SimulateRequest{Status: shipping.StatusDelivered})
		assert.Equal(t, apperr.CodeConflict, apperr.ErrorCode(err), "the courier cannot move a cancelled shipment: %v", err)
	}

	moved, err := s.ShipmentByOrder(ctx, pool, "o-moved")
	require.NoError(t, err)
	assert.Equal(t, shipping.StatusInTransit, moved.Status, "the courier has it: left as it is")
	recs, err := eventstore.Load(ctx, pool, shipping.StreamID("o-moved"))
	require.NoError(t, err)
	assert.Len(t, recs, 1, "nothing recorded for a shipment the courier has")
	_, err = s.ShipmentByOrder(ctx, pool, "o-none")
	assert.Equal(t, apperr.CodeNotFound, apperr.ErrorCode(err), "no shipment comes into being")
}

// A shipment called off (booked by hand for an order not paid yet) is booked anew by the
// next CreateShipment for its order (the saga's, once the order is paid), with that
// command's lines and address, its ShipmentCreated after the cancel on the order's shipment
// stream: whether it comes alone (and again), in the cancel's batch, or through a caller's
// own transaction. The command met the cancelled shipment, one an order, and booked
// nothing: the order, paid, stayed awaiting_shipment for ever. A cancel naming the booking
// before calls off nothing more.
func TestAShipmentCalledOffIsBookedAnew(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	byHand := func(orderID string) shipping.CreateShipment {
		return shipping.CreateShipment{OrderID: orderID, Lines: []shipping.Line{{SKU: "MUG", Quantity: 9}}}
	}
	ordered := func(orderID string) shipping.CreateShipment {
		return shipping.CreateShipment{OrderID: orderID, Lines: []shipping.Line{{SKU: "MUG", Quantity: 2}},
			Address: &shipping.Address{Name: "Ann", Line1: "1 Road", City: "Paris", PostalCode: "75001", Country: "FR"}}
	}
	hand := map[string]string{}
	cancel := func(id, orderID string) *message.Message {
		return commandMessage(t, id, shipping.CancelShipmentName, shipping.CancelShipment{OrderID: orderID, ShipmentID: hand[orderID], Reason: "order awaiting_payment"})
	}
	for _, orderID := range []string{"o-alone", "o-batch", "o-call"} {
		pgtest.Run(t, pool, batch(s, commandMessage(t, "m-hand-"+orderID, shipping.CreateShipmentName, byHand(orderID))))
		sh, err := s.ShipmentByOrder(ctx, pool, orderID)
		require.NoError(t, err)
		hand[orderID] = sh.ShipmentID
	}

	pgtest.Run(t, pool, batch(s, cancel("m-cancel-alone", "o-alone")))
	pgtest.HandleTwice(t, pool, "the order's own booking", batch(s, commandMessage(t, "m-ordered", shipping.CreateShipmentName, ordered("o-alone"))))
	pgtest.Run(t, pool, batch(s, cancel("m-cancel-batch", "o-batch"), commandMessage(t, "m-batch-ordered", shipping.CreateShipmentName, ordered("o-batch"))))
	pgtest.Run(t, pool, batch(s, cancel("m-cancel-call", "o-call")))
	pgtest.Run(t, pool, func(ctx context.Context, tx pgx.Tx) error {
		_, created, err := s.CreateShipment(ctx, tx, ordered("o-call"))
		assert.True(t, created)
		return err
	})
	// A cancel of the booking before, come again, leaves the new one booked.
	pgtest.Run(t, pool, batch(s, cancel("m-cancel-alone-again", "o-alone"), cancel("m-cancel-batch-again", "o-batch")))

	for _, orderID := range []string{"o-alone", "o-batch", "o-call"} {
		sh, err := s.ShipmentByOrder(ctx, pool, orderID)
		require.NoError(t, err)
		assert.NotEqual(t, hand[orderID], sh.ShipmentID, orderID)
		assert.Equal(t, StatusCreated, sh.Status, orderID)
		assert.Empty(t, sh.Reason, orderID)
		assert.Equal(t, ordered(orderID).Lines, sh.Lines, orderID)
		assert.Equal(t, ordered(orderID).Address, sh.Address, orderID)
		recs, err := eventstore.Load(ctx, pool, shipping.StreamID(orderID))
		require.NoError(t, err)
		var names []string
		for i, rec := range recs {
			assert.Equal(t, i+1, rec.Version)
			names = append(names, rec.Name)
		}
		require.Equal(t, []string{shipping.ShipmentCreatedName, shipping.ShipmentCancelledName, shipping.ShipmentCreatedName}, names, orderID)
		var ev shipping.ShipmentCreated
		require.NoError(t, json.Unmarshal(recs[2].Payload, &ev))
		assert.Equal(t, shipping.ShipmentCreated{OrderID: orderID, ShipmentID: sh.ShipmentID, Carrier: Carrier, TrackingNumber: sh.TrackingNumber,
			Address: ordered(orderID).Address, Lines: ordered(orderID).Lines}, ev)
	}
}

// commandMessage is a delivery command as the log carries it, its name in the metadata.
func commandMessage(t *testing.T, id, name string, v any) *message.Message {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	msg := message.NewMessage(id, raw)
	msg.Metadata.Set("name", name)
	return msg
}

// batch hands msgs to s's command consumer as one batch, on the consumer's pipeline.
func batch(s *Service, msgs ...*message.Message) func(ctx context.Context, tx pgx.Tx) error {
	return pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.handleCommands(ctx, tx, msgs) })
}
