package eventstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A statement prepared while its table was nearly empty keeps a plan that scans the whole
// table; once the table has grown, AnalyzeGrownTables refreshes its statistics and the
// same prepared statement walks the index. It analyzes a table once.
func TestAnalyzeGrownTablesReplansStatementsMadeOnAnEmptyTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	// Autovacuum is off for the table, so that only AnalyzeGrownTables analyzes it once
	// it has grown; the first ANALYZE is autovacuum's on a new store, which analyzes a
	// table as soon as it has 50 rows.
	_, err := pool.Exec(ctx, `CREATE TABLE grown (id TEXT PRIMARY KEY, n INT NOT NULL) WITH (autovacuum_enabled = false);
		INSERT INTO grown SELECT 'k' || g, g FROM generate_series(1, 60) g;
		ANALYZE grown`)
	require.NoError(t, err)

	reader, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer reader.Release()
	// The snapshots read's shape: a batch of keys joined to the table.
	_, err = reader.Exec(ctx, `PREPARE batch(text[]) AS
		SELECT g.n FROM unnest($1::text[]) AS k(id) JOIN grown g ON g.id = k.id`)
	require.NoError(t, err)
	plan := func() string {
		t.Helper()
		rows, err := reader.Query(ctx, `EXPLAIN EXECUTE batch('{k1,k2}')`)
		require.NoError(t, err)
		var lines []string
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			lines = append(lines, line)
		}
		require.NoError(t, rows.Err())
		return strings.Join(lines, "\n")
	}
	for range 6 { // past the five custom plans, the generic plan is cached
		_, err := reader.Exec(ctx, `EXECUTE batch('{k1,k2}')`)
		require.NoError(t, err)
	}
	require.Contains(t, plan(), "Seq Scan on grown", "made on 60 rows, the plan scans the table")

	writer, err := pool.Acquire(ctx)
	require.NoError(t, err)
	_, err = writer.Exec(ctx, `INSERT INTO grown SELECT 'k' || g, g FROM generate_series(61, 20000) g`)
	require.NoError(t, err)
	_, err = writer.Exec(ctx, `SELECT pg_stat_force_next_flush()`) // n_live_tup sees the rows now
	require.NoError(t, err)
	writer.Release()
	assert.Contains(t, plan(), "Seq Scan on grown", "the cached plan outlives the growth")

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		analyzed, err := eventstore.AnalyzeGrownTables(ctx, pool)
		require.NoError(c, err)
		assert.Contains(c, analyzed, "public.grown")
	}, 30*time.Second, 20*time.Millisecond)
	assert.Contains(t, plan(), "Index Scan using grown_pkey", "replanned from the new statistics")

	again, err := eventstore.AnalyzeGrownTables(ctx, pool)
	require.NoError(t, err)
	assert.NotContains(t, again, "public.grown", "analyzed once")
}
