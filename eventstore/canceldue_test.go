package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// CancelDue deletes the timers scheduled under its key, found through the key's index,
// and leaves the others. A timer a consumer is handling (locked) is skipped at once, not
// waited for: the transaction cancelling holds the order's lock, which that handler
// waits for.
func TestCancelDueDeletesItsKeysTimersButNotOneBeingHandled(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	week := time.Now().Add(7 * 24 * time.Hour)
	for _, key := range []string{"o-1/delivery", "o-1/delivery", "o-2/delivery"} {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return eventstore.Schedule(ctx, tx, "order_deadlines", week, key, eventstore.Metadata{CorrelationID: key}, eventstore.Message{Name: "deadline", Data: map[string]string{}})
		}))
	}
	pending := func() map[string]int {
		rows, err := pool.Query(ctx, `SELECT metadata->>'due_key', count(*) FROM watermill_order_deadlines GROUP BY 1`)
		require.NoError(t, err)
		counts := map[string]int{}
		for rows.Next() {
			var key string
			var n int
			require.NoError(t, rows.Scan(&key, &n))
			counts[key] = n
		}
		require.NoError(t, rows.Err())
		return counts
	}
	require.Equal(t, map[string]int{"o-1/delivery": 2, "o-2/delivery": 1}, pending())

	handler, err := pool.Begin(ctx) // a consumer that has taken o-1's first timer
	require.NoError(t, err)
	defer func() { _ = handler.Rollback(ctx) }()
	_, err = handler.Exec(ctx, `SELECT 1 FROM watermill_order_deadlines WHERE "offset" = (SELECT min("offset") FROM watermill_order_deadlines) FOR UPDATE`)
	require.NoError(t, err)

	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
			return err
		}
		return eventstore.CancelDue(ctx, tx, "order_deadlines", "o-1/delivery")
	}), "cancelling waits for no handler")
	assert.Equal(t, map[string]int{"o-1/delivery": 1, "o-2/delivery": 1}, pending(), "the timer being handled is left to its handler")
	require.NoError(t, handler.Rollback(ctx))
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return eventstore.CancelDue(ctx, tx, "order_deadlines", "o-1/delivery")
	}))
	assert.Equal(t, map[string]int{"o-2/delivery": 1}, pending())

	// Planned as the saga's transactions plan (PlanByKey), it walks the key's index.
	b := &pgx.Batch{}
	b.Queue(eventstore.PlanByKey)
	b.Queue(`EXPLAIN (FORMAT JSON) DELETE FROM watermill_order_deadlines WHERE "offset" IN (
		SELECT "offset" FROM watermill_order_deadlines WHERE metadata->>'due_key' = $1 FOR UPDATE SKIP LOCKED)`, "o-2/delivery")
	var plan string
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&plan); err != nil {
			return err
		}
		return br.Close()
	}))
	assert.Contains(t, plan, "watermill_order_deadlines_due_key_idx")
}
