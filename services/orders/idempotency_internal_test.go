package orders

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/eventstore/retention"
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
// (sql/00087_idempotency_key_expiry.sql) and deletes each by its key: as "key IN (the
// batch)" the planner joined the batch with a read of the whole table.
func TestTheKeySweepWalksTheKeysByTime(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := t.Context()
	_, err := pool.Exec(ctx, `
		INSERT INTO orders.idempotency_keys (key, request_hash, order_id, created_at)
		SELECT 'k-' || i, 'h', 'o-' || i, now() - (40000 - i) * interval '3 seconds' FROM generate_series(1, 40000) i`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE orders.idempotency_keys`)
	require.NoError(t, err)
	var plan string
	require.NoError(t, pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+idempotencyKeys.Statement(), time.Hour.Seconds(), retention.Batch).Scan(&plan))
	assert.Contains(t, plan, "idempotency_keys_created_at", "found through the index on their time")
	assert.NotContains(t, plan, "Seq Scan", "not by reading the whole table")
}
