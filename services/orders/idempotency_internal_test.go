package orders

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/eventstore/retention"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// Keys past their time are deleted, a batch at a time, and the others kept: the table
// holds a day of keys, not every key ever sent.
func TestSweepDeletesExpiredKeysOnly(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := t.Context()
	_, err := pool.Exec(ctx, `
		INSERT INTO orders.idempotency_keys (key, request_hash, order_id, created_at)
		SELECT 'old-' || i, 'h', 'o-' || i, now() - interval '2 days' - i * interval '1 second' FROM generate_series(1, 2500) i;
		INSERT INTO orders.idempotency_keys (key, request_hash, order_id, created_at)
		SELECT 'new-' || i, 'h', 'n-' || i, now() - interval '23 hours' FROM generate_series(1, 10) i`)
	require.NoError(t, err)
	swept, err := idempotencyKeys.Sweep(ctx, pool, DefaultIdempotencyKeyTTL)
	require.NoError(t, err)
	assert.Equal(t, int64(2500), swept, "in batches of %d", retention.Batch)
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders.idempotency_keys WHERE key LIKE 'new-%'`).Scan(&left))
	assert.Equal(t, 10, left)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders.idempotency_keys`).Scan(&left))
	assert.Equal(t, 10, left)
	swept, err = idempotencyKeys.Sweep(ctx, pool, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, int64(10), swept, "a shorter time to live sweeps more")
}

// The sweep finds the expired keys through the index on their time
// (sql/00087_idempotency_key_expiry.sql) and deletes each by its key, whether most keys
// are past their time or few: as "key IN (the batch)" the planner joined the batch with a
// read of the whole table, and with the time checked again in the delete it walked the
// index on the time, the batch a filter, where it judged few rows old.
func TestTheKeySweepWalksTheKeysByTime(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := t.Context()
	_, err := pool.Exec(ctx, `
		INSERT INTO orders.idempotency_keys (key, request_hash, order_id, created_at)
		SELECT 'k-' || i, 'h', 'o-' || i, now() - (40000 - i) * interval '3 seconds' FROM generate_series(1, 40000) i`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE orders.idempotency_keys`)
	require.NoError(t, err)
	for _, olderThan := range []time.Duration{time.Hour, 33 * time.Hour} {
		var plan string
		require.NoError(t, pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+idempotencyKeys.Statement(), olderThan.Seconds(), retention.Batch).Scan(&plan))
		assert.Contains(t, plan, "idempotency_keys_created_at", "older than %s: found through the index on their time", olderThan)
		assert.Contains(t, plan, "idempotency_keys_pkey", "older than %s: deleted by their key", olderThan)
		assert.NotContains(t, plan, "Seq Scan", "older than %s: not by reading the whole table", olderThan)
	}
}

// A key that a placement takes over while the sweep runs names the new order: the sweep
// read the table as it stood when it began, the key past its time, and deleted it by key
// once the placement had made it young and committed, so the client's retry of that
// placement placed a second order. Now the sweep leaves a row it cannot lock to the next
// sweep; and a placement that meets a row the sweep holds waits, then finds the key gone
// and stores it anew.
func TestAKeyTakenOverWhileSweptNamesItsOrder(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := t.Context()
	svc := New(pool, slog.New(slog.DiscardHandler), Config{IdempotencyKeyTTL: time.Hour,
		OperatorToken: orderstest.OperatorToken, WarehouseURL: orderstest.CatalogURL(t, pool)})
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	type placement struct {
		status int
		id     string
		err    error
	}
	place := func(key string) placement {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/orders", strings.NewReader(`{"items":[{"sku":"SKU-001","quantity":2}],"total":100}`))
		if err != nil {
			return placement{err: err}
		}
		req.Header.Set("Idempotency-Key", key)
		resp, err := srv.Client().Do(req)
		if err != nil {
			return placement{err: err}
		}
		defer resp.Body.Close()
		var body struct{ ID string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		return placement{resp.StatusCode, body.ID, err}
	}
	expired := func(t *testing.T, key string) {
		first := place(key)
		require.NoError(t, first.err)
		require.Equal(t, http.StatusCreated, first.status)
		_, err := pool.Exec(ctx, `UPDATE orders.idempotency_keys SET created_at = now() - interval '2 hours' WHERE key = $1`, key)
		require.NoError(t, err)
	}
	// retried places under key again, as a client whose answer was lost does: the key
	// names the order its placement past its time placed, and no third order is placed.
	retried := func(t *testing.T, key string, placed placement) {
		require.NoError(t, placed.err)
		require.Equal(t, http.StatusCreated, placed.status, "past its time the key places a new order")
		again := place(key)
		require.NoError(t, again.err)
		assert.Equal(t, http.StatusOK, again.status, "the retry is replayed, not placed as a second order")
		assert.Equal(t, placed.id, again.id)
	}

	t.Run("taken over, then swept", func(t *testing.T) {
		expired(t, "taken-first")
		// The placement takes the key over, then appends its order's events, which a
		// transaction of the test holds back: it has not committed when the sweep comes.
		hold, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = hold.Rollback(ctx) }()
		_, err = hold.Exec(ctx, `LOCK TABLE events IN SHARE MODE`)
		require.NoError(t, err)
		placed := make(chan placement, 1)
		go func() { placed <- place("taken-first") }()
		placing := pgtest.LockWaiter(t, pool)

		var sweepErr error
		swept := make(chan struct{})
		go func() {
			defer close(swept)
			_, sweepErr = idempotencyKeys.Sweep(ctx, pool, time.Hour)
		}()
		doneOrWaiting(t, pool, placing, swept)
		require.NoError(t, hold.Commit(ctx))
		retried(t, "taken-first", <-placed)
		<-swept
		require.NoError(t, sweepErr)
	})

	t.Run("swept, then taken over", func(t *testing.T) {
		expired(t, "swept-first")
		sweep, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = sweep.Rollback(ctx) }()
		tag, err := sweep.Exec(ctx, idempotencyKeys.Statement(), time.Hour.Seconds(), retention.Batch)
		require.NoError(t, err)
		require.Equal(t, int64(1), tag.RowsAffected())
		placed := make(chan placement, 1)
		go func() { placed <- place("swept-first") }()
		pgtest.LockWaiter(t, pool) // the placement found the key the sweep deletes
		require.NoError(t, sweep.Commit(ctx))
		retried(t, "swept-first", <-placed)
	})

	var placed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE event_name = $1`, order.NameOrderPlaced).Scan(&placed))
	assert.Equal(t, 4, placed, "two orders a key: its first and the one placed past its time")
}

// doneOrWaiting returns once done is closed or a backend other than except waits for a
// lock: a test that must let a statement run as far as it goes before it lets another
// transaction commit.
func doneOrWaiting(t *testing.T, pool *pgxpool.Pool, except int, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-done:
			return
		case <-poll.C:
		}
		var waiting bool
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1)`, except).Scan(&waiting))
		if waiting {
			return
		}
		require.False(t, time.Now().After(deadline), "neither done nor waiting for a lock")
	}
}
