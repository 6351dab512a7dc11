package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A statement over an array of keys gets a fresh custom plan at every call under
// Postgres's default plan_cache_mode. Queued after PlanByKey it runs on its cached
// generic plan, which walks the primary key even on an empty table, and the settings end
// with the batch: the connection's next statement is planned as before.
func TestPlanByKeyPlansAKeyedStatementOnceAsAnIndexLookup(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	c, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer c.Release()
	conn := c.Conn()
	const keyed = `SELECT stream_id FROM snapshots WHERE stream_id = ANY($1)`
	plans := func() (generic, custom int64) {
		t.Helper()
		require.NoError(t, conn.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1`, keyed).Scan(&generic, &custom))
		return generic, custom
	}

	for range 8 {
		b := &pgx.Batch{}
		b.Queue(eventstore.PlanByKey)
		b.Queue(keyed, []string{"o-1", "o-2"})
		require.NoError(t, conn.SendBatch(ctx, b).Close())
	}
	generic, custom := plans()
	assert.Equal(t, int64(8), generic, "every call after PlanByKey runs the generic plan")
	assert.Zero(t, custom, "no call after PlanByKey is planned for its values")
	b := &pgx.Batch{}
	b.Queue(eventstore.PlanByKey)
	b.Queue(`EXPLAIN (FORMAT JSON) `+keyed, []string{"o-1"})
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	require.NoError(t, err)
	var plan string
	require.NoError(t, br.QueryRow().Scan(&plan))
	require.NoError(t, br.Close())
	assert.Contains(t, plan, "snapshots_pkey", "the empty table's rows are found through its primary key")
	assert.NotContains(t, plan, "Seq Scan")

	var mode, seqscan string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan')`).Scan(&mode, &seqscan))
	assert.Equal(t, []string{"auto", "on"}, []string{mode, seqscan}, "the settings end with their batch")
	for range 3 {
		rows, err := conn.Query(ctx, keyed, []string{"o-1"})
		require.NoError(t, err)
		rows.Close()
		require.NoError(t, rows.Err())
	}
	_, custom = plans()
	assert.Equal(t, int64(3), custom, "without it, each call is planned for its values")
}

// Every consumer batch has its statements planned as lookups by key: they find their
// rows by key.
func TestConsumerBatchesPlanByKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: "o-plans"}, 0, 0))

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	modes := make(chan string, 10)
	consumeThen(t, log, router, "plans", func(ctx context.Context, tx pgx.Tx, _ *message.Message) error {
		var mode, seqscan string
		if err := tx.QueryRow(ctx, `SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan')`).Scan(&mode, &seqscan); err != nil {
			return err
		}
		modes <- mode + " " + seqscan
		return nil
	}, func(*message.Message) {})
	go func() { _ = router.Run(ctx) }()
	defer router.Close()

	select {
	case mode := <-modes:
		assert.Equal(t, "force_generic_plan off", mode)
	case <-ctx.Done():
		t.Fatal("the consumer never handled its batch")
	}
}
