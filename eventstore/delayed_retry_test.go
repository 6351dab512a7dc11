package eventstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A deadline whose handler fails is retried after a backoff that grows with each failure,
// not at once: it is scheduled again, due later, in the transaction that gives up the
// failed attempt. Once the handler works again it is handled exactly once; one that keeps
// failing ends in the dead letters after the last attempt.
func TestFailingDeadlineIsRetriedWithBackoffThenDeadLettered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE handled (name TEXT)`)
	require.NoError(t, err)
	const backoff = 100 * time.Millisecond
	logs := watermill.NewCaptureLogger()
	log := eventstore.NewLog(pool, logs, eventstore.LogConfig{
		RetryBackoff: backoff, MaxRetryBackoff: time.Second, DuePollInterval: 10 * time.Millisecond,
	})
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)

	var mu sync.Mutex
	tries := map[string][]time.Time{}
	done := make(chan struct{})
	require.NoError(t, log.ConsumeDue(router, "retry-check", "order_deadlines", func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
		name := msg.Metadata.Get("name")
		mu.Lock()
		tries[name] = append(tries[name], time.Now())
		n := len(tries[name])
		mu.Unlock()
		if _, err := tx.Exec(ctx, `INSERT INTO handled VALUES ($1)`, name); err != nil {
			return err
		}
		if name == "poison" || n < 3 { // the flag flips on the third attempt
			return errors.New("not yet")
		}
		close(done)
		return nil
	}))
	for _, name := range []string{"healed", "poison"} {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return eventstore.Schedule(ctx, tx, "order_deadlines", time.Now(), name, eventstore.Metadata{CorrelationID: name}, eventstore.Message{Name: name, Data: map[string]string{}})
		}))
	}
	go func() { _ = router.Run(ctx) }()
	defer router.Close()
	<-done
	require.Eventually(t, func() bool {
		var dead int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters WHERE consumer_group = 'retry-check'`).Scan(&dead)
		return err == nil && dead == 1
	}, 30*time.Second, 20*time.Millisecond, "the poison deadline never reached the dead letters")
	require.NoError(t, router.Close())
	// Its line names its order, as a batch consumer's dead letter's does (it had none).
	var lines []watermill.LogFields
	for _, c := range logs.Captured()[watermill.ErrorLogLevel] {
		if c.Msg == logging.DeadLettered {
			lines = append(lines, c.Fields)
		}
	}
	require.Len(t, lines, 1)
	assert.Equal(t, "poison", lines[0]["order_id"])
	assert.Equal(t, "retry-check", lines[0]["consumer_group"])

	mu.Lock()
	defer mu.Unlock()
	healed := tries["healed"]
	require.Len(t, healed, 3, "two failures, then handled once")
	assert.GreaterOrEqual(t, healed[1].Sub(healed[0]), backoff, "the first retry waits the backoff")
	assert.GreaterOrEqual(t, healed[2].Sub(healed[1]), 2*backoff, "the second waits twice as long")
	assert.Len(t, tries["poison"], eventstore.DefaultMaxAttempts, "a poison deadline is tried the attempts allowed, then dead-lettered")

	var kept []string
	rows, err := pool.Query(ctx, `SELECT name FROM handled`)
	require.NoError(t, err)
	kept, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"healed"}, kept, "failed attempts leave no writes; the one that worked commits once")
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM "watermill_order_deadlines" WHERE NOT acked`).Scan(&pending))
	assert.Zero(t, pending, "no copy is left behind")
}

// A deadline re-driven from the dead letters gets its retries again: it kept the count of
// the attempts that dead-lettered it, and failed for good at its first try (a review).
func TestARedrivenDeadlineIsRetriedAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 10 * time.Millisecond, DuePollInterval: 10 * time.Millisecond,
	})
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	var tries atomic.Int32
	require.NoError(t, log.ConsumeDue(router, "redrive-check", "order_deadlines", func(context.Context, pgx.Tx, *message.Message) error {
		tries.Add(1)
		return errors.New("not yet")
	}))
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return eventstore.Schedule(ctx, tx, "order_deadlines", time.Now(), "", eventstore.Metadata{CorrelationID: "o-1"}, eventstore.Message{Name: "poison", Data: map[string]string{}})
	}))
	go func() { _ = router.Run(ctx) }()
	defer router.Close()
	letters := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters WHERE consumer_group = 'redrive-check'`).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return letters() == 1 }, 30*time.Second, 10*time.Millisecond)
	first := tries.Load()
	_, err = eventstore.Redrive(ctx, pool, eventstore.RedriveFilter{Topic: "order_deadlines", By: "ops"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return letters() == 2 }, 30*time.Second, 10*time.Millisecond)
	assert.Equal(t, first, tries.Load()-first, "as many tries after the re-drive as before")
}

// What a deadline's handler gives OnCommit runs once its transaction has committed: it
// ran as the handler returned, before watermill-sql committed, so a consumer woken then
// found nothing, and a commit that failed had been counted (a review).
func TestADeadlinesOnCommitRunsOnceCommitted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE handled (name TEXT)`)
	require.NoError(t, err)
	visible := make(chan bool, 1)
	consumeADeadline(ctx, t, pool, "commit-check", func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
		if _, err := tx.Exec(ctx, `INSERT INTO handled VALUES ($1)`, msg.Metadata.Get("name")); err != nil {
			return err
		}
		eventstore.OnCommit(ctx, func() {
			var n int
			visible <- pool.QueryRow(context.Background(), `SELECT count(*) FROM handled`).Scan(&n) == nil && n == 1
		})
		return nil
	})
	select {
	case ok := <-visible:
		assert.True(t, ok, "the hook saw the handler's write committed")
	case <-ctx.Done():
		t.Fatal("the hook never ran")
	}
}

// A deadline is counted fired once its transaction commits: a commit that failed had
// counted it already, and its redelivery, which fires it, counted it again (a probe).
func TestADeadlineIsCountedOnceItCommits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	// A deferred constraint fails the first delivery's COMMIT, after its handler returned.
	_, err := pool.Exec(ctx, `CREATE TABLE handled (name TEXT, CONSTRAINT once UNIQUE (name) DEFERRABLE INITIALLY DEFERRED)`)
	require.NoError(t, err)
	var deliveries atomic.Int32
	committed := make(chan struct{}, 1)
	log := consumeADeadline(ctx, t, pool, "count-check", func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
		rows := `INSERT INTO handled VALUES ('due')`
		if deliveries.Add(1) == 1 {
			rows = `INSERT INTO handled VALUES ('due'), ('due')`
		}
		if _, err := tx.Exec(ctx, rows); err != nil {
			return err
		}
		eventstore.OnCommit(ctx, func() { committed <- struct{}{} })
		return nil
	})
	select {
	case <-committed:
	case <-ctx.Done():
		t.Fatal("the deadline never committed")
	}
	require.GreaterOrEqual(t, deliveries.Load(), int32(2), "the first delivery's commit failed")
	reg := prometheus.NewRegistry()
	reg.MustRegister(log.Collectors()...)
	require.Eventually(t, func() bool { return gathered(t, reg, "ordermill_deadlines_fired_total", "due") >= 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1.0, gathered(t, reg, "ordermill_deadlines_fired_total", "due"))
	assert.Equal(t, 1.0, gathered(t, reg, "ordermill_messages_handled_total", "count-check", "handled"))
}

// consumeADeadline runs handler, as group's, on the delayed queue of a log on pool, with a
// deadline named "due" falling due now; it returns the log.
func consumeADeadline(ctx context.Context, t *testing.T, pool *pgxpool.Pool, group string, handler eventstore.Handler) *eventstore.Log {
	t.Helper()
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{DuePollInterval: 10 * time.Millisecond})
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	require.NoError(t, log.ConsumeDue(router, group, "order_deadlines", handler))
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return eventstore.Schedule(ctx, tx, "order_deadlines", time.Now(), "", eventstore.Metadata{CorrelationID: "o-1"}, eventstore.Message{Name: "due", Data: map[string]string{}})
	}))
	go func() { _ = router.Run(ctx) }()
	t.Cleanup(func() { _ = router.Close() })
	return log
}
