package payments_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/payments"
)

// heldProvider is a provider over the network whose OpenSession, after the first, waits
// until released; its other calls answer at once (a session closed unpaid).
type heldProvider struct {
	opened  atomic.Int32
	opening chan struct{} // receives when a held OpenSession is called
	release chan struct{} // closed to let it answer
}

func (p *heldProvider) OpenSession(ctx context.Context, cmd payment.CreateSession, _ int) (payments.OpenedSession, error) {
	if p.opened.Add(1) > 1 {
		p.opening <- struct{}{}
		select {
		case <-p.release:
		case <-ctx.Done():
			return payments.OpenedSession{}, ctx.Err()
		}
	}
	return payments.OpenedSession{ID: "cs_" + cmd.OrderID, URL: "https://pay.example/" + cmd.OrderID}, nil
}

func (*heldProvider) Refund(context.Context, payment.Refund, int) (payments.GivenBack, error) {
	return payments.GivenBack{RefundID: "re_1"}, nil
}

func (*heldProvider) ExpireSession(context.Context, string, int) (payments.Paid, error) {
	return payments.Paid{}, nil
}

func (*heldProvider) Observe(_ context.Context, sess payments.Session) (payments.Session, error) {
	return sess, nil
}

// A provider over the network is never called from a transaction that holds a transaction
// id: a message becomes visible only once every older transaction has ended, so a call
// made after a write would hold back every topic's new messages for as long as the
// provider takes (seconds, for Stripe). A session closed for its order's deadline writes
// and reads (its answer) before the next command of the batch opened a session at the
// provider, with the first's id held (a review).
func TestAProviderIsNotCalledWhileTheLogIsHeldBack(t *testing.T) {
	p := &heldProvider{opening: make(chan struct{}, 1), release: make(chan struct{})}
	svc, pool := newService(t, payments.Config{Provider: p})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// An open session for the order whose deadline passed, then both commands at once.
	closing := payment.CreateSession{OrderID: "ord-late", Amount: 500, Currency: "EUR"}
	_, _, err := createInTx(ctx, pool, svc, closing)
	require.NoError(t, err)
	var sessionID string
	require.NoError(t, pool.QueryRow(ctx, `SELECT session_id FROM payments.sessions WHERE order_id = 'ord-late'`).Scan(&sessionID))
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	meta := eventstore.Metadata{Actor: "saga"}
	require.NoError(t, eventstore.Send(ctx, tx, payment.CommandsTopic, meta, eventstore.Message{Name: payment.ExpireSessionName,
		Data: payment.ExpireSession{OrderID: "ord-late", SessionID: sessionID, AskedAt: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}}))
	require.NoError(t, eventstore.Send(ctx, tx, payment.CommandsTopic, meta, eventstore.Message{Name: payment.CreateSessionName,
		Data: payment.CreateSession{OrderID: "ord-next", Amount: 700, Currency: "EUR"}}))
	require.NoError(t, tx.Commit(ctx))

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	require.NoError(t, svc.RegisterConsumers(log, router))
	go func() { _ = router.Run(ctx) }()
	defer func() { require.NoError(t, router.Close()) }()

	select {
	case <-p.opening:
	case <-ctx.Done():
		t.Fatal("the provider was never asked for the second order's session")
	}
	var holding int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()`).Scan(&holding))
	close(p.release)
	require.Zero(t, holding, "a transaction holds an id while the provider is called")

	// Both commands were handled: the deadline's answer and the new session.
	require.Eventually(t, func() bool {
		var n int
		return pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE event_name IN ($1, $2)`,
			payment.SessionExpiredName, payment.SessionCreatedName).Scan(&n) == nil && n == 3
	}, 30*time.Second, 10*time.Millisecond)
}
