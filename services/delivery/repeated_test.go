package delivery

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A shipment command that meets its order's shipment booked by hand with other lines or
// another address (the operator's tool, while the order waited for its workflow's
// booking) was answered with that shipment: the courier carried the operator's parcel
// for the order. It is refused now, ShipmentRefused naming the shipment and what differs,
// after what the order's shipment stream holds and once however often it comes; the
// shipment is left as it is, for the saga to call off. The saga's own command, in its
// batch or again after the cancel, books the order's shipment after the refusal. A hand
// booking of the same parcel, its lines split or ordered otherwise and its address's
// parts with spaces around them, is the order's: the command is answered, and nothing
// appended.
func TestAShipmentCommandMeetingABookingOfOtherLinesIsRefused(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	ordered := func(orderID string) shipping.CreateShipment {
		return shipping.CreateShipment{OrderID: orderID, Lines: []shipping.Line{{SKU: "MUG", Quantity: 2}, {SKU: "TEA", Quantity: 1}},
			Address: &shipping.Address{Name: "Ann", Line1: "1 Road", City: "Paris", PostalCode: "75001", Country: "FR"}}
	}
	byHand := func(cmd shipping.CreateShipment) Shipment {
		t.Helper()
		var sh Shipment
		pgtest.Run(t, pool, func(ctx context.Context, tx pgx.Tx) (err error) {
			sh, _, err = s.CreateShipment(ctx, tx, cmd)
			return err
		})
		return sh
	}
	otherLines := byHand(shipping.CreateShipment{OrderID: "o-lines", Lines: []shipping.Line{{SKU: "MUG", Quantity: 9}}, Address: ordered("o-lines").Address})
	elsewhere := ordered("o-address")
	elsewhere.Address = &shipping.Address{Name: "Bob", Line1: "1 Road", City: "Lyon", PostalCode: "75001", Country: "FR"}
	otherAddress := byHand(elsewhere)
	inBatch := byHand(shipping.CreateShipment{OrderID: "o-batch", Lines: []shipping.Line{{SKU: "MUG", Quantity: 1}}})
	same := byHand(shipping.CreateShipment{OrderID: "o-same", Lines: []shipping.Line{{SKU: "TEA", Quantity: 1}, {SKU: "MUG", Quantity: 1}, {SKU: "MUG", Quantity: 1}},
		Address: &shipping.Address{Name: " Ann", Line1: "1 Road ", City: "Paris", PostalCode: "75001", Country: "FR"}})

	pgtest.HandleTwice(t, pool, "the command meeting other lines", batch(s, commandMessage(t, "m-lines", shipping.CreateShipmentName, ordered("o-lines"))))
	pgtest.Run(t, pool, batch(s, commandMessage(t, "m-address", shipping.CreateShipmentName, ordered("o-address"))))
	pgtest.Run(t, pool, batch(s,
		commandMessage(t, "m-batch", shipping.CreateShipmentName, ordered("o-batch")),
		commandMessage(t, "m-batch-cancel", shipping.CancelShipmentName, shipping.CancelShipment{OrderID: "o-batch", ShipmentID: inBatch.ShipmentID, Reason: "other lines"}),
		commandMessage(t, "m-batch-again", shipping.CreateShipmentName, ordered("o-batch"))))
	pgtest.Run(t, pool, batch(s, commandMessage(t, "m-same", shipping.CreateShipmentName, ordered("o-same"))))

	events := func(orderID string) (names []string, refusal shipping.ShipmentRefused) {
		t.Helper()
		recs, err := eventstore.Load(ctx, pool, shipping.StreamID(orderID))
		require.NoError(t, err)
		for i, rec := range recs {
			assert.Equal(t, i+1, rec.Version)
			names = append(names, rec.Name)
			if rec.Name == shipping.ShipmentRefusedName {
				require.NoError(t, json.Unmarshal(rec.Payload, &refusal))
			}
		}
		return names, refusal
	}
	for orderID, want := range map[string]shipping.ShipmentRefused{
		"o-lines": {OrderID: "o-lines", ShipmentID: otherLines.ShipmentID, Reason: "order o-lines already has a shipment " + otherLines.ShipmentID +
			" (created) of other lines or address, and an order is shipped once: MUG: 9 in the shipment, 2 asked; TEA: 0 in the shipment, 1 asked"},
		"o-address": {OrderID: "o-address", ShipmentID: otherAddress.ShipmentID, Reason: "order o-address already has a shipment " + otherAddress.ShipmentID +
			" (created) of other lines or address, and an order is shipped once: address.name; address.city"},
	} {
		names, refusal := events(orderID)
		assert.Equal(t, []string{shipping.ShipmentCreatedName, shipping.ShipmentRefusedName}, names, orderID)
		assert.Equal(t, want, refusal)
		sh, err := s.ShipmentByOrder(ctx, pool, orderID)
		require.NoError(t, err)
		assert.Equal(t, StatusCreated, sh.Status, "left for the saga to call off")
	}

	names, refusal := events("o-batch")
	assert.Equal(t, []string{shipping.ShipmentCreatedName, shipping.ShipmentRefusedName, shipping.ShipmentCancelledName, shipping.ShipmentCreatedName}, names)
	assert.Equal(t, inBatch.ShipmentID, refusal.ShipmentID)
	own, err := s.ShipmentByOrder(ctx, pool, "o-batch")
	require.NoError(t, err)
	assert.Equal(t, ordered("o-batch").Lines, own.Lines, "the order's own, booked in the hand booking's place")

	names, _ = events("o-same")
	assert.Equal(t, []string{shipping.ShipmentCreatedName}, names, "the same parcel is the order's")
	sh, err := s.ShipmentByOrder(ctx, pool, "o-same")
	require.NoError(t, err)
	assert.Equal(t, same.ShipmentID, sh.ShipmentID)
}
