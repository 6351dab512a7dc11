package payments

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/payments/stripemock"
)

func command(t *testing.T, id, name string, data any) *message.Message {
	t.Helper()
	raw, err := json.Marshal(data)
	require.NoError(t, err)
	msg := message.NewMessage(id, raw)
	msg.Metadata.Set("name", name)
	return msg
}

// Each payment command handled a second time (the log redelivers it) changes nothing: no
// second session, no second refund, no second event.
func TestCommandsHandledTwiceChangeNothing(t *testing.T) {
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	for _, c := range []struct {
		name string
		msg  *message.Message
	}{
		{"a session", command(t, "m-1", payment.CreateSessionName, payment.CreateSession{OrderID: "o-1", Amount: 12_345, Currency: "EUR", CustomerEmail: "ann@example.com",
			Lines: []payment.Line{{SKU: "A", Quantity: 1, UnitPrice: 12_345}}})},
		{"a refund", command(t, "m-2", payment.RefundName, payment.Refund{OrderID: "o-1", PaymentID: "pi_1", Amount: 12_345, Currency: "EUR", Reason: "cancelled"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			// As the consumer runs it (eventstore.QueueWrites): its writes queued until the commit.
			pgtest.HandleTwice(t, pool, c.name, pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error {
				return s.handleCommands(ctx, tx, []*message.Message{c.msg})
			}))
		})
	}
}

// A batch of commands reads its orders' sessions in one round trip and writes with the
// commit: two round trips however many commands, and a command repeated in the same batch
// still finds the session the first one opened.
func TestABatchOfSessionCommandsCostsTwoRoundTrips(t *testing.T) {
	pool := pgtest.Pool(t)
	counted, trips := pgtest.CountingPool(t, pool)
	s := New(counted, slog.New(slog.DiscardHandler), Config{})
	create := func(id, orderID string) *message.Message {
		return command(t, id, payment.CreateSessionName, payment.CreateSession{OrderID: orderID, Amount: 500, Currency: "EUR",
			CustomerEmail: "ann@example.com", Lines: []payment.Line{{SKU: "A", Quantity: 1, UnitPrice: 500}}})
	}
	batch := func(msgs ...*message.Message) {
		t.Helper()
		pgtest.Run(t, counted, queued(s, msgs...))
	}
	batch(create("w-1", "warm-1")) // statements prepared
	trips.Reset()
	batch(create("m-1", "o-1"), create("m-2", "o-2"), create("m-3", "o-3"), create("m-4", "o-4"), create("m-5", "o-1"))
	// BEGIN, the sessions' read, the writes, COMMIT.
	require.EqualValues(t, 4, trips.Count())
	var sessions, events int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM payments.sessions WHERE order_id LIKE 'o-%'`).Scan(&sessions))
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE stream_type = $1 AND stream_id LIKE '%o-%'`, payment.StreamType).Scan(&events))
	require.Equal(t, 4, sessions)
	require.Equal(t, 4, events)
}

// An order given up has its open session closed, once however often the command comes,
// as the consumer runs it; a session the customer paid meanwhile stays paid (its payment
// is refunded by the saga), and the simulator then refuses to pay the closed one.
func TestExpireSessionClosesOnlyAnOpenSession(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	create := func(orderID string) Session {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		sess, _, err := s.CreateSession(ctx, tx, payment.CreateSession{OrderID: orderID, Amount: 500, Currency: "EUR"})
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
		return sess
	}
	given, paid := create("o-given-up"), create("o-paid")
	_, err := pool.Exec(ctx, `UPDATE payments.sessions SET status = 'completed' WHERE session_id = $1`, paid.SessionID)
	require.NoError(t, err)

	expire := func(sess Session) func(ctx context.Context, tx pgx.Tx) error {
		msg := command(t, "m-"+sess.OrderID, payment.ExpireSessionName, payment.ExpireSession{OrderID: sess.OrderID, SessionID: sess.SessionID})
		return queued(s, msg)
	}
	pgtest.HandleTwice(t, pool, "expire an open session", expire(given))
	require.False(t, pgtest.Redelivered(t, pool, "expire a paid session", expire(paid)), "a paid session stays as it is")
	status := func(sess Session) string {
		got, err := sessionWhere(ctx, pool, "session_id", sess.SessionID, false)
		require.NoError(t, err)
		return got.Status
	}
	require.Equal(t, StatusExpired, status(given))
	require.Equal(t, payment.StatusCompleted, status(paid))
	_, _, err = s.settle(ctx, ProcessRequest{OrderID: given.OrderID, Outcome: payment.StatusCompleted})
	require.Equal(t, apperr.CodeConflict, apperr.ErrorCode(err), "the simulator does not pay a closed session: %v", err)
}

// A session closed at its order's payment deadline is answered for (ExpireSession.AskedAt):
// SessionExpired, once however often the command comes, so that the saga cancels the
// order only once the session can no longer be paid. A close without the question (an
// order given up) reports nothing.
func TestASessionClosedForItsDeadlineIsReportedExpiredOnce(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	for _, orderID := range []string{"o-deadline", "o-given-up"} {
		pgtest.Run(t, pool, pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error {
			return s.handleCommands(ctx, tx, []*message.Message{command(t, "m-open-"+orderID, payment.CreateSessionName, payment.CreateSession{OrderID: orderID, Amount: 500, Currency: "EUR"})})
		}))
		var session string
		require.NoError(t, pool.QueryRow(ctx, `SELECT session_id FROM payments.sessions WHERE order_id = $1`, orderID).Scan(&session))
		var asked time.Time
		if orderID == "o-deadline" {
			asked = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
		}
		expire := command(t, "m-expire-"+orderID, payment.ExpireSessionName, payment.ExpireSession{OrderID: orderID, SessionID: session, AskedAt: asked})
		pgtest.HandleTwice(t, pool, "the expiry again", pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error {
			return s.handleCommands(ctx, tx, []*message.Message{expire})
		}))
	}
	// The question asked again (its answer lost: an orders process of an earlier release
	// left it unread) is answered again.
	var session string
	require.NoError(t, pool.QueryRow(ctx, `SELECT session_id FROM payments.sessions WHERE order_id = 'o-deadline'`).Scan(&session))
	again := command(t, "m-expire-again", payment.ExpireSessionName, payment.ExpireSession{OrderID: "o-deadline", SessionID: session,
		AskedAt: time.Date(2026, 12, 7, 12, 10, 0, 0, time.UTC)})
	pgtest.Run(t, pool, pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error {
		return s.handleCommands(ctx, tx, []*message.Message{again})
	}))
	var reported []string
	rows, err := pool.Query(ctx, `SELECT payload->>'orderId' FROM events WHERE event_name = $1`, payment.SessionExpiredName)
	require.NoError(t, err)
	reported, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"o-deadline", "o-deadline"}, reported, "answered once a question, and only when asked")
}

// A session command the contract refuses (an order an earlier release accepted) is
// answered with SessionRefused, once however often it comes, so that the saga cancels the
// order rather than leave it waiting for its deadline; it was dead-lettered. One for an
// order whose session is open is answered already, and one naming no order cannot be
// answered: it fails, for the dead letters.
func TestARefusedSessionCommandIsAnsweredOnce(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	handle := func(msg *message.Message) func(ctx context.Context, tx pgx.Tx) error {
		return queued(s, msg)
	}
	refused := payment.CreateSession{OrderID: "o-refused", Amount: 500, Currency: "EUR", CustomerEmail: "ann.example.com"}
	pgtest.HandleTwice(t, pool, "the refused command again", handle(command(t, "m-refused", payment.CreateSessionName, refused)))
	pgtest.Run(t, pool, handle(command(t, "m-refused-by-hand", payment.CreateSessionName, refused)))

	pgtest.Run(t, pool, handle(command(t, "m-open", payment.CreateSessionName, payment.CreateSession{OrderID: "o-open", Amount: 500, Currency: "EUR"})))
	pgtest.Run(t, pool, handle(command(t, "m-open-refused", payment.CreateSessionName, payment.CreateSession{OrderID: "o-open", Amount: -1, Currency: "EUR"})))

	noOrder := handle(command(t, "m-no-order", payment.CreateSessionName, payment.CreateSession{Amount: 500, Currency: "EUR"}))
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return noOrder(ctx, tx) })
	assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err), "dead-lettered at once: %v", err)

	rows, err := pool.Query(ctx, `SELECT stream_id, event_name, payload::text FROM events WHERE stream_type = $1 ORDER BY position`, payment.StreamType)
	require.NoError(t, err)
	type event struct{ Stream, Name, Payload string }
	events, err := pgx.CollectRows(rows, pgx.RowToStructByPos[event])
	require.NoError(t, err)
	require.Len(t, events, 2, "a refusal, and the open order's session: %v", events)
	assert.Equal(t, payment.StreamID("o-refused"), events[0].Stream)
	assert.Equal(t, payment.SessionRefusedName, events[0].Name)
	assert.JSONEq(t, `{"orderId":"o-refused","reason":"customerEmail \"ann.example.com\" is not an email address"}`, events[0].Payload)
	assert.Equal(t, payment.SessionCreatedName, events[1].Name)
	var sessions int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM payments.sessions WHERE order_id = 'o-refused'`).Scan(&sessions))
	assert.Zero(t, sessions, "nothing to pay")
}

// A valid session command for an order whose command was refused before (a corrected
// command an operator writes by hand) opens the session, its event after the refusal on
// the order's payment stream, whether it comes alone, in the refusal's batch, or through
// a caller's own transaction. It was appended where the refusal stood, met it at every
// try and was dead-lettered after five. A refused command that comes again afterwards is
// answered already.
func TestAValidSessionCommandAfterARefusalOpensTheSession(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	handle := func(msgs ...*message.Message) func(ctx context.Context, tx pgx.Tx) error {
		return queued(s, msgs...)
	}
	refused := func(orderID string) payment.CreateSession {
		return payment.CreateSession{OrderID: orderID, Amount: 500, Currency: "EUR", CustomerEmail: "ann.example.com"}
	}
	valid := func(orderID string) payment.CreateSession {
		return payment.CreateSession{OrderID: orderID, Amount: 500, Currency: "EUR", CustomerEmail: "ann@example.com"}
	}
	pgtest.Run(t, pool, handle(command(t, "m-refused", payment.CreateSessionName, refused("o-alone"))))
	pgtest.HandleTwice(t, pool, "the corrected command", handle(command(t, "m-by-hand", payment.CreateSessionName, valid("o-alone"))))
	pgtest.Run(t, pool, handle(command(t, "m-refused-again", payment.CreateSessionName, refused("o-alone"))))

	pgtest.Run(t, pool, handle(command(t, "m-batch-refused", payment.CreateSessionName, refused("o-batch")),
		command(t, "m-batch-by-hand", payment.CreateSessionName, valid("o-batch"))))

	pgtest.Run(t, pool, handle(command(t, "m-call-refused", payment.CreateSessionName, refused("o-call"))))
	pgtest.Run(t, pool, func(ctx context.Context, tx pgx.Tx) error {
		_, created, err := s.CreateSession(ctx, tx, valid("o-call"))
		assert.True(t, created)
		return err
	})

	for _, orderID := range []string{"o-alone", "o-batch", "o-call"} {
		recs, err := eventstore.Load(ctx, pool, payment.StreamID(orderID))
		require.NoError(t, err)
		var names []string
		for i, rec := range recs {
			assert.Equal(t, i+1, rec.Version)
			names = append(names, rec.Name)
		}
		assert.Equal(t, []string{payment.SessionRefusedName, payment.SessionCreatedName}, names, orderID)
		var sessions int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM payments.sessions WHERE order_id = $1`, orderID).Scan(&sessions))
		assert.Equal(t, 1, sessions, orderID)
	}
}

// A refund command the contract refuses (a payment made for another order, or a command
// it cannot take) is answered with RefundRefused, once a payment however often it comes,
// so that the saga opens a ticket on the order: it was dead-lettered, and the money
// stayed taken, with nothing on the order to say so, until a person found the dead
// letter. A corrected command for the same payment is carried out after it, and one
// naming no order cannot be answered: it fails, for the dead letters.
func TestARefusedRefundCommandIsAnsweredOnceAPayment(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	now := time.Now()
	_, err := pool.Exec(ctx, `
		INSERT INTO payments.sessions (session_id, order_id, amount, currency, url, status, payment_id, created_at, updated_at, expires_at)
		VALUES ('cs_paid', 'o-paid', 5000, 'USD', 'http://pay/cs_paid', 'completed', 'pi_paid', $1, $1, $2)`, now, now.Add(time.Hour))
	require.NoError(t, err)
	handle := func(msg *message.Message) func(ctx context.Context, tx pgx.Tx) error {
		return queued(s, msg)
	}
	theirs := payment.Refund{OrderID: "o-asks", PaymentID: "pi_paid", Amount: 5000, Currency: "USD", Reason: "a payment the order refused"}
	pgtest.HandleTwice(t, pool, "the refused refund again", handle(command(t, "m-theirs", payment.RefundName, theirs)))
	pgtest.Run(t, pool, handle(command(t, "m-theirs-by-hand", payment.RefundName, theirs)))
	invalid := payment.Refund{OrderID: "o-asks", PaymentID: "pi_mine", Amount: -5, Currency: "USD", Reason: "order cancelled"}
	pgtest.Run(t, pool, handle(command(t, "m-invalid", payment.RefundName, invalid)))
	pgtest.Run(t, pool, handle(command(t, "m-corrected", payment.RefundName, payment.Refund{OrderID: "o-asks", PaymentID: "pi_mine", Reason: "order cancelled"})))
	pgtest.Run(t, pool, handle(command(t, "m-invalid-again", payment.RefundName, invalid)))

	noOrder := handle(command(t, "m-no-order", payment.RefundName, payment.Refund{PaymentID: "pi_nobodys"}))
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return noOrder(ctx, tx) })
	assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err), "dead-lettered at once: %v", err)

	recs, err := eventstore.Load(ctx, pool, payment.StreamID("o-asks"))
	require.NoError(t, err)
	require.Len(t, recs, 3, "a refusal a payment, and the corrected refund: %v", recs)
	assert.Equal(t, payment.RefundRefusedName, recs[0].Name)
	assert.JSONEq(t, `{"orderId":"o-asks","paymentId":"pi_paid","reason":"it was made for order o-paid; nothing refunded"}`, string(recs[0].Payload))
	assert.Equal(t, payment.RefundRefusedName, recs[1].Name)
	assert.JSONEq(t, `{"orderId":"o-asks","paymentId":"pi_mine","reason":"amount must not be negative, got -5"}`, string(recs[1].Payload))
	assert.Equal(t, payment.RefundedName, recs[2].Name)
	var refunded []string
	rows, err := pool.Query(ctx, `SELECT payment_id FROM payments.refunds ORDER BY payment_id`)
	require.NoError(t, err)
	refunded, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"pi_mine"}, refunded, "the other order's payment is not given back")
}

// A session the simulator settled paid while the orders service could not be told (its
// webhook refused, never sent again) is found paid when the order, given up, has it
// closed: SessionFoundPaid tells the saga, which refunds it, once however often the
// command comes. It was recorded "expired" in the log, and the money kept.
func TestASessionTheSimulatorSettledIsFoundPaidWhenClosed(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	pgtest.Run(t, pool, pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error {
		return s.handleCommands(ctx, tx, []*message.Message{command(t, "m-open", payment.CreateSessionName, payment.CreateSession{OrderID: "o-unheard", Amount: 500, Currency: "EUR"})})
	}))
	wh, _, err := s.settle(ctx, ProcessRequest{OrderID: "o-unheard", Outcome: payment.StatusCompleted})
	require.NoError(t, err, "paid at the checkout page; its webhook never reaches the orders service")

	expire := command(t, "m-expire", payment.ExpireSessionName, payment.ExpireSession{OrderID: "o-unheard", SessionID: wh.SessionID})
	pgtest.HandleTwice(t, pool, "the expiry again", pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error {
		return s.handleCommands(ctx, tx, []*message.Message{expire})
	}))
	rows, err := pool.Query(ctx, `SELECT payload->>'paymentId', (payload->>'amount')::bigint FROM events WHERE stream_id = $1 AND event_name = $2`,
		payment.StreamID("o-unheard"), payment.SessionFoundPaidName)
	require.NoError(t, err)
	type found struct {
		PaymentID string
		Amount    int64
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[found])
	require.NoError(t, err)
	assert.Equal(t, []found{{wh.PaymentID, 500}}, got, "reported once, with its payment")
}

// The session of an order given up that Stripe shows paid (the customer paid, its webhook
// late or lost) is recorded completed with its payment, not "expired", and
// SessionFoundPaid tells the saga, which refunds it, once however often the command comes:
// the money stayed taken before, with nothing in Ordermill to show it, until Stripe's
// webhook came, if it ever did.
func TestASessionFoundPaidWhenClosedIsReportedOnce(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	mock := stripemock.Start(t)
	s := stripeService(pool, mock)
	run := func(msg *message.Message) {
		pgtest.Run(t, pool, queued(s, msg))
	}
	run(command(t, "m-open", payment.CreateSessionName, payment.CreateSession{OrderID: "o-paid-late", Amount: 500, Currency: "EUR"}))
	var session string
	require.NoError(t, pool.QueryRow(ctx, `SELECT session_id FROM payments.sessions WHERE order_id = 'o-paid-late'`).Scan(&session))
	mock.CheckoutSession(session, "complete", "paid", "pi_paid_late")

	expire := command(t, "m-expire", payment.ExpireSessionName, payment.ExpireSession{OrderID: "o-paid-late", SessionID: session})
	pgtest.HandleTwice(t, pool, "the expiry again", pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error {
		return s.handleCommands(ctx, tx, []*message.Message{expire})
	}))
	calls := mock.Requests("/v1/checkout/sessions/" + session + "/expire")
	require.NotEmpty(t, calls)
	require.Equal(t, 400, calls[0].Status, "Stripe refuses to expire a paid session")

	var status, paymentID string
	require.NoError(t, pool.QueryRow(ctx, `SELECT status, payment_id FROM payments.sessions WHERE order_id = 'o-paid-late'`).Scan(&status, &paymentID))
	assert.Equal(t, []string{payment.StatusCompleted, "pi_paid_late"}, []string{status, paymentID})
	rows, err := pool.Query(ctx, `SELECT payload->>'paymentId' FROM events WHERE stream_id = $1 AND event_name = $2`, payment.StreamID("o-paid-late"), payment.SessionFoundPaidName)
	require.NoError(t, err)
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"pi_paid_late"}, found, "reported once")
}
