package orders

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
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
	swept, err := sweepIdempotencyKeys(ctx, pool, DefaultIdempotencyKeyTTL)
	require.NoError(t, err)
	assert.Equal(t, int64(2500), swept, "in batches of %d", sweepKeysBatch)
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders.idempotency_keys WHERE key LIKE 'new-%'`).Scan(&left))
	assert.Equal(t, 10, left)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders.idempotency_keys`).Scan(&left))
	assert.Equal(t, 10, left)
	swept, err = sweepIdempotencyKeys(ctx, pool, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, int64(10), swept, "a shorter time to live sweeps more")
}
