package projections

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// Two partitions' batches of order summaries count their rows in orders.order_counts (a
// trigger), and cannot deadlock there: an upsert fires the UPDATE trigger, then the INSERT
// trigger, each locking its counters in key order, but not the two together. A batch that
// moved an order out of "placed" (UPDATE) and placed one (INSERT) held ('status',
// 'placed') and waited for the hour's counter, which a batch that only placed orders held
// while it waited for ('status', 'placed'): deadlock detected (a probe's replicas, once in
// 16,900 orders). Each batch now locks every counter it will touch first, in key order.
func TestTwoBatchesCountingOrdersCannotDeadlock(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	placedAt := time.Date(2026, 12, 7, 6, 10, 0, 0, time.UTC)
	hour := placedAt.Format(HourBucket)
	summary := func(id string, st order.Status, position int64) *OrderAt {
		return &OrderAt{Order: order.Order{ID: id, Status: st, CustomerID: "c", CustomerEmail: "c@example.com",
			Total: 100, Currency: "EUR", PlacedAt: placedAt, UpdatedAt: placedAt}, Position: position}
	}
	// As the projections' consumer hands its transaction over: writes queued until the
	// commit (eventstore.QueueWrites), so the counters are locked only while it commits.
	write := func(tx pgx.Tx, orders ...*OrderAt) error {
		rows := &summaryRows{latest: map[string]*OrderAt{}}
		for _, o := range orders {
			rows.latest[o.ID] = o
		}
		p := eventstore.Pipelined(tx)
		if err := rows.write(ctx, p, Schema, false); err != nil {
			return err
		}
		return p.Flush(ctx)
	}
	// Queued: nothing reaches the counters before the flush.
	seedTx, err := pool.Begin(ctx)
	require.NoError(t, err)
	var pid uint32
	require.NoError(t, seedTx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
	queued := eventstore.Pipelined(seedTx)
	require.NoError(t, (&summaryRows{latest: map[string]*OrderAt{"ord-b": summary("ord-b", order.StatusPlaced, 1)}}).write(ctx, queued, Schema, false))
	var locks int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE pid = $1 AND relation = 'orders.order_counts'::regclass`, pid).Scan(&locks))
	assert.Zero(t, locks, "the counters are not touched before the batch's commit")
	require.NoError(t, queued.Commit(ctx))

	// A third session holds the hour's counter, so that the two batches queue for it in a
	// known order: the one that only places first.
	holder, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, `SELECT 1 FROM orders.order_counts WHERE dimension = 'hour' AND bucket = $1 FOR UPDATE`, hour)
	require.NoError(t, err)

	batch := func(orders ...*OrderAt) (pid uint32, done chan error) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
		done = make(chan error, 1)
		go func() {
			err := write(tx, orders...)
			if err == nil {
				err = tx.Commit(ctx)
			}
			_ = tx.Rollback(ctx)
			done <- err
		}()
		return pid, done
	}
	waiting := func(pid uint32) func() bool {
		return func() bool {
			var n int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, pid).Scan(&n))
			return n == 1
		}
	}
	placing, placed := batch(summary("ord-c", order.StatusPlaced, 3))
	require.Eventually(t, waiting(placing), 10*time.Second, 10*time.Millisecond)
	moving, moved := batch(summary("ord-b", order.StatusReserving, 2), summary("ord-a", order.StatusPlaced, 4))
	require.Eventually(t, waiting(moving), 10*time.Second, 10*time.Millisecond)
	require.NoError(t, holder.Rollback(ctx))

	assert.NoError(t, <-placed)
	assert.NoError(t, <-moved)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT n FROM orders.order_counts WHERE dimension = 'status' AND bucket = 'placed'`).Scan(&n))
	assert.Equal(t, 2, n, "ord-a and ord-c placed, ord-b moved on")
}
