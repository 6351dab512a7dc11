package payments

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/payments/stripemock"
)

// Stripe refuses some refunds for good: the payment is disputed (the card network decides
// where its money goes), Stripe has no such payment, the payment cannot be refunded, or
// not for that amount. Each was retried five times and dead-lettered, and nothing on the
// order said that its money was still taken. The command is answered with RefundRefused
// instead, once a payment, Stripe's message and code its reason, so that the saga opens a
// refund_refused ticket. What a later try or a person's fix may mend is no refusal: a key
// Stripe does not take (wrong, expired, of the other mode, without the permission), or a
// balance too low for now; the command fails, to be retried and then dead-lettered for a
// re-drive once it is mended, and nothing is recorded.
func TestStripesPermanentRefusalsOfARefundAreAnswered(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	mock := stripemock.Start(t)
	s := stripeService(pool, mock)
	handle := func(id string, r payment.Refund) func(ctx context.Context, tx pgx.Tx) error {
		return queued(s, command(t, id, payment.RefundName, r))
	}
	refund := func(orderID, paymentID string) payment.Refund {
		return payment.Refund{OrderID: orderID, PaymentID: paymentID, Amount: 100_00, Currency: "USD", Reason: "order cancelled"}
	}
	paid := func(orderID, paymentID string) {
		mock.PaymentIntent(paymentID, orderID)
		mock.Charge(paymentID, 100_00, 0, "usd")
	}
	bad := http.StatusBadRequest

	permanent := []struct {
		orderID, paymentID string
		read               bool // Stripe refuses to read the intent, not to refund it
		refusal            stripemock.Refusal
	}{
		{"o-disputed", "pi_disputed", false, stripemock.Refusal{Status: bad, Code: "charge_disputed", Message: "Charge ch_disputed has been charged back; cannot issue a refund."}},
		{"o-dispute", "pi_dispute", false, stripemock.Refusal{Status: bad, Code: "refund_disputed_payment", Message: "You cannot refund a disputed payment."}},
		{"o-gone", "pi_gone", true, stripemock.Refusal{Status: http.StatusNotFound, Code: "resource_missing", Message: "No such payment_intent: 'pi_gone'"}},
		{"o-no-charge", "pi_no_charge", false, stripemock.Refusal{Status: http.StatusNotFound, Code: "resource_missing", Message: "No such charge: 'ch_no_charge'"}},
		{"o-unrefundable", "pi_unrefundable", false, stripemock.Refusal{Status: bad, Code: "charge_not_refundable", Message: "This charge cannot be refunded."}},
		{"o-unpaid", "pi_unpaid", false, stripemock.Refusal{Status: bad, Code: "payment_intent_unexpected_state", Message: "This PaymentIntent (pi_unpaid) does not have a successful charge to refund."}},
		{"o-amount", "pi_amount", false, stripemock.Refusal{Status: bad, Code: "amount_too_large", Message: "Refund amount ($100.00) is greater than charge amount ($90.00)"}},
		{"o-small", "pi_small", false, stripemock.Refusal{Status: bad, Code: "amount_too_small", Message: "Amount must be at least $0.50 usd"}},
	}
	for i, c := range permanent {
		paid(c.orderID, c.paymentID)
		if c.read {
			mock.RefuseRead(c.paymentID, c.refusal)
		} else {
			mock.RefuseRefund(c.paymentID, c.refusal)
		}
		if i == 0 {
			// Asked again, Stripe is asked under the next key and refuses again: that key
			// is spent too, and nothing else changes.
			pgtest.HandleTwice(t, pool, "the refused refund again", handle("m-"+c.orderID, refund(c.orderID, c.paymentID)),
				"payments.spent_keys.spent", "payments.spent_keys.spent_at")
		} else {
			pgtest.Run(t, pool, handle("m-"+c.orderID, refund(c.orderID, c.paymentID)))
		}
		recs, err := eventstore.Load(ctx, pool, payment.StreamID(c.orderID))
		require.NoError(t, err)
		require.Len(t, recs, 1, "%s: answered once", c.refusal.Code)
		require.Equal(t, payment.RefundRefusedName, recs[0].Name)
		var ev payment.RefundRefused
		require.NoError(t, json.Unmarshal(recs[0].Payload, &ev))
		assert.Equal(t, c.paymentID, ev.PaymentID)
		assert.Contains(t, ev.Reason, c.refusal.Message, "Stripe's word for the ticket")
		assert.Contains(t, ev.Reason, c.refusal.Code)
		assert.Contains(t, ev.Reason, "nothing refunded")
		assert.Equal(t, c.refusal.Code == "charge_disputed" || c.refusal.Code == "refund_disputed_payment", ev.Disputed,
			"%s: a dispute is said, for the ticket to ask for it to be answered", c.refusal.Code)
	}

	transient := []struct {
		name, orderID, paymentID string
		read                     bool
		refusal                  stripemock.Refusal
	}{
		{"a wrong key", "o-key", "pi_key", true, stripemock.Refusal{Status: http.StatusUnauthorized, Message: "Invalid API Key provided: sk_test_****mill"}},
		{"an expired key", "o-expired", "pi_expired", false, stripemock.Refusal{Status: http.StatusUnauthorized, Code: "api_key_expired", Message: "Expired API Key provided: sk_test_****mill"}},
		{"a key without the permission", "o-restricted", "pi_restricted", false, stripemock.Refusal{Status: http.StatusForbidden,
			Message: "The provided key 'rk_test_****mill' does not have the required permissions for this endpoint on account 'acct_1'."}},
		{"a key of the other mode", "o-live", "pi_live", true, stripemock.Refusal{Status: http.StatusNotFound, Code: "resource_missing",
			Message: "No such payment_intent: 'pi_live'; a similar object exists in live mode, but a test mode key was used to make this request."}},
		{"a balance too low for now", "o-balance", "pi_balance", false, stripemock.Refusal{Status: bad, Code: "balance_insufficient",
			Message: "You have insufficient funds in your Stripe account for this refund."}},
	}
	for _, c := range transient {
		paid(c.orderID, c.paymentID)
		if c.read {
			mock.RefuseRead(c.paymentID, c.refusal)
		} else {
			mock.RefuseRefund(c.paymentID, c.refusal)
		}
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return handle("m-"+c.orderID, refund(c.orderID, c.paymentID))(ctx, tx) })
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.refusal.Message, c.name)
		assert.False(t, refusedForGood(err), "%s: retried, then dead-lettered for a re-drive: %v", c.name, err)
		recs, err := eventstore.Load(ctx, pool, payment.StreamID(c.orderID))
		require.NoError(t, err)
		assert.Empty(t, recs, "%s: nothing answered", c.name)
	}
	var refunds int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM payments.refunds`).Scan(&refunds))
	assert.Zero(t, refunds, "nothing refunded")
}

// Stripe keeps the first answer under an idempotency key for 24 h, a refusal (4xx)
// included: a refund refused for a balance too low, retried and then re-driven once the
// balance was topped up, was asked again under the same key and answered with the same
// refusal, at every try, until Stripe forgot the key a day later. A refusal Stripe keeps
// means it made nothing under the key, so the next try asks under the next one; a try
// after no answer, or after a lost commit, asks under the same key as the one before and
// finds the refund it made.
func TestARefundRefusedUntilMendedIsMadeOnceAskedAgain(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	mock := stripemock.Start(t)
	s := stripeService(pool, mock)
	r := payment.Refund{OrderID: "o-balance", PaymentID: "pi_balance", Amount: 100_00, Currency: "USD", Reason: "order cancelled"}
	handle := queued(s, command(t, "m-balance", payment.RefundName, r))
	try := func() error { return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return handle(ctx, tx) }) }
	mock.PaymentIntent(r.PaymentID, r.OrderID)
	mock.Charge(r.PaymentID, 100_00, 0, "usd")
	mock.RefuseRefund(r.PaymentID, stripemock.Refusal{Status: http.StatusBadRequest, Code: "balance_insufficient",
		Message: "You have insufficient funds in your Stripe account for this refund."})
	for range 2 { // tried again by the consumer before it is dead-lettered
		err := try()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "insufficient funds")
		assert.False(t, refusedForGood(err), "dead-lettered for a re-drive: %v", err)
	}

	mock.Mend(r.PaymentID) // the balance topped up, then the dead letter re-driven
	// The first try after it is made and its commit lost: the next asks as it did.
	lost := errors.New("commit lost")
	require.ErrorIs(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := handle(ctx, tx); err != nil {
			return err
		}
		return lost
	}), lost)
	require.NoError(t, try())

	calls := mock.Requests("/v1/refunds")
	require.Len(t, calls, 3, "two refused, one made: the try after the lost commit finds it on the charge")
	assert.NotEqual(t, calls[0].IdempotencyKey, calls[1].IdempotencyKey, "a retry after a kept refusal asks under a new key")
	made := calls[2]
	require.Equal(t, http.StatusOK, made.Status, "%s", made.Response)
	assert.NotContains(t, []string{calls[0].IdempotencyKey, calls[1].IdempotencyKey}, made.IdempotencyKey, "no key Stripe refused is asked again")
	var re struct{ ID string }
	require.NoError(t, json.Unmarshal(made.Response, &re))
	var refundID string
	require.NoError(t, pool.QueryRow(ctx, `SELECT refund_id FROM payments.refunds WHERE payment_id = $1`, r.PaymentID).Scan(&refundID))
	assert.Equal(t, re.ID, refundID, "the refund made is the one recorded")
	recs, err := eventstore.Load(ctx, pool, payment.StreamID(r.OrderID))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, payment.RefundedName, recs[0].Name)
}

// A Checkout Session Stripe refuses until a person mends the account (no payment method
// turned on for the currency) is opened when its command is re-driven after the mend:
// asked under the same key, Stripe answered with the refusal it kept for 24 h.
func TestASessionRefusedUntilMendedIsOpenedOnceAskedAgain(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	mock := stripemock.Start(t)
	s := stripeService(pool, mock)
	c := payment.CreateSession{OrderID: "o-methods", Amount: 12_345, Currency: "CHF", Lines: []payment.Line{{SKU: "A", Quantity: 1, UnitPrice: 12_345}}}
	try := func() error { return tryCommand(ctx, pool, s, command(t, "m-methods", payment.CreateSessionName, c)) }
	mock.RefuseSession(c.OrderID, stripemock.Refusal{Status: http.StatusBadRequest,
		Message: "No valid payment method types for this Checkout Session. Please ensure that you have activated payment methods compatible with your chosen currency in your dashboard."})
	err := try()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "No valid payment method types")

	mock.Mend(c.OrderID)
	require.NoError(t, try())
	sess, err := s.SessionByOrder(ctx, pool, c.OrderID)
	require.NoError(t, err)
	calls := mock.Requests("/v1/checkout/sessions")
	require.Len(t, calls, 2)
	assert.NotEqual(t, calls[0].IdempotencyKey, calls[1].IdempotencyKey)
	assert.Contains(t, string(calls[1].Response), sess.SessionID, "the session recorded is the one opened")
	recs, err := eventstore.Load(ctx, pool, payment.StreamID(c.OrderID))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, payment.SessionCreatedName, recs[0].Name)
}

// Stripe keeps its own failure (a 500, api_error) under the idempotency key as it keeps a
// refusal, and answers every repeat under it with that 500 (Idempotent-Replayed: true)
// for 24 h: a refund Stripe failed once was asked again under the same key at every try,
// as Stripe down, and failed so for a day although Stripe was well again a minute later.
// The first try after the 500 asks under the same key (the 500 may be one Stripe did not
// keep); answered with the 500 replayed, the key is spent, and the next try asks under
// the next one. A 503 of a gateway in front of the API is not kept: the key stays.
func TestARefundStripeFailedIsMadeOnceStripeIsWellAgain(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	mock := stripemock.Start(t)
	s := stripeService(pool, mock)
	try := func(r payment.Refund) error {
		return tryCommand(ctx, pool, s, command(t, "m-"+r.OrderID, payment.RefundName, r))
	}
	for _, c := range []struct {
		name    string
		failure stripemock.Refusal
		tries   int // that fail after Stripe is well again
		keys    int // the keys asked under
	}{
		{"a 500 Stripe keeps", stripemock.Refusal{Status: http.StatusInternalServerError, Type: "api_error", Message: "An unknown error occurred"}, 1, 2},
		{"a 503 before the API", stripemock.Refusal{Status: http.StatusServiceUnavailable, Type: "api_error", Message: "Service unavailable"}, 0, 1},
	} {
		r := payment.Refund{OrderID: "o-" + strconv.Itoa(c.failure.Status), PaymentID: "pi_" + strconv.Itoa(c.failure.Status), Amount: 100_00, Currency: "USD", Reason: "order cancelled"}
		mock.PaymentIntent(r.PaymentID, r.OrderID)
		mock.Charge(r.PaymentID, 100_00, 0, "usd")
		mock.RefuseRefund(r.PaymentID, c.failure)
		err := try(r)
		require.Error(t, err, c.name)
		assert.True(t, eventstore.IsOutage(err), "%s: Stripe down: %v", c.name, err)

		mock.Mend(r.PaymentID) // Stripe well again
		for i := range c.tries {
			err := try(r)
			require.Error(t, err, "%s: try %d", c.name, i+1)
			assert.True(t, eventstore.IsOutage(err), "%s: %v", c.name, err)
		}
		require.NoError(t, try(r), c.name)

		var calls []stripemock.Request
		keys := map[string]bool{}
		for _, call := range mock.Requests("/v1/refunds") {
			if call.Form.Get("payment_intent") == r.PaymentID {
				calls, keys[call.IdempotencyKey] = append(calls, call), true
			}
		}
		require.Len(t, calls, c.tries+2, c.name)
		assert.Equal(t, calls[0].IdempotencyKey, calls[1].IdempotencyKey, "%s: the first try after a 500 asks under the same key", c.name)
		assert.Len(t, keys, c.keys, c.name)
		made := calls[len(calls)-1]
		require.Equal(t, http.StatusOK, made.Status, "%s: %s", c.name, made.Response)
		var re struct{ ID string }
		require.NoError(t, json.Unmarshal(made.Response, &re))
		var refundID string
		require.NoError(t, pool.QueryRow(ctx, `SELECT refund_id FROM payments.refunds WHERE payment_id = $1`, r.PaymentID).Scan(&refundID))
		assert.Equal(t, re.ID, refundID, "%s: the refund made is the one recorded", c.name)
	}
}

// A 500 says nothing of what Stripe did: it may have made the refund before it failed.
// Whatever key the next try would ask under, it asks nothing: it reads the charge first,
// finds it refunded in full by the refund the order's metadata names (the refund asks for
// the rest), and records that one; nothing is refunded twice.
func TestARefundStripeMadeAndFailedIsNotMadeTwice(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	mock := stripemock.Start(t)
	s := stripeService(pool, mock)
	r := payment.Refund{OrderID: "o-made", PaymentID: "pi_made", Amount: 100_00, Currency: "USD", Reason: "order cancelled"}
	try := func() error { return tryCommand(ctx, pool, s, command(t, "m-made", payment.RefundName, r)) }
	mock.PaymentIntent(r.PaymentID, r.OrderID)
	mock.Charge(r.PaymentID, 100_00, 0, "usd")
	mock.RefuseRefund(r.PaymentID, stripemock.Refusal{Status: http.StatusInternalServerError, Type: "api_error", Message: "An unknown error occurred", Made: true})
	err := try()
	require.Error(t, err)
	assert.True(t, eventstore.IsOutage(err), "Stripe down: %v", err)
	require.NoError(t, try())

	require.Len(t, mock.Requests("/v1/refunds"), 1, "no refund asked again, under any key: the charge read shows the one made")
	var charge struct {
		LatestCharge struct {
			AmountRefunded int64 `json:"amount_refunded"`
			Refunds        struct {
				Data []struct{ ID string }
			}
		} `json:"latest_charge"`
	}
	reads := mock.Requests("/v1/payment_intents/" + r.PaymentID)
	require.NoError(t, json.Unmarshal(reads[len(reads)-1].Response, &charge))
	require.Len(t, charge.LatestCharge.Refunds.Data, 1, "refunded once")
	assert.Equal(t, int64(100_00), charge.LatestCharge.AmountRefunded)
	var refundID string
	var amount int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT refund_id, amount FROM payments.refunds WHERE payment_id = $1`, r.PaymentID).Scan(&refundID, &amount))
	assert.Equal(t, charge.LatestCharge.Refunds.Data[0].ID, refundID, "the refund Stripe made at its 500 is the one recorded")
	assert.Equal(t, int64(100_00), amount)
	recs, err := eventstore.Load(ctx, pool, payment.StreamID(r.OrderID))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, payment.RefundedName, recs[0].Name)
}

// A Checkout Session Stripe failed to open with a 500 it keeps under the key is opened
// under the next key once Stripe is well again, not a day later. A session Stripe made
// before failing is left to expire: its URL was given to nobody.
func TestASessionStripeFailedIsOpenedOnceStripeIsWellAgain(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	mock := stripemock.Start(t)
	s := stripeService(pool, mock)
	c := payment.CreateSession{OrderID: "o-failed", Amount: 12_345, Currency: "EUR", Lines: []payment.Line{{SKU: "A", Quantity: 1, UnitPrice: 12_345}}}
	try := func() error { return tryCommand(ctx, pool, s, command(t, "m-failed", payment.CreateSessionName, c)) }
	mock.RefuseSession(c.OrderID, stripemock.Refusal{Status: http.StatusInternalServerError, Type: "api_error", Message: "An unknown error occurred"})
	require.Error(t, try())
	mock.Mend(c.OrderID) // Stripe well again
	err := try()
	require.Error(t, err, "the 500 replayed")
	assert.True(t, eventstore.IsOutage(err), "Stripe down: %v", err)
	require.NoError(t, try())

	calls := mock.Requests("/v1/checkout/sessions")
	require.Len(t, calls, 3)
	assert.Equal(t, calls[0].IdempotencyKey, calls[1].IdempotencyKey, "the first try after a 500 asks under the same key")
	assert.NotEqual(t, calls[1].IdempotencyKey, calls[2].IdempotencyKey, "the 500 replayed spent it")
	sess, err := s.SessionByOrder(ctx, pool, c.OrderID)
	require.NoError(t, err)
	assert.Contains(t, string(calls[2].Response), sess.SessionID, "the session recorded is the one opened")
	recs, err := eventstore.Load(ctx, pool, payment.StreamID(c.OrderID))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, payment.SessionCreatedName, recs[0].Name)
}

// An expiry Stripe failed with a 500 it keeps under the key was asked again under that one
// key at every try, and failed so for a day: the order given up kept its session
// payable, and the order past its deadline waited for the answer to its expiry. As for a
// session or a refund, the first try after the 500 asks under the same key, meets the
// 500 replayed and spends the key, and the next one closes the session under the next.
func TestAnExpiryStripeFailedClosesTheSessionOnceStripeIsWellAgain(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	mock := stripemock.Start(t)
	s := stripeService(pool, mock)
	c := payment.CreateSession{OrderID: "o-expire", Amount: 12_345, Currency: "EUR", Lines: []payment.Line{{SKU: "A", Quantity: 1, UnitPrice: 12_345}}}
	require.NoError(t, tryCommand(ctx, pool, s, command(t, "m-open", payment.CreateSessionName, c)))
	sess, err := s.SessionByOrder(ctx, pool, c.OrderID)
	require.NoError(t, err)
	deadline := payment.ExpireSession{OrderID: c.OrderID, SessionID: sess.SessionID, AskedAt: sess.ExpiresAt}
	try := func() error {
		return tryCommand(ctx, pool, s, command(t, "m-expire", payment.ExpireSessionName, deadline))
	}
	mock.RefuseExpire(sess.SessionID, stripemock.Refusal{Status: http.StatusInternalServerError, Type: "api_error", Message: "An unknown error occurred"})
	err = try()
	require.Error(t, err)
	assert.True(t, eventstore.IsOutage(err), "Stripe down: %v", err)
	mock.Mend(sess.SessionID) // Stripe well again
	err = try()
	require.Error(t, err, "the 500 replayed")
	assert.True(t, eventstore.IsOutage(err), "Stripe down: %v", err)
	require.NoError(t, try())

	calls := mock.Requests("/v1/checkout/sessions/" + sess.SessionID + "/expire")
	require.Len(t, calls, 3)
	assert.Equal(t, calls[0].IdempotencyKey, calls[1].IdempotencyKey, "the first try after a 500 asks under the same key")
	assert.Equal(t, IdempotencyKeyAfter(ExpireIdempotencyKey(sess.SessionID), 1), calls[2].IdempotencyKey, "the 500 replayed spent it")
	assert.Equal(t, http.StatusOK, calls[2].Status, "%s", calls[2].Response)
	closed, err := s.SessionByOrder(ctx, pool, c.OrderID)
	require.NoError(t, err)
	assert.Equal(t, StatusExpired, closed.Status)
	recs, err := eventstore.Load(ctx, pool, payment.StreamID(c.OrderID))
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, payment.SessionExpiredName, recs[1].Name, "the deadline answered")
}

// stripeService is the payment service asking mock as it asks Stripe.
func stripeService(pool *pgxpool.Pool, mock *stripemock.Server) *Service {
	return New(pool, slog.New(slog.DiscardHandler), Config{Provider: NewStripe(StripeConfig{SecretKey: "sk_test_ordermill", APIBase: mock.URL, SuccessURL: "https://shop.example/paid"})})
}

// queued hands msgs to s's command consumer as one batch, on the consumer's pipeline.
func queued(s *Service, msgs ...*message.Message) func(ctx context.Context, tx pgx.Tx) error {
	return pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error { return s.handleCommands(ctx, tx, msgs) })
}

// tryCommand is one try of the consumer at msg: its batch in a transaction of its own.
func tryCommand(ctx context.Context, pool *pgxpool.Pool, s *Service, msg *message.Message) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return queued(s, msg)(ctx, tx) })
}
