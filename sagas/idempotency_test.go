package sagas_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/sagas"
)

// Every message of an order's life, handled by the saga a second time (the log
// redelivers it), changes nothing: no second event, command, email, deadline or ticket,
// and the saga's state as it was. Each step is handled twice before the next comes, as a
// redelivery right after the first commit would; the order gets all the way to completed
// and, on a second order, through a cancellation with its compensation.
func TestEveryStepHandledTwiceChangesNothing(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	outbox := &emails{}
	runner := sagas.NewRunner(sagas.ProcessOrder, sagas.DefaultConfig(), outbox, func() time.Time { return now }, slog.New(slog.DiscardHandler))

	place := func(id string, total order.Cents) sagas.Message { return placeOrder(t, pool, id, total, now) }
	msg := func(name, id string, data any) sagas.Message {
		raw, err := json.Marshal(data)
		require.NoError(t, err)
		return sagas.Message{Name: name, ID: id, Payload: raw}
	}
	twice := func(orderID string, m sagas.Message) {
		t.Helper()
		pgtest.HandleTwice(t, pool, m.Name, func(ctx context.Context, tx pgx.Tx) error {
			return runner.Handle(ctx, tx, orderID, m, eventstore.Metadata{CorrelationID: orderID, CausationID: m.ID, Actor: "saga"})
		})
	}
	status := func(id string) order.Status {
		o, err := orderstream.Load(ctx, pool, id)
		require.NoError(t, err)
		return o.Status
	}

	const id = "ord-twice"
	twice(id, place(id, 1_000))
	require.Equal(t, order.StatusReserving, status(id))
	twice(id, msg(inventory.ReservedName, "m-reserved", inventory.Reserved{OrderID: id, ReservationID: "res-1", Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 1}}}))
	require.Equal(t, order.StatusAwaitingPayment, status(id))
	twice(id, msg(payment.SessionCreatedName, "m-session", payment.SessionCreated{OrderID: id, SessionID: "cs_1", URL: "https://pay/cs_1", Amount: 1_000, Currency: "USD", ExpiresAt: now.Add(time.Hour)}))
	twice(id, msg(sagas.PaymentWebhookName, "m-paid", sagas.PaymentWebhook{Webhook: payment.Webhook{ID: "evt_1", OrderID: id, Status: payment.StatusCompleted, PaymentID: "pi_1", SessionID: "cs_1", Amount: 1_000, Currency: "USD"}}))
	require.Equal(t, order.StatusAwaitingShipment, status(id))
	twice(id, msg(shipping.ShipmentCreatedName, "m-shipped", shipping.ShipmentCreated{OrderID: id, ShipmentID: "shp-1", Carrier: "courier", TrackingNumber: "T-1"}))
	require.Equal(t, order.StatusAwaitingDelivery, status(id))
	twice(id, msg(sagas.DeliveryWebhookName, "m-transit", shipping.Webhook{ID: "d-1", OrderID: id, Status: shipping.StatusInTransit}))
	twice(id, msg(sagas.DeliveryWebhookName, "m-delivered", shipping.Webhook{ID: "d-2", OrderID: id, Status: shipping.StatusDelivered}))
	require.Equal(t, order.StatusCompleted, status(id))

	// A payment that fails cancels the order and releases its stock; the deadline of a
	// wait that is over, and a refund reported for a late payment, do nothing twice.
	const cancelled = "ord-twice-cancelled"
	twice(cancelled, place(cancelled, 2_000))
	twice(cancelled, msg(inventory.ReservedName, "m-reserved-2", inventory.Reserved{OrderID: cancelled, ReservationID: "res-2", Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 1}}}))
	twice(cancelled, msg(payment.SessionCreatedName, "m-session-2", payment.SessionCreated{OrderID: cancelled, SessionID: "cs_2", URL: "https://pay/cs_2", Amount: 2_000, Currency: "USD", ExpiresAt: now.Add(time.Hour)}))
	twice(cancelled, msg(sagas.PaymentWebhookName, "m-failed", sagas.PaymentWebhook{Webhook: payment.Webhook{ID: "evt_2", OrderID: cancelled, Status: payment.StatusFailed, PaymentID: "pi_2", SessionID: "cs_2", Reason: "card_declined"}}))
	require.Equal(t, order.StatusCancelled, status(cancelled))
	// Money taken for the cancelled order anyway is refunded: the saga asks the payment
	// service again when the report comes again, by design (refund's comment: the payment
	// service refunds a payment at most once however often it is asked, which its own
	// idempotency test checks). The second report adds that one command and nothing else.
	late := msg(sagas.PaymentWebhookName, "m-late", sagas.PaymentWebhook{Webhook: payment.Webhook{ID: "evt_3", OrderID: cancelled, Status: payment.StatusCompleted, PaymentID: "pi_3", SessionID: "cs_2", Amount: 2_000, Currency: "USD"}})
	handle := func(ctx context.Context, tx pgx.Tx) error {
		return runner.Handle(ctx, tx, cancelled, late, eventstore.Metadata{CorrelationID: cancelled, CausationID: late.ID, Actor: "saga"})
	}
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return handle(ctx, tx) }))
	first := pgtest.Contents(t, pool)
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return handle(ctx, tx) }))
	require.Equal(t, []string{"public.watermill_payments_commands"}, first.Changed(pgtest.Contents(t, pool)))
	var refunds int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM watermill_payments_commands WHERE metadata->>'name' = $1 AND payload->>'paymentId' = 'pi_3'`, payment.RefundName).Scan(&refunds))
	require.Equal(t, 2, refunds, "the refund is asked for again, for the same payment")
	twice(cancelled, msg(payment.RefundedName, "m-refunded", payment.Refunded{OrderID: cancelled, PaymentID: "pi_3", RefundID: "re_1", Amount: 2_000, Currency: "USD", At: now}))

	// Emails: a redelivery that records an email again records the same one, which the
	// outbox keeps once per order and kind.
	require.Equal(t, map[string]bool{sagas.KindOrderConfirmed: true, sagas.KindOrderCompleted: true}, outbox.kinds(id))
	require.Equal(t, map[string]bool{sagas.KindOrderConfirmed: true, sagas.KindOrderCancelled: true}, outbox.kinds(cancelled))
	for key, recorded := range outbox.recorded {
		for _, again := range recorded[1:] {
			require.Equal(t, recorded[0], again, "%v", key)
		}
	}
}

// placeOrder stores order id, one SKU-001 for total, placed by ann@example.com at at, and
// returns its order.placed as the saga reads it.
func placeOrder(t *testing.T, pool *pgxpool.Pool, id string, total order.Cents, at time.Time) sagas.Message {
	t.Helper()
	ctx := context.Background()
	var placed []eventstore.Recorded
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		o := &order.Order{}
		events, err := o.Place(order.PlaceOrder{OrderID: id, CustomerEmail: "ann@example.com",
			Items: []order.Item{{SKU: "SKU-001", Quantity: 1}}, Total: total, Currency: "USD", At: at})
		if err != nil {
			return err
		}
		o.ID = id
		if err := orderstream.Append(ctx, tx, o, eventstore.Metadata{CorrelationID: id, Actor: "customer"}, events...); err != nil {
			return err
		}
		placed, err = eventstore.Load(ctx, tx, id)
		return err
	}))
	return sagas.Recorded(placed)[0]
}
