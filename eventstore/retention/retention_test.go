package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/eventstore/retention"
)

// A row of a Redated table that an update makes young while the sweep gathers its batch
// is kept, whether its rows are deleted by key or where the batch found them (ctid):
// deleted by key, it was found by its key after the update and deleted, a key the
// payment service had spent a moment before among them (payments.spent_keys).
func TestARowRedatedWhileSweptIsKept(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE redated (key TEXT PRIMARY KEY, n INT NOT NULL, at TIMESTAMPTZ NOT NULL);
		CREATE INDEX redated_at ON redated (at)`)
	require.NoError(t, err)
	for _, key := range []string{"key", "ctid"} {
		table := retention.Table{Name: "redated", Key: key, Time: "at", Redated: true}
		_, err := pool.Exec(ctx, `INSERT INTO redated VALUES ('again', 1, now() - interval '2 days')`)
		require.NoError(t, err)
		update, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = update.Rollback(ctx) }()
		_, err = update.Exec(ctx, `UPDATE redated SET n = n + 1, at = now() WHERE key = 'again'`)
		require.NoError(t, err)

		type result struct {
			swept int64
			err   error
		}
		done := make(chan result, 1)
		go func() {
			swept, err := table.Sweep(ctx, pool, 24*time.Hour)
			done <- result{swept, err}
		}()
		pgtest.LockWaiter(t, pool) // the sweep found the row, and waits for the update
		require.NoError(t, update.Commit(ctx))
		res := <-done
		require.NoError(t, res.err, key)
		assert.Zero(t, res.swept, "by %s", key)
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT n FROM redated WHERE key = 'again'`).Scan(&n), "by %s: kept", key)
		assert.Equal(t, 2, n, "by %s", key)
		_, err = pool.Exec(ctx, `DELETE FROM redated`)
		require.NoError(t, err)
	}
}
