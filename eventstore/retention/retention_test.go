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

// A row that an update holds when the sweep comes is left to the next sweep, and the
// sweep does not wait for it, whether its rows are deleted by key or where the batch
// found them (ctid). The update may date the row anew (a key spent again, an idempotency
// key taken over), and the sweep, which reads the table as it stood when it began, found
// it old, waited for the update and deleted it young, by its key.
func TestARowAnUpdateHoldsIsLeftToTheNextSweep(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE redated (key TEXT PRIMARY KEY, n INT NOT NULL, at TIMESTAMPTZ NOT NULL);
		CREATE INDEX redated_at ON redated (at)`)
	require.NoError(t, err)
	for _, key := range []string{"key", "ctid"} {
		table := retention.Table{Name: "redated", Key: key, Time: "at"}
		_, err := pool.Exec(ctx, `INSERT INTO redated VALUES ('again', 1, now() - interval '2 days'), ('old', 1, now() - interval '2 days')`)
		require.NoError(t, err)
		update, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = update.Rollback(ctx) }()
		_, err = update.Exec(ctx, `UPDATE redated SET n = n + 1, at = now() WHERE key = 'again'`)
		require.NoError(t, err)

		bounded, cancel := context.WithTimeout(ctx, 10*time.Second) // a sweep that waits fails
		swept, err := table.Sweep(bounded, pool, 24*time.Hour)
		cancel()
		require.NoError(t, err, "by %s: the sweep does not wait for the update", key)
		assert.Equal(t, int64(1), swept, "by %s: the row nobody holds", key)
		require.NoError(t, update.Commit(ctx))
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT n FROM redated WHERE key = 'again'`).Scan(&n), "by %s: kept", key)
		assert.Equal(t, 2, n, "by %s", key)
		swept, err = table.Sweep(ctx, pool, 24*time.Hour)
		require.NoError(t, err)
		assert.Zero(t, swept, "by %s: made young", key)
		_, err = pool.Exec(ctx, `DELETE FROM redated`)
		require.NoError(t, err)
	}
}

// Sweeps at once (replicas) take rows apart: one does not wait for the batch another
// holds, and deletes the next.
func TestSweepsAtOnceTakeTheirOwnRows(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE expiring (key INT PRIMARY KEY, at TIMESTAMPTZ NOT NULL);
		CREATE INDEX expiring_at ON expiring (at);
		INSERT INTO expiring SELECT i, now() - interval '2 days' - i * interval '1 second' FROM generate_series(1, 2500) i`)
	require.NoError(t, err)
	table := retention.Table{Name: "expiring", Key: "key", Time: "at"}
	other, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = other.Rollback(ctx) }()
	tag, err := other.Exec(ctx, table.Statement(), (24 * time.Hour).Seconds(), retention.Batch)
	require.NoError(t, err)
	require.Equal(t, int64(retention.Batch), tag.RowsAffected())

	bounded, cancel := context.WithTimeout(ctx, 10*time.Second) // a sweep that waits fails
	defer cancel()
	swept, err := table.Sweep(bounded, pool, 24*time.Hour)
	require.NoError(t, err, "the sweep does not wait for the other's batch")
	assert.Equal(t, int64(1500), swept, "the rows the other does not hold")
	require.NoError(t, other.Commit(ctx))
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM expiring`).Scan(&left))
	assert.Zero(t, left)
}
