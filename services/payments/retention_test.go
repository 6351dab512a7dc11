package payments

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/eventstore/retention"
)

// A spent key's row is deleted a week after it was last spent, a batch at a time, and
// never while Stripe may still keep the key: the table kept a row for every call Stripe
// ever refused, for ever.
func TestSpentKeysAreSweptAWeekAfterTheirLastSpend(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `
		INSERT INTO payments.spent_keys (call, subject, spent, spent_at)
		SELECT (ARRAY['refund', 'session', 'expire'])[1 + i % 3], 'old-' || i, 1 + i % 4,
		       now() - interval '7 days' - i * interval '1 second'
		FROM generate_series(1, 2500) i;
		INSERT INTO payments.spent_keys (call, subject, spent, spent_at) VALUES
			('refund', 'pi_this_week', 2, now() - interval '7 days' + interval '1 minute'),
			('session', 'o-yesterday', 1, now() - interval '25 hours'),
			('expire', 'cs_today', 1, now() - interval '23 hours 59 minutes'),
			('refund', 'pi_now', 3, now())`)
	require.NoError(t, err)

	swept, err := spentKeyRows.Sweep(ctx, pool, spentKeyRetention)
	require.NoError(t, err)
	assert.Equal(t, int64(2500), swept, "in batches of %d", retention.Batch)
	rows, err := pool.Query(ctx, `SELECT subject FROM payments.spent_keys ORDER BY spent_at`)
	require.NoError(t, err)
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"pi_this_week", "o-yesterday", "cs_today", "pi_now"}, left, "the keys spent within the week are kept")

	swept, err = spentKeyRows.Sweep(ctx, pool, spentKeyRetention)
	require.NoError(t, err)
	assert.Zero(t, swept, "a second sweep finds nothing")
}

// The sweep finds the oldest spent keys through the index on their time
// (sql/00099_spent_keys_spent_at.sql), and deletes each where it found it: a walk of the
// whole table, whose key spans two columns, every minute would grow with it.
func TestTheSweepWalksTheSpentKeysByTime(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `
		INSERT INTO payments.spent_keys (call, subject, spent, spent_at)
		SELECT (ARRAY['refund', 'session', 'expire'])[1 + i % 3], 's-' || i, 1, now() - (40000 - i) * interval '1 minute'
		FROM generate_series(1, 40000) i;
		ANALYZE payments.spent_keys`)
	require.NoError(t, err)

	for _, olderThan := range []float64{spentKeyRetention.Seconds(), 3600, 27 * 24 * 3600} {
		var plan string
		require.NoError(t, pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+spentKeyRows.Statement(), olderThan, retention.Batch).Scan(&plan))
		assert.Contains(t, plan, "spent_keys_spent_at", "older than %gs: found through the index on their time", olderThan)
		assert.Contains(t, plan, "Tid Scan", "older than %gs: deleted where found", olderThan)
		assert.NotContains(t, plan, "Seq Scan", "older than %gs: not by reading the whole table", olderThan)
	}
}
