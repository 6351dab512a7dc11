package inbox

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/eventstore/retention"
)

// The inbox keeps a webhook for its retention, then deletes it, a batch at a time,
// whatever its outcome: it kept every webhook ever received, two an order, for ever.
func TestSweepDeletesTheWebhooksPastTheRetention(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `
		INSERT INTO orders.webhook_inbox (provider, event_id, order_id, status, outcome, payload, received_at)
		SELECT 'payment', 'old-' || i, 'o-' || i, 'completed', CASE WHEN i % 100 = 0 THEN 'unknown_order' ELSE 'accepted' END, '{}',
		       now() - interval '31 days' - i * interval '1 second'
		FROM generate_series(1, 2500) i;
		INSERT INTO orders.webhook_inbox (provider, event_id, order_id, status, outcome, payload, received_at)
		SELECT 'delivery', 'new-' || i, 'o-' || i, 'delivered', CASE WHEN i = 1 THEN 'unknown_order' ELSE 'accepted' END, '{}',
		       now() - interval '29 days'
		FROM generate_series(1, 10) i`)
	require.NoError(t, err)

	swept, err := Sweep(ctx, pool, DefaultRetention)
	require.NoError(t, err)
	assert.Equal(t, int64(2500), swept, "in batches of %d, unknown_order ones too", retention.Batch)
	var left, leftNew int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE event_id LIKE 'new-%') FROM orders.webhook_inbox`).Scan(&left, &leftNew))
	assert.Equal(t, 10, left, "the webhooks within the retention are kept")
	assert.Equal(t, 10, leftNew)

	swept, err = Sweep(ctx, pool, DefaultRetention)
	require.NoError(t, err)
	assert.Zero(t, swept, "a second sweep finds nothing")
	swept, err = Sweep(ctx, pool, MinRetention)
	require.NoError(t, err)
	assert.Equal(t, int64(10), swept, "a shorter retention sweeps more")
}

// The sweep finds the oldest webhooks through the index on their time
// (sql/00096_webhook_inbox_received_at.sql), and deletes each by its id, whether few of
// them are old (a sweep a minute) or most (the first sweep after an upgrade): a walk of
// the whole inbox every minute would grow with it.
func TestTheSweepWalksTheInboxByTime(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `
		INSERT INTO orders.webhook_inbox (provider, event_id, order_id, status, outcome, payload, received_at)
		SELECT 'payment', 'evt-' || i, 'o-' || i, 'completed', 'accepted', '{}', now() - (40000 - i) * interval '2 minutes'
		FROM generate_series(1, 40000) i`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE orders.webhook_inbox`)
	require.NoError(t, err)

	for _, olderThan := range []time.Duration{DefaultRetention, time.Hour, 55 * 24 * time.Hour} {
		var plan string
		require.NoError(t, pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+inboxRows.Statement(), olderThan.Seconds(), retention.Batch).Scan(&plan))
		assert.Contains(t, plan, "webhook_inbox_received_at", "older than %s: found through the index on their time", olderThan)
		assert.Contains(t, plan, "webhook_inbox_pkey", "older than %s: deleted by their id", olderThan)
		assert.NotContains(t, plan, "Seq Scan", "older than %s: not by reading the whole inbox", olderThan)
	}
}
