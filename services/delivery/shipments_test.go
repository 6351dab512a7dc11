package delivery_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/delivery"
)

func command(orderID string) shipping.CreateShipment {
	return shipping.CreateShipment{
		OrderID: orderID,
		Address: &shipping.Address{Name: "Ann", Line1: "1 Road", City: "Paris", PostalCode: "75001", Country: "FR"},
		Lines:   []shipping.Line{{SKU: "MUG", Quantity: 2}, {SKU: "TEA", Quantity: 1}},
	}
}

func createInTx(ctx context.Context, pool *pgxpool.Pool, svc *delivery.Service, c shipping.CreateShipment) (delivery.Shipment, bool, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return delivery.Shipment{}, false, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sh, created, err := svc.CreateShipment(ctx, tx, c)
	if err != nil {
		return sh, created, err
	}
	return sh, created, tx.Commit(ctx)
}

func shipmentEvents(t *testing.T, ctx context.Context, pool *pgxpool.Pool, orderID string) []shipping.ShipmentCreated {
	t.Helper()
	recs, err := eventstore.Load(ctx, pool, shipping.StreamID(orderID))
	require.NoError(t, err)
	var out []shipping.ShipmentCreated
	for _, r := range recs {
		require.Equal(t, shipping.ShipmentCreatedName, r.Name)
		require.Equal(t, shipping.StreamType, r.StreamType)
		var ev shipping.ShipmentCreated
		require.NoError(t, json.Unmarshal(r.Payload, &ev))
		out = append(out, ev)
	}
	return out
}

func TestCreateShipmentIsAtMostOncePerOrder(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, delivery.Config{})

	first, created, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)
	assert.True(t, created)
	assert.Regexp(t, `^shp_[A-Z2-7]{26}$`, first.ShipmentID)
	assert.Regexp(t, `^TRK\d{12}$`, first.TrackingNumber)
	assert.Equal(t, delivery.Carrier, first.Carrier)
	assert.Equal(t, delivery.StatusCreated, first.Status)

	second, created, err := createInTx(ctx, pool, svc, command("ord-1"))
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first, second, "the stored shipment reads back exactly as created")

	assert.Equal(t, []shipping.ShipmentCreated{{
		OrderID: "ord-1", ShipmentID: first.ShipmentID, Carrier: delivery.Carrier, TrackingNumber: first.TrackingNumber,
		Address: command("ord-1").Address, Lines: command("ord-1").Lines,
	}}, shipmentEvents(t, ctx, pool, "ord-1"))
}

func TestConcurrentCreateShipmentBooksOneShipment(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, delivery.Config{})

	const n = 8
	var (
		wg      sync.WaitGroup
		ids     [n]string
		errs    [n]error
		created atomic.Int32
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			sh, c, err := createInTx(ctx, pool, svc, command("ord-1"))
			ids[i], errs[i] = sh.ShipmentID, err
			if c {
				created.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, ids[0], ids[i])
	}
	assert.EqualValues(t, 1, created.Load())
	assert.Len(t, shipmentEvents(t, ctx, pool, "ord-1"), 1)
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM delivery.shipments`).Scan(&rows))
	assert.Equal(t, 1, rows)
}

// A command sent on the log books the shipment and announces it on shipment_events; an
// unknown command before it is acked, not dead-lettered, and does not block it.
func TestCreateShipmentCommandOverTheLog(t *testing.T) {
	svc, pool := newService(t, delivery.Config{})
	// Cancelled before the pool's cleanup closes it, which waits for the listener's connection.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	meta := eventstore.Metadata{CorrelationID: "corr-1", Actor: "saga"}
	require.NoError(t, eventstore.Send(ctx, tx, shipping.CommandsTopic, meta, eventstore.Message{Name: "delivery.cancel_shipment.v9", Data: map[string]string{"orderId": "ord-1"}}))
	require.NoError(t, eventstore.Send(ctx, tx, shipping.CommandsTopic, meta, eventstore.Message{Name: shipping.CreateShipmentName, Data: command("ord-1")}))
	require.NoError(t, tx.Commit(ctx))

	got := pgtest.FirstEvent(t, ctx, pool, svc.RegisterConsumers, eventstore.EventsTopic(shipping.StreamType), shipping.ShipmentCreatedName)

	sh, err := svc.ShipmentByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, command("ord-1").Address, sh.Address)
	assert.Equal(t, command("ord-1").Lines, sh.Lines)
	assert.Equal(t, shipping.StreamID("ord-1"), got.StreamID)
	assert.Equal(t, "corr-1", got.Metadata.CorrelationID, "the command's correlation id carries over")
	var ev shipping.ShipmentCreated
	require.NoError(t, json.Unmarshal(got.Payload, &ev))
	assert.Equal(t, shipping.ShipmentCreated{OrderID: "ord-1", ShipmentID: sh.ShipmentID, Carrier: delivery.Carrier, TrackingNumber: sh.TrackingNumber,
		Address: sh.Address, Lines: sh.Lines}, ev)
	var dead int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&dead))
	assert.Zero(t, dead)
}
