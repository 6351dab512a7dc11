package payments_test

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

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/payments"
)

var cmd = payment.CreateSession{OrderID: "ord-1", Amount: 12_345, Currency: "EUR", CustomerEmail: "ann@example.com"}

func createInTx(ctx context.Context, pool *pgxpool.Pool, svc *payments.Service, c payment.CreateSession) (payments.Session, bool, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return payments.Session{}, false, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sess, created, err := svc.CreateSession(ctx, tx, c)
	if err != nil {
		return sess, created, err
	}
	return sess, created, tx.Commit(ctx)
}

func sessionEvents(t *testing.T, ctx context.Context, pool *pgxpool.Pool, orderID string) []payment.SessionCreated {
	t.Helper()
	recs, err := eventstore.Load(ctx, pool, payment.StreamID(orderID))
	require.NoError(t, err)
	var out []payment.SessionCreated
	for _, r := range recs {
		require.Equal(t, payment.SessionCreatedName, r.Name)
		require.Equal(t, payment.StreamType, r.StreamType)
		var ev payment.SessionCreated
		require.NoError(t, json.Unmarshal(r.Payload, &ev))
		out = append(out, ev)
	}
	return out
}

func TestCreateSessionIsAtMostOncePerOrder(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{})

	first, created, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Regexp(t, `^cs_[A-Z2-7]{26}$`, first.SessionID)
	assert.Equal(t, "http://localhost:3002/pay/"+first.SessionID, first.URL)
	assert.Equal(t, payments.StatusOpen, first.Status)
	assert.Equal(t, payment.SessionTTL, first.ExpiresAt.Sub(first.CreatedAt))

	again := cmd
	again.Amount = 999 // a differing retry still gets the first session, never a second one
	second, created, err := createInTx(ctx, pool, svc, again)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first, second)

	assert.Equal(t, []payment.SessionCreated{{
		OrderID: "ord-1", SessionID: first.SessionID, URL: first.URL,
		Amount: 12_345, Currency: "EUR", ExpiresAt: first.ExpiresAt,
	}}, sessionEvents(t, ctx, pool, "ord-1"))
}

// A session expires when its order stops waiting for the payment, if that comes before
// the provider's 24 hours (PAYMENT_TIMEOUT=20s, say): the order shows that time as due, and
// the simulator refuses to take money past it. A later deadline leaves the 24 hours.
func TestASessionExpiresAtItsOrdersPaymentDeadline(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{})
	soon := cmd
	soon.PayBy = time.Now().Add(20 * time.Second).UTC().Truncate(time.Microsecond)
	sess, _, err := createInTx(ctx, pool, svc, soon)
	require.NoError(t, err)
	assert.Equal(t, soon.PayBy, sess.ExpiresAt)
	events := sessionEvents(t, ctx, pool, "ord-1")
	require.Len(t, events, 1)
	assert.Equal(t, soon.PayBy, events[0].ExpiresAt, "the order records it as its payment's due date")

	late := cmd
	late.OrderID, late.PayBy = "ord-2", time.Now().Add(48*time.Hour)
	sess, _, err = createInTx(ctx, pool, svc, late)
	require.NoError(t, err)
	assert.Equal(t, payment.SessionTTL, sess.ExpiresAt.Sub(sess.CreatedAt))
}

func TestConcurrentCreateSessionOpensOneSession(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{})

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
			sess, c, err := createInTx(ctx, pool, svc, cmd)
			ids[i], errs[i] = sess.SessionID, err
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
	assert.Len(t, sessionEvents(t, ctx, pool, "ord-1"), 1)
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM payments.sessions`).Scan(&rows))
	assert.Equal(t, 1, rows)
}

// A command sent on the log opens the session and announces it on payment_events; an
// unknown command before it is acked, not dead-lettered, and does not block it.
func TestCreateSessionCommandOverTheLog(t *testing.T) {
	svc, pool := newService(t, payments.Config{})
	// Cancelled before the pool's cleanup closes it, which waits for the listener's connection.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	meta := eventstore.Metadata{CorrelationID: "corr-1", Actor: "saga"}
	require.NoError(t, eventstore.Send(ctx, tx, payment.CommandsTopic, meta, eventstore.Message{Name: "payments.refund.v9", Data: map[string]string{"orderId": "ord-1"}}))
	require.NoError(t, eventstore.Send(ctx, tx, payment.CommandsTopic, meta, eventstore.Message{Name: payment.CreateSessionName, Data: cmd}))
	require.NoError(t, tx.Commit(ctx))

	got := pgtest.FirstEvent(t, ctx, pool, svc.RegisterConsumers, eventstore.EventsTopic(payment.StreamType), payment.SessionCreatedName)

	sess, err := svc.SessionByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, int64(12_345), sess.Amount)
	assert.Equal(t, "ann@example.com", sess.CustomerEmail)
	assert.Equal(t, payment.StreamID("ord-1"), got.StreamID)
	assert.Equal(t, "corr-1", got.Metadata.CorrelationID, "the command's correlation id carries over")
	var ev payment.SessionCreated
	require.NoError(t, json.Unmarshal(got.Payload, &ev))
	assert.Equal(t, sess.SessionID, ev.SessionID)
	var dead int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&dead))
	assert.Zero(t, dead)
}
