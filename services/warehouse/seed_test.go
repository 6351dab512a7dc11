package warehouse_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/warehouse"
	migrations "github.com/ordermill/ordermill/sql"
)

// Found by the crash test with two replicas (issue 9): a warehouse starting up seeds the
// catalogue while the other replica reserves stock. A reservation batch holds the
// warehouse lock and takes its orders' SKU rows in the batch's order (here SKU-020, then
// SKU-005); the seed's upsert locked every row in SKU order, so it held SKU-005 waiting for
// SKU-020, and the batch waited for SKU-005: a deadlock, and the starting replica exited.
// The seed now waits for the warehouse lock first, and both go through.
func TestSeedWaitsForAReservationInsteadOfDeadlocking(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := t.Context()
	require.NoError(t, warehouse.Seed(ctx, pool))

	batch, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = batch.Rollback(context.Background()) }()
	_, err = batch.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('warehouse.stock', 0))`)
	require.NoError(t, err)
	_, err = batch.Exec(ctx, `SELECT 1 FROM warehouse.stock WHERE sku = 'SKU-020' FOR UPDATE`)
	require.NoError(t, err)

	seeded := make(chan error, 1)
	go func() { seeded <- warehouse.Seed(context.Background(), pool) }()
	require.Eventually(t, func() bool {
		var waiting int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%warehouse%'`).Scan(&waiting)
		return err == nil && waiting > 0
	}, 10*time.Second, 10*time.Millisecond, "the seed is waiting for a lock the batch holds")

	_, err = batch.Exec(ctx, `SELECT 1 FROM warehouse.stock WHERE sku = 'SKU-005' FOR UPDATE`)
	require.NoError(t, err, "the reservation batch takes its next SKU")
	require.NoError(t, batch.Commit(ctx))
	select {
	case err := <-seeded:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the seed did not finish after the batch committed")
	}
}

// A SKU withdrawn from sale (its price set to 0, "not for sale") stays withdrawn when the
// demo seed runs again at a start (SEED_CATALOG=1, as make run sets): the seed took every
// 0 for "not priced yet" and put the SKU back on sale at its demo price (a probe). A
// catalog nobody has priced (00023 gave the SKUs seeded before prices existed 0) is still
// priced by the seed once migration 00095 has run, and one priced before it keeps its
// withdrawn SKUs withdrawn.
func TestSeedLeavesAWithdrawnSKUWithdrawn(t *testing.T) {
	priceOf := func(t *testing.T, pool *pgxpool.Pool, sku string) int64 {
		t.Helper()
		items, err := warehouse.Catalog(t.Context(), pool, []string{sku})
		require.NoError(t, err)
		require.Len(t, items, 1)
		return items[0].UnitPrice
	}
	exec := func(t *testing.T, pool *pgxpool.Pool, sql string) {
		t.Helper()
		_, err := pool.Exec(t.Context(), sql)
		require.NoError(t, err)
	}
	// upgrade takes pool back to before 00095, lets before change the catalog there, and
	// runs 00095 again.
	upgrade := func(t *testing.T, pool *pgxpool.Pool, before string) {
		t.Helper()
		raw, err := fs.ReadFile(migrations.Migrations, "00095_catalog_priced.sql")
		require.NoError(t, err)
		up, down, ok := strings.Cut(string(raw), "-- +goose Down")
		require.True(t, ok)
		exec(t, pool, down)
		exec(t, pool, before)
		exec(t, pool, up)
	}

	t.Run("withdrawn after a seed", func(t *testing.T) {
		pool := pgtest.Pool(t)
		require.NoError(t, warehouse.Seed(t.Context(), pool))
		exec(t, pool, `UPDATE warehouse.stock SET price = 0 WHERE sku = 'SKU-031'`)
		require.NoError(t, warehouse.Seed(t.Context(), pool))
		assert.Zero(t, priceOf(t, pool, "SKU-031"), "withdrawn from sale")
		assert.EqualValues(t, 50_00, priceOf(t, pool, "SKU-001"))
	})
	t.Run("withdrawn before 00095", func(t *testing.T) {
		pool := pgtest.Pool(t)
		require.NoError(t, warehouse.Seed(t.Context(), pool))
		upgrade(t, pool, `UPDATE warehouse.stock SET price = 0 WHERE sku = 'SKU-031'`)
		require.NoError(t, warehouse.Seed(t.Context(), pool))
		assert.Zero(t, priceOf(t, pool, "SKU-031"), "withdrawn from sale")
	})
	t.Run("seeded before prices existed", func(t *testing.T) {
		pool := pgtest.Pool(t)
		require.NoError(t, warehouse.Seed(t.Context(), pool))
		upgrade(t, pool, `UPDATE warehouse.stock SET price = 0`) // as 00023 left them
		require.NoError(t, warehouse.Seed(t.Context(), pool))
		assert.EqualValues(t, 50_000_00, priceOf(t, pool, "SKU-031"), "priced by the seed")
		exec(t, pool, `UPDATE warehouse.stock SET price = 0 WHERE sku = 'SKU-031'`)
		require.NoError(t, warehouse.Seed(t.Context(), pool))
		assert.Zero(t, priceOf(t, pool, "SKU-031"), "withdrawn once priced")
	})
}
