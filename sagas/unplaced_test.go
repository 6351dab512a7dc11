package sagas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/sagas"
)

// A reservation by hand (the warehouse's procedure) of an order id the orders service never
// gave held its stock for ever: the saga, which answers every other reservation (it books
// it for an order that waits for those very units, and gives it back otherwise), dead-
// lettered its Reserved as "order not found", and nothing else releases stock. The saga
// knows which orders exist and learns of every reservation from the log: it gives such a
// reservation back at once, as it gives back one of an order that no longer wants it, and
// the Released that follows, or a failed reservation of such an order, holds nothing to
// answer. Any other message about an order never placed is still refused as not found.
func TestAReservationOfAnOrderNeverPlacedIsGivenBack(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	runner := sagas.NewRunner(sagas.ProcessOrder, sagas.DefaultConfig(), &emails{}, time.Now, slog.New(slog.DiscardHandler))
	const never = "ord-never-placed"
	handle := func(name, id string, data any) error {
		raw, err := json.Marshal(data)
		require.NoError(t, err)
		m := sagas.Message{Name: name, ID: id, Payload: raw}
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return runner.Handle(ctx, tx, never, m, eventstore.Metadata{CorrelationID: never, CausationID: m.ID, Actor: "service:orders"})
		})
	}
	releases := func() (reasons []string) {
		rows, err := pool.Query(ctx, `SELECT payload->>'reason' FROM watermill_warehouse_commands
			WHERE metadata->>'name' = $1 AND payload->>'orderId' = $2 ORDER BY "offset"`, inventory.ReleaseName, never)
		require.NoError(t, err)
		reasons, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return reasons
	}

	require.NoError(t, handle(inventory.ReservedName, "m-hand", inventory.Reserved{OrderID: never, ReservationID: "res-hand",
		Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 3}}}))
	assert.Equal(t, []string{"no such order: stock is held only for an order the orders service placed"}, releases())

	require.NoError(t, handle(inventory.ReleasedName, "m-released", inventory.Released{OrderID: never, ReservationID: "res-hand", Reason: releases()[0]}))
	require.NoError(t, handle(inventory.ReservationFailedName, "m-failed", inventory.ReservationFailed{OrderID: never, Reason: "insufficient stock for SKU-001", SKU: "SKU-001"}))
	assert.Len(t, releases(), 1, "nothing held, nothing more to give back")

	err := handle(payment.SessionCreatedName, "m-session", payment.SessionCreated{OrderID: never, SessionID: "cs_1", Amount: 100, Currency: "USD"})
	assert.Equal(t, apperr.CodeNotFound, apperr.ErrorCode(err), "%v", err)

	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM sagas.order_process)`).Scan(&rows))
	assert.Zero(t, rows, "no order, no saga state comes into being")
}

// A shipment booked by hand (the delivery service's procedure) for an order id the orders
// service never gave stayed booked with the courier for ever: the saga dead-lettered its
// ShipmentCreated as "order not found". It calls it off at once, as it gives back such a
// reservation; the delivery service records the cancel as ShipmentCancelled, which holds
// nothing to answer.
func TestAShipmentOfAnOrderNeverPlacedIsCalledOff(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	runner := sagas.NewRunner(sagas.ProcessOrder, sagas.DefaultConfig(), &emails{}, time.Now, slog.New(slog.DiscardHandler))
	const never = "ord-never-placed"
	raw, err := json.Marshal(shipping.ShipmentCreated{OrderID: never, ShipmentID: "shp_hand", Carrier: "ACME Courier", TrackingNumber: "TRK000000000001"})
	require.NoError(t, err)
	handle := func(name, id string, payload []byte) error {
		m := sagas.Message{Name: name, ID: id, Payload: payload}
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return runner.Handle(ctx, tx, never, m, eventstore.Metadata{CorrelationID: never, CausationID: m.ID, Actor: "service:orders"})
		})
	}
	require.NoError(t, handle(shipping.ShipmentCreatedName, "m-hand", raw))
	raw, err = json.Marshal(shipping.ShipmentCancelled{OrderID: never, ShipmentID: "shp_hand", Reason: "no such order"})
	require.NoError(t, err)
	require.NoError(t, handle(shipping.ShipmentCancelledName, "m-cancelled", raw))

	rows, err := pool.Query(ctx, `SELECT payload::text FROM watermill_delivery_commands WHERE metadata->>'name' = $1 ORDER BY "offset"`, shipping.CancelShipmentName)
	require.NoError(t, err)
	cancels, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, cancels, 1)
	assert.JSONEq(t, `{"orderId":"ord-never-placed","shipmentId":"shp_hand","reason":"no such order: a shipment is booked only for an order the orders service placed"}`, cancels[0])
	var state int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM sagas.order_process)`).Scan(&state))
	assert.Zero(t, state, "no order, no saga state comes into being")
}

// A command sent by hand for an order id the orders service never gave, and refused by
// its service's contract (a refund, a payment session, a shipment), is answered with a
// refusal on that id's stream (payment.refund_refused.v1, payment.session_refused.v1,
// shipment.refused.v1), as any refusal is. The saga dead-lettered that answer as "order
// not found", a second dead letter for a command its service had answered. Nothing was
// given back and there is no order to open a ticket on: it is dropped, and the log says so.
func TestARefusalForAnOrderNeverPlacedIsDropped(t *testing.T) {
	const never = "ord-never-placed"
	for name, refusal := range map[string]any{
		payment.RefundRefusedName:    payment.RefundRefused{OrderID: never, PaymentID: "pi_hand", Reason: "amount must not be negative"},
		payment.SessionRefusedName:   payment.SessionRefused{OrderID: never, Reason: "currency must be three uppercase letters"},
		shipping.ShipmentRefusedName: shipping.ShipmentRefused{OrderID: never, Reason: "lines must not be empty"},
	} {
		t.Run(name, func(t *testing.T) {
			pool := pgtest.Pool(t)
			ctx := context.Background()
			var logged bytes.Buffer
			runner := sagas.NewRunner(sagas.ProcessOrder, sagas.DefaultConfig(), &emails{}, time.Now, slog.New(slog.NewTextHandler(&logged, nil)))
			raw, err := json.Marshal(refusal)
			require.NoError(t, err)
			m := sagas.Message{Name: name, ID: "m-refused", Payload: raw}
			wctx, flush := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{}).CollectWakeups(ctx)
			require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return runner.Handle(wctx, tx, never, m, eventstore.Metadata{CorrelationID: never, CausationID: m.ID, Actor: "service:payments"})
			}))
			flush()

			assert.Contains(t, logged.String(), "a message about an order never placed holds nothing to answer: dropped")
			assert.Contains(t, logged.String(), "order_id="+never)
			assert.Contains(t, logged.String(), "name="+name)
			var rows int
			require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM sagas.order_process)
				+ (SELECT count(*) FROM watermill_payments_commands) + (SELECT count(*) FROM watermill_delivery_commands)`).Scan(&rows))
			assert.Zero(t, rows, "no order, no saga state, no command")
		})
	}
}
