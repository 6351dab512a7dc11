package warehouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/warehouse"
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
