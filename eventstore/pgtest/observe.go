package pgtest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RoundTrips counts what the connections of a pool (CountingPool) send to Postgres and
// wait for: statements, batches and preparations.
type RoundTrips struct{ n atomic.Int64 }

// Reset starts the count again.
func (c *RoundTrips) Reset() { c.n.Store(0) }

// Count is the round trips since the pool opened or the last Reset.
func (c *RoundTrips) Count() int64 { return c.n.Load() }

// CountingPool is a pool of one connection to pool's database whose round trips are
// counted: a test can then assert how many a piece of work costs once its statements are
// prepared (run it once before counting).
func CountingPool(t testing.TB, pool *pgxpool.Pool) (*pgxpool.Pool, *RoundTrips) {
	t.Helper()
	return CountingPoolWith(t, pool, func(cfg *pgxpool.Config) { cfg.MaxConns = 1 })
}

// CountingPoolWith is a pool to pool's database, configured by configure, whose round
// trips are counted: for work spread over several connections (a worker's senders, a
// consumer and its listener).
func CountingPoolWith(t testing.TB, pool *pgxpool.Pool, configure func(*pgxpool.Config)) (*pgxpool.Pool, *RoundTrips) {
	t.Helper()
	cfg := pool.Config()
	configure(cfg)
	trips := &RoundTrips{}
	cfg.ConnConfig.Tracer = trips
	counted, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect counting pool: %v", err)
	}
	t.Cleanup(counted.Close)
	return counted, trips
}

func (c *RoundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *RoundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *RoundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *RoundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (c *RoundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (c *RoundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *RoundTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// LockWaiter waits until a backend of pool's database waits for a lock, and returns its
// process id: for a test that holds a row and must know another transaction reached it.
func LockWaiter(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for ; ; <-poll.C {
		var pid int
		err := pool.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' LIMIT 1`).Scan(&pid)
		if err == nil {
			return pid
		}
		if !errors.Is(err, pgx.ErrNoRows) || time.Now().After(deadline) {
			t.Fatalf("waiting for a backend to wait for a lock: %v", err)
		}
	}
}
