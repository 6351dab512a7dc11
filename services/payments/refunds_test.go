package payments_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/payments/stripemock"
)

// refundIn runs one refund command in a transaction of its own, committed when it succeeds.
func refundIn(ctx context.Context, t *testing.T, svc *payments.Service, pool *pgxpool.Pool, r payment.Refund) error {
	t.Helper()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	if err := svc.Refund(ctx, tx, r); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// nothingRefunded checks that no refund of paymentID was recorded, and none on orderID's
// payment stream.
func nothingRefunded(ctx context.Context, t *testing.T, pool *pgxpool.Pool, orderID, paymentID string) {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM payments.refunds WHERE payment_id = $1`, paymentID).Scan(&n))
	assert.Zero(t, n, "no refund of %s recorded", paymentID)
	recs, err := eventstore.Load(ctx, pool, payment.StreamID(orderID))
	require.NoError(t, err)
	assert.Empty(t, recs, "nothing on the payment stream of %s", orderID)
}

// A refund asked by one order for a payment the simulator settled at another order's
// session gives nothing back: a signed report that named another order's payment (a bug,
// or a secret in the wrong hands) must not refund that order's money. The refusal is
// ErrNotTheOrders, which the command on the log is answered with (RefundRefused, a ticket
// on the order); the owner's own refund of the payment still goes through.
func TestARefundOfAnotherOrdersPaymentIsRefused(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{})
	now := time.Now()
	_, err := pool.Exec(ctx, `
		INSERT INTO payments.sessions (session_id, order_id, amount, currency, url, status, payment_id, created_at, updated_at, expires_at)
		VALUES ('cs_paid', 'ord-paid', 5000, 'USD', 'http://pay/cs_paid', 'completed', 'pi_paid', $1, $1, $2)`, now, now.Add(time.Hour))
	require.NoError(t, err)

	err = refundIn(ctx, t, svc, pool, payment.Refund{OrderID: "ord-other", PaymentID: "pi_paid", Amount: 5000, Currency: "USD", Reason: "a payment the order refused"})
	require.ErrorIs(t, err, payments.ErrNotTheOrders)
	assert.Contains(t, err.Error(), "it was made for order ord-paid")
	nothingRefunded(ctx, t, pool, "ord-other", "pi_paid")

	require.NoError(t, refundIn(ctx, t, svc, pool, payment.Refund{OrderID: "ord-paid", PaymentID: "pi_paid", Reason: "order cancelled"}))
	var owner string
	require.NoError(t, pool.QueryRow(ctx, `SELECT order_id FROM payments.refunds WHERE payment_id = 'pi_paid'`).Scan(&owner))
	assert.Equal(t, "ord-paid", owner)
}

// At Stripe, the payment intent is read before it is refunded: one whose metadata names
// another order, or no order (not paid at a session the service opened), is not refunded,
// and Stripe's Refund API is never called for it.
func TestStripeRefusesToRefundAnotherOrdersPayment(t *testing.T) {
	ctx := testContext(t)
	mock := stripemock.Start(t)
	svc, pool := newService(t, payments.Config{Provider: stripeProvider(mock)})
	mock.PaymentIntent("pi_theirs", "ord-theirs")

	err := refundIn(ctx, t, svc, pool, payment.Refund{OrderID: "ord-mine", PaymentID: "pi_theirs", Reason: "a payment the order refused"})
	require.ErrorIs(t, err, payments.ErrNotTheOrders)
	assert.Contains(t, err.Error(), "it was made for order ord-theirs")
	err = refundIn(ctx, t, svc, pool, payment.Refund{OrderID: "ord-mine", PaymentID: "pi_nobodys", Reason: "a payment the order refused"})
	require.ErrorIs(t, err, payments.ErrNotTheOrders)
	assert.Contains(t, err.Error(), "it was made for no order of ours")

	assert.Len(t, mock.Requests("/v1/payment_intents/"), 2, "each intent read")
	assert.Empty(t, mock.Requests("/v1/refunds"), "nothing refunded at Stripe")
	nothingRefunded(ctx, t, pool, "ord-mine", "pi_theirs")
	nothingRefunded(ctx, t, pool, "ord-mine", "pi_nobodys")
}

// The simulator keeps no account of a payment's refunds: a refund it makes gives back
// what the order knows is still taken, the payment less the parts the order records
// refunded at the provider (dev mode takes Stripe's reports unsigned), and is recorded so.
func TestTheSimulatorGivesBackWhatTheOrderKnowsIsLeft(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{})
	require.NoError(t, refundIn(ctx, t, svc, pool, payment.Refund{OrderID: "ord-sim", PaymentID: "pi_sim", Amount: 100_00, Currency: "USD",
		Refunded: 30_00, Reason: "order cancelled"}))
	recs, err := eventstore.Load(ctx, pool, payment.StreamID("ord-sim"))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	var ev payment.Refunded
	require.NoError(t, json.Unmarshal(recs[0].Payload, &ev))
	assert.Equal(t, int64(70_00), ev.Amount)
	assert.Equal(t, "USD", ev.Currency)
	// The simulator gives back all that is left, so the payment is refunded in full now:
	// a part of it the order records only after it asked (its report came meanwhile) is
	// counted in that total, not again on top of it (recordRefund in the saga).
	assert.Equal(t, int64(100_00), ev.Total, "the whole payment is refunded with it")
	var amount int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT amount FROM payments.refunds WHERE payment_id = 'pi_sim'`).Scan(&amount))
	assert.Equal(t, int64(70_00), amount)
}

// A payment reported without its amount (a flat webhook that left it out), a part of it
// refunded at the provider, was refunded by the simulator with no amount said, and the
// order's ticket could not say what its rest was. It was paid at the order's session,
// which the service opened for its amount: that is the payment's, and the rest is it less
// the parts refunded. Paid at no session of the order's, its amount stays unsaid.
func TestARefundOfAPaymentReportedWithoutItsAmountCountsItFromItsSession(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{})
	now := time.Now()
	_, err := pool.Exec(ctx, `
		INSERT INTO payments.sessions (session_id, order_id, amount, currency, url, status, created_at, updated_at, expires_at)
		VALUES ('cs_unsaid', 'ord-unsaid', 10000, 'EUR', 'http://pay/cs_unsaid', 'expired', $1, $1, $2)`, now, now.Add(time.Hour))
	require.NoError(t, err)
	given := func(orderID string) payment.Refunded {
		t.Helper()
		recs, err := eventstore.Load(ctx, pool, payment.StreamID(orderID))
		require.NoError(t, err)
		require.Len(t, recs, 1)
		var ev payment.Refunded
		require.NoError(t, json.Unmarshal(recs[0].Payload, &ev))
		return ev
	}

	require.NoError(t, refundIn(ctx, t, svc, pool, payment.Refund{OrderID: "ord-unsaid", PaymentID: "pi_unsaid", SessionID: "cs_unsaid",
		Refunded: 30_00, Reason: "order cancelled"}))
	ev := given("ord-unsaid")
	assert.Equal(t, int64(70_00), ev.Amount, "the session's amount less the part refunded")
	assert.Equal(t, "EUR", ev.Currency)

	// Another order's session says nothing of this payment.
	require.NoError(t, refundIn(ctx, t, svc, pool, payment.Refund{OrderID: "ord-elsewhere", PaymentID: "pi_elsewhere", SessionID: "cs_unsaid",
		Refunded: 30_00, Reason: "order cancelled"}))
	assert.Zero(t, given("ord-elsewhere").Amount)
}
