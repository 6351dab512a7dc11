package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A dump restored on another server keeps the log's transaction ids, and a server whose
// counter is behind them hands out lower ones: every message written there sorted before
// the consumers' positions, as handled, and was never handled (a probe). A process
// refuses to start on it, and `replay rebase-log` renumbers the ids below the server's,
// keeping what each group has handled and what it has not.
func TestALogRestoredFromAServerAheadIsRebasedKeepingEachGroupsPlace(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	_, err = pool.Exec(ctx, `SELECT watermill_create_topic('restore_test')`)
	require.NoError(t, err)
	publish := func(n int) {
		t.Helper()
		_, err := pool.Exec(ctx, `INSERT INTO "watermill_restore_test" (uuid, payload, transaction_id)
			SELECT gen_random_uuid()::text, '{}', pg_current_xact_id() FROM generate_series(1, $1)`, n)
		require.NoError(t, err)
	}
	// Six transactions of one or two messages (offsets 1–9).
	for _, n := range []int{1, 2, 1, 2, 2, 1} {
		publish(n)
	}
	// "ahead" has handled up to the first message of the fourth transaction (offset 5 of
	// its 5 and 6), "behind" up to the second transaction, "done" everything.
	_, err = pool.Exec(ctx, `INSERT INTO "watermill_offsets_restore_test" (consumer_group, offset_acked, last_processed_transaction_id)
		SELECT g, o, (SELECT transaction_id FROM "watermill_restore_test" WHERE "offset" = o)
		FROM (VALUES ('ahead', 5), ('behind', 3), ('done', 9)) AS v(g, o)`)
	require.NoError(t, err)
	unhandled := func() map[string][]int64 {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT g.consumer_group, m."offset" FROM "watermill_offsets_restore_test" g
			JOIN "watermill_restore_test" m ON (m.transaction_id, m."offset") > (g.last_processed_transaction_id, g.offset_acked)
			ORDER BY 1, m.transaction_id, m."offset"`)
		require.NoError(t, err)
		out := map[string][]int64{}
		for rows.Next() {
			var g string
			var o int64
			require.NoError(t, rows.Scan(&g, &o))
			out[g] = append(out[g], o)
		}
		require.NoError(t, rows.Err())
		return out
	}
	want := map[string][]int64{"ahead": {6, 7, 8, 9}, "behind": {4, 5, 6, 7, 8, 9}}
	require.Equal(t, want, unhandled())

	// As restored from a server ten billion transactions ahead.
	for _, stmt := range []string{
		`UPDATE "watermill_restore_test" SET transaction_id = (transaction_id::text::numeric + 1e10)::text::xid8`,
		`UPDATE "watermill_offsets_restore_test" SET last_processed_transaction_id = (last_processed_transaction_id::text::numeric + 1e10)::text::xid8`,
	} {
		_, err = pool.Exec(ctx, stmt)
		require.NoError(t, err)
	}
	require.ErrorIs(t, eventstore.CheckLogPositions(ctx, pool), eventstore.ErrLogAhead)
	_, err = eventstore.Open(ctx, url, "orders")
	require.ErrorIs(t, err, eventstore.ErrLogAhead, "a service does not start on it")
	assert.ErrorContains(t, err, "replay rebase-log")

	n, err := eventstore.RebaseLog(ctx, pool)
	require.NoError(t, err)
	assert.Positive(t, n)
	require.NoError(t, eventstore.CheckLogPositions(ctx, pool))
	assert.Equal(t, want, unhandled(), "each group has the same messages left, in the same order")

	// A message written now comes after every group's position, and is readable once its
	// transaction has ended.
	publish(1)
	want["ahead"], want["behind"], want["done"] = append(want["ahead"], 10), append(want["behind"], 10), []int64{10}
	assert.Equal(t, want, unhandled())
	// Once every transaction older than it has ended too: the server is shared, and
	// another database's transaction holds the horizon back as long as it runs.
	require.Eventually(t, func() bool {
		var readable bool
		return pool.QueryRow(ctx, `SELECT bool_and(transaction_id < pg_snapshot_xmin(pg_current_snapshot())) FROM "watermill_restore_test"`).Scan(&readable) == nil && readable
	}, 30*time.Second, 20*time.Millisecond)

	n, err = eventstore.RebaseLog(ctx, pool)
	require.NoError(t, err)
	assert.Zero(t, n, "positions of this server's are left as they are")
}
