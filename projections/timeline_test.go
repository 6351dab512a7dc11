package projections_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
)

// record appends events to stream as another service does.
func record(t *testing.T, pool *pgxpool.Pool, stream eventstore.Stream, version int, events ...eventstore.Event) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := eventstore.Append(ctx, tx, stream, version, eventstore.Metadata{CorrelationID: stream.ID, Actor: "saga"}, events...)
		return err
	}))
}

// The order page reads an order's history and its shipment and payment streams in one
// statement: it read the order's stream, then the other two, two round trips for each
// page sent again to every manager watching the order as it moves. The history is the one
// LoadHistory folds, and the other streams tell what they told.
func TestReadWithBesideReadsTheOrdersThreeStreamsInOneStatement(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	for _, id := range []string{"ord-t", "ord-t-other"} {
		place(t, pool, order.PlaceOrder{OrderID: id, CustomerID: "cust-t", CustomerEmail: "t@example.com",
			Items: []order.Item{{SKU: "A", Quantity: 1, UnitPrice: cents(1000)}}, Total: 1000, Currency: "USD", At: base})
		shipments := eventstore.Stream{Type: shipping.StreamType, ID: shipping.StreamID(id)}
		record(t, pool, shipments, 0, eventstore.Event{Name: shipping.ShipmentCreatedName, Data: shipping.ShipmentCreated{
			OrderID: id, ShipmentID: "sh-" + id, Carrier: "ACME Post", TrackingNumber: "TRK-" + id}})
		record(t, pool, shipments, 1, eventstore.Event{Name: shipping.ShipmentCancelledName, Data: shipping.ShipmentCancelled{OrderID: id, ShipmentID: "sh-" + id, Reason: "not paid"}})
		record(t, pool, eventstore.Stream{Type: payment.StreamType, ID: payment.StreamID(id)}, 0,
			eventstore.Event{Name: payment.SessionRefusedName, Data: payment.SessionRefused{OrderID: id, Reason: "refused for " + id}})
	}
	update(t, pool, "ord-t", func(o *order.Order) ([]order.Event, error) {
		return o.AddNote("ann@example.com", "after the cancel", base)
	})

	counted, trips := pgtest.CountingPool(t, pool)
	_, _, err := projections.ReadWithBeside(ctx, counted, "ord-t") // prepares its statement
	require.NoError(t, err)
	trips.Reset()
	h, beside, err := projections.ReadWithBeside(ctx, counted, "ord-t")
	require.NoError(t, err)
	assert.Equal(t, int64(1), trips.Count(), "one statement")

	loaded, err := orderstream.LoadHistory(ctx, pool, "ord-t")
	require.NoError(t, err)
	assert.Equal(t, loaded, h)
	assert.Equal(t, []shipping.ShipmentCancelled{{OrderID: "ord-t", ShipmentID: "sh-ord-t", Reason: "not paid"}}, beside.CalledOff)
	assert.Equal(t, "refused for ord-t", beside.SessionRefused)
	var names []string
	for _, e := range projections.TimelineOf(h, beside.Shipments...) {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{order.NameOrderPlaced, shipping.ShipmentCreatedName, shipping.ShipmentCancelledName, order.NameNoteAdded}, names)

	record(t, pool, eventstore.Stream{Type: payment.StreamType, ID: payment.StreamID("ord-none")}, 0,
		eventstore.Event{Name: payment.SessionRefusedName, Data: payment.SessionRefused{OrderID: "ord-none", Reason: "refused"}})
	_, _, err = projections.ReadWithBeside(ctx, pool, "ord-none")
	assert.Equal(t, apperr.CodeNotFound, apperr.ErrorCode(err), "an order without events is not found, whatever its other streams hold")
}
