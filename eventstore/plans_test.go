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

// LoadStreams reads its few streams through the events' (stream_id, stream_version)
// index, never by reading the table: the order page reads an order's three streams so
// each time a manager's page of it moves. pgx prepares the statement, and Postgres plans
// its first calls for their values and may keep a generic plan after: both walk the
// index, on a new store (empty, not analyzed) as on one of thousands of orders, analyzed
// or not yet. (A store of a few pages, not analyzed yet, is read whole: a few pages, and
// eventstore.KeepStatistics analyzes it at a thousand rows.)
func TestLoadStreamsWalksTheStreamsIndex(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	filled := 0 // orders in the store, each with its shipment and payment streams
	fill := func(n int, analyze bool) {
		t.Helper()
		_, err := pool.Exec(ctx, `
			INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_name, payload)
			SELECT gen_random_uuid(), s.prefix || 'o-' || i, s.type, v, 'e', '{}'
			FROM generate_series($1::int + 1, $2::int) i,
				(VALUES ('', 'order', 6), ('shipment-', 'shipment', 2), ('payment-', 'payment', 1)) s (prefix, type, events),
				LATERAL generate_series(1, s.events) v`, filled, n)
		require.NoError(t, err)
		filled = max(filled, n)
		if analyze {
			_, err = pool.Exec(ctx, `ANALYZE events`)
			require.NoError(t, err)
		}
	}
	for _, size := range []struct {
		orders  int
		analyze bool
	}{{0, false}, {200, true}, {5000, false}, {5000, true}} {
		fill(size.orders, size.analyze)
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			var plan string
			require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				for _, s := range []string{"SET LOCAL plan_cache_mode = " + mode, "PREPARE probe(text[]) AS " + eventstore.LoadStreamsSQL} {
					if _, err := tx.Exec(ctx, s); err != nil {
						return err
					}
				}
				if err := tx.QueryRow(ctx, `EXPLAIN (FORMAT JSON) EXECUTE probe(ARRAY['o-7', 'shipment-o-7', 'payment-o-7'])`).Scan(&plan); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "DEALLOCATE probe")
				return err
			}))
			assert.Contains(t, plan, "events_stream_id_stream_version_key", "%d orders (analyzed: %v), %s", size.orders, size.analyze, mode)
			assert.NotContains(t, plan, "Seq Scan", "%d orders (analyzed: %v), %s", size.orders, size.analyze, mode)
		}
	}
}
