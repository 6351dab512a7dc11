package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/orderstream/orderstreamtest"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/projections/ordergen"
)

// readModels are the projections' tables with the column order checksums sort them by.
var readModels = []struct{ table, key, where string }{
	{"order_summaries", "order_id", "true"},
	{"orders_by_status", "order_id", "true"},
	{"order_counts", "dimension, bucket", "n <> 0"},
	{"pending_approvals", "order_id", "true"},
	{"support_tickets", "id", "true"},
	{"ticket_comments", "id", "true"},
}

// checksums is an md5 of every read model's rows in schema, in key order.
func checksums(t *testing.T, q eventstore.Querier, schema string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range readModels {
		var sum string
		var n int
		err := q.QueryRow(context.Background(), fmt.Sprintf(
			`SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY %s), '')), count(*) FROM %s.%s x WHERE %s`,
			m.key, schema, m.table, m.where)).Scan(&sum, &n)
		require.NoError(t, err)
		out[m.table] = fmt.Sprintf("%d rows %s", n, sum)
	}
	return out
}

// consumeLive applies every message of the log committed so far that the projections'
// consumer group has not consumed yet, a hundred at a time, through the live path
// (ApplyAll), and moves the group on, as the orders service's consumer would. A
// message that is not readable yet (a parallel test holds an older transaction open) is
// waited for, as the consumer waits.
func consumeLive(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	topics := eventstore.Partitions(eventstore.EventsTopic("order"))
	require.NoError(t, eventstore.PrepareGroup(ctx, pool, projections.ConsumerGroup, topics...))
	for _, topic := range topics {
		head, err := eventstore.Head(ctx, pool, topic)
		require.NoError(t, err)
		for caughtUp := false; !caughtUp; {
			require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				at, err := eventstore.GroupOffsets(ctx, tx, projections.ConsumerGroup, []string{topic}, true)
				if err != nil {
					return err
				}
				last := at[topic]
				var events []eventstore.Recorded
				_, err = eventstore.ReadLog(ctx, tx, topic, last, head, 1_000_000, func(o eventstore.Offset, payload []byte) error {
					last = o
					var r eventstore.Recorded
					err := json.Unmarshal(payload, &r)
					events = append(events, r)
					return err
				})
				if err != nil {
					return err
				}
				for batch := range slices.Chunk(events, 100) {
					if err := projections.ApplyAll(ctx, tx, batch); err != nil {
						return err
					}
				}
				caughtUp = last == head
				return eventstore.SetGroupOffset(ctx, tx, projections.ConsumerGroup, topic, last)
			}))
			if !caughtUp {
				time.Sleep(10 * time.Millisecond) // a poll: what is left is not readable yet
			}
		}
	}
}

func generate(t *testing.T, pool *pgxpool.Pool, opts ordergen.Options) ordergen.Result {
	t.Helper()
	res, err := ordergen.Generate(context.Background(), pool, opts)
	require.NoError(t, err)
	return res
}

// A rebuild gives exactly the rows the live consumer arrives at, and the same rows again
// when it runs a second time.
func TestRebuildEqualsLiveAndRepeats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	gen := generate(t, pool, ordergen.Options{Events: 6000, Seed: 1})
	consumeLive(t, pool)
	live := checksums(t, pool, "orders")

	res, err := projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	assert.EqualValues(t, gen.Events, res.Events)
	first := checksums(t, pool, "orders")
	assert.Equal(t, live, first, "the rebuild's rows are the live consumer's")
	assert.NotContains(t, first["pending_approvals"], "0 rows")
	assert.NotContains(t, first["support_tickets"], "0 rows")

	_, err = projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	assert.Equal(t, first, checksums(t, pool, "orders"), "a second rebuild")

	d, _, err := projections.Verify(ctx, pool, projections.Options{}, 10)
	require.NoError(t, err)
	assert.True(t, d.Equal(), "%+v", d)
	assert.Zero(t, d.Changing)
	assert.Empty(t, schemasLike(t, pool, "replay_%"), "no build is left behind")
}

// What an operator granted on the live tables, and the comments on them, survive a
// rebuild: its swap dropped them, and a reporting role lost its SELECT.
func TestARebuildKeepsGrantsAndComments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	generate(t, pool, ordergen.Options{Events: 600, Seed: 3})
	consumeLive(t, pool)
	var suffix string
	require.NoError(t, pool.QueryRow(ctx, `SELECT md5(random()::text)`).Scan(&suffix))
	reader := "ordermill_test_reader_" + suffix[:12] // roles are the cluster's: a name of its own
	_, err := pool.Exec(ctx, `CREATE ROLE `+reader+` NOLOGIN`)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), `DROP OWNED BY `+reader)
		assert.NoError(t, err)
		_, err = pool.Exec(context.Background(), `DROP ROLE `+reader)
		assert.NoError(t, err)
	})
	for _, stmt := range []string{
		`GRANT SELECT ON orders.order_summaries TO ` + reader + ` WITH GRANT OPTION`,
		`GRANT SELECT (order_id, status) ON orders.support_tickets TO ` + reader,
		`COMMENT ON TABLE orders.order_summaries IS 'one row an order'`,
	} {
		_, err := pool.Exec(ctx, stmt)
		require.NoError(t, err)
	}

	_, err = projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)

	var table, grantable, column, otherColumn bool
	var comment string
	require.NoError(t, pool.QueryRow(ctx, `SELECT
		has_table_privilege($1, 'orders.order_summaries', 'SELECT'),
		has_table_privilege($1, 'orders.order_summaries', 'SELECT WITH GRANT OPTION'),
		has_column_privilege($1, 'orders.support_tickets', 'status', 'SELECT'),
		has_column_privilege($1, 'orders.support_tickets', 'reason', 'SELECT'),
		coalesce(obj_description('orders.order_summaries'::regclass, 'pg_class'), '')`, reader).
		Scan(&table, &grantable, &column, &otherColumn, &comment))
	assert.True(t, table, "the table's grant")
	assert.True(t, grantable, "with its grant option")
	assert.True(t, column, "a column's grant")
	assert.False(t, otherColumn, "only the columns granted")
	assert.Equal(t, "one row an order", comment)
}

func schemasLike(t *testing.T, pool *pgxpool.Pool, pattern string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, pattern)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// Verify finds a row changed by hand, a missing row and an extra one, says which columns
// differ, and touches nothing.
func TestVerifyFindsChangedMissingAndExtraRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	generate(t, pool, ordergen.Options{Events: 3000, Seed: 2})
	_, err := projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)

	var changed string
	var gone int64
	require.NoError(t, pool.QueryRow(ctx, `UPDATE orders.order_summaries SET status = 'placed', item_count = 99
		WHERE order_id = (SELECT min(order_id) FROM orders.order_summaries WHERE status = 'completed') RETURNING order_id`).Scan(&changed))
	require.NoError(t, pool.QueryRow(ctx, `DELETE FROM orders.support_tickets
		WHERE id = (SELECT min(id) FROM orders.support_tickets) RETURNING id`).Scan(&gone))
	_, err = pool.Exec(ctx, `INSERT INTO orders.support_tickets (id, order_id, kind, reason, created_at)
		VALUES (999999, 'ord-ghost', 'delivery_failed', 'invented', now())`)
	require.NoError(t, err)
	before := checksums(t, pool, "orders")

	d, _, err := projections.Verify(ctx, pool, projections.Options{}, 5)
	require.NoError(t, err)
	require.False(t, d.Equal())
	byTable := map[string]projections.TableDiff{}
	for _, td := range d.Tables {
		byTable[strings.TrimPrefix(td.Table, "orders.")] = td
	}
	summaries := byTable["order_summaries"]
	require.Equal(t, 1, summaries.Count)
	assert.Equal(t, "order_id="+changed, summaries.Rows[0].Key)
	assert.Equal(t, projections.Differs, summaries.Rows[0].Problem)
	assert.Equal(t, []projections.ColumnDiff{
		{Column: "status", Live: `"placed"`, Rebuilt: `"completed"`},
		{Column: "item_count", Live: "99", Rebuilt: summaries.Rows[0].Columns[1].Rebuilt},
	}, summaries.Rows[0].Columns)
	assert.Equal(t, 2, byTable["order_counts"].Count, "one status counted once too often, one once too few")

	tickets := byTable["support_tickets"]
	require.Equal(t, 2, tickets.Count)
	assert.Equal(t, fmt.Sprintf("id=%d", gone), tickets.Rows[0].Key)
	assert.Equal(t, projections.Missing, tickets.Rows[0].Problem)
	assert.Equal(t, "id=999999", tickets.Rows[1].Key)
	assert.Equal(t, projections.Extra, tickets.Rows[1].Problem)
	assert.NotContains(t, byTable, "pending_approvals")

	assert.Equal(t, before, checksums(t, pool, "orders"), "verify changes nothing")
}

// A rebuild cancelled halfway leaves the live read models as they were, and no build
// behind.
func TestCancelledRebuildLeavesLiveTables(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	generate(t, pool, ordergen.Options{Events: 10_000, Seed: 3})
	_, err := projections.Rebuild(context.Background(), pool, projections.Options{})
	require.NoError(t, err)
	before := checksums(t, pool, "orders")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = projections.Rebuild(ctx, pool, projections.Options{Progress: func(done, total int64) {
		if done > 0 && done < total {
			cancel()
		}
	}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, before, checksums(t, pool, "orders"))
	assert.Empty(t, schemasLike(t, pool, "replay_%"))
}

// The working schema of a verify or rebuild that died (kill -9, a lost connection) is
// swept by the next build, while one a running build uses is left to it; a verify's was
// kept for good. An as-of schema may not take such a name, or the next sweep drops it.
func TestWorkingSchemasLeftBehindAreSwept(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	generate(t, pool, ordergen.Options{Events: 2_000, Seed: 9})
	_, err := projections.Rebuild(ctx, pool, projections.Options{}) // the live read models at the log's head
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `CREATE SCHEMA replay_verify_dead; CREATE SCHEMA replay_build_dead; CREATE SCHEMA replay_verify_alive`)
	require.NoError(t, err)
	alive, err := pool.Acquire(ctx) // a verify running elsewhere holds its schema's lock
	require.NoError(t, err)
	defer alive.Release()
	_, err = alive.Exec(ctx, `SELECT pg_advisory_lock(x'7265'::int, hashtext('replay_verify_alive'))`)
	require.NoError(t, err)

	_, _, err = projections.Verify(ctx, pool, projections.Options{}, 20)
	require.NoError(t, err)
	assert.Equal(t, []string{"replay_verify_alive"}, schemasLike(t, pool, "replay_%"), "the dead ones swept, the live one kept, the verify's own dropped")

	_, err = projections.BuildInto(ctx, pool, "replay_build_mine", projections.Options{Until: 100})
	assert.ErrorContains(t, err, "working schemas of rebuilds and verifies")
}

// A migration applied to a live table during a rebuild is not undone by the swap (the
// swap dropped the changed table and installed the shape copied at the start, and goose
// would not apply the migration again): the rebuild fails, and the live tables keep it.
func TestARebuildDoesNotUndoAMigrationAppliedMeanwhile(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	generate(t, pool, ordergen.Options{Events: 10_000, Seed: 5})
	_, err := projections.Rebuild(context.Background(), pool, projections.Options{})
	require.NoError(t, err, "an unchanged table swaps")

	var once sync.Once
	_, err = projections.Rebuild(context.Background(), pool, projections.Options{Progress: func(done, total int64) {
		if done > 0 {
			once.Do(func() {
				_, err := pool.Exec(context.Background(), `ALTER TABLE orders.order_summaries ADD COLUMN migrated int NOT NULL DEFAULT 7`)
				require.NoError(t, err)
			})
		}
	}})
	require.ErrorContains(t, err, "swap order_summaries: the live table changed during the rebuild")
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM orders.order_summaries WHERE migrated = 7`).Scan(&n))
	assert.Positive(t, n, "the migrated column is still there")
	assert.Empty(t, schemasLike(t, pool, "replay_%"))
}

// The read models built up to a position are exactly those of a log cut at that
// position: the same histories written to another database only up to there.
func TestBuildUntilAPositionEqualsALogCutThere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	full, cut := pgtest.Pool(t), pgtest.Pool(t)
	const at = 4321
	generate(t, full, ordergen.Options{Events: 8000, Seed: 4})
	generate(t, cut, ordergen.Options{Events: 8000, Seed: 4, Limit: at})
	_, err := projections.Rebuild(ctx, cut, projections.Options{})
	require.NoError(t, err)

	res, err := projections.BuildInto(ctx, full, "as_of", projections.Options{Until: at})
	require.NoError(t, err)
	assert.EqualValues(t, at, res.Events)
	assert.Equal(t, checksums(t, cut, "orders"), checksums(t, full, "as_of"))
	assert.NotEqual(t, checksums(t, full, "as_of"), checksums(t, full, "orders"))

	_, err = projections.BuildInto(ctx, full, "as_of", projections.Options{Until: at})
	require.ErrorContains(t, err, "schema as_of exists already", "an existing schema is never overwritten")
	assert.Equal(t, checksums(t, cut, "orders"), checksums(t, full, "as_of"))

	// While it is built, the schema named is not there: killed half-way, a build left it
	// with part of its rows, looking whole, and the next run refused it (a probe).
	var seen []bool
	_, err = projections.BuildInto(ctx, full, "as_of_too", projections.Options{Until: at, Progress: func(done, total int64) {
		var exists bool
		require.NoError(t, full.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'as_of_too')`).Scan(&exists))
		seen = append(seen, exists)
	}})
	require.NoError(t, err)
	require.NotEmpty(t, seen)
	assert.NotContains(t, seen, true, "not there before it is whole")
	assert.Equal(t, checksums(t, cut, "orders"), checksums(t, full, "as_of_too"))
}

// A time keeps the events recorded by then, wherever the log holds them: a past appended
// after later orders (bin/history after live ones) is built as of its own times. With
// only the position of the newest event recorded by then, -until TIME kept the later
// orders below it too (found by a probe).
func TestBuildUntilATimeKeepsWhatWasRecordedByThen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	full, early := pgtest.Pool(t), pgtest.Pool(t)
	past := ordergen.Options{Events: 3000, Seed: 5, Prefix: "past-", Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	generate(t, full, ordergen.Options{Events: 3000, Seed: 4, Prefix: "late-", Start: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
	generate(t, full, past)
	generate(t, early, past)
	_, err := projections.Rebuild(ctx, early, projections.Options{})
	require.NoError(t, err)

	var at time.Time
	var position int64
	require.NoError(t, full.QueryRow(ctx, `SELECT max(recorded_at) FROM events WHERE stream_id LIKE 'past-%'`).Scan(&at))
	require.NoError(t, full.QueryRow(ctx, `SELECT max(position) FROM events WHERE recorded_at <= $1`, at).Scan(&position))
	_, err = projections.BuildInto(ctx, full, "as_of", projections.Options{Until: position, UntilTime: at})
	require.NoError(t, err)
	// The same orders in the same states (their rows' log positions differ: the past
	// stands after the later orders in full's log).
	orders := func(pool *pgxpool.Pool, schema string) []string {
		rows, err := pool.Query(ctx, `SELECT order_id || ' ' || status || ' ' || total_cents FROM `+schema+`.order_summaries ORDER BY order_id`)
		require.NoError(t, err)
		list, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return list
	}
	want := orders(early, "orders")
	require.NotEmpty(t, want)
	assert.Equal(t, want, orders(full, "as_of"))
}

// A version recorded before the one under it (its transaction began first) does not
// outlive the cut: an order is kept up to its first event recorded past the time, whatever
// the times of the events after it (the review).
func TestBuildUntilATimeKeepsEachOrderAPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	generate(t, pool, ordergen.Options{Events: 300, Seed: 9})
	// An order with three events or more: the time is set just before its second, and its
	// third is made to look recorded before that.
	var id string
	var second time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT stream_id, recorded_at FROM events WHERE stream_version = 2 AND stream_id IN
		(SELECT stream_id FROM events WHERE stream_version = 3) ORDER BY position LIMIT 1`).Scan(&id, &second))
	at := second.Add(-time.Millisecond)
	tag, err := pool.Exec(ctx, `UPDATE "watermill_order_events.`+strconv.Itoa(partitionOf(t, pool, id))+`" SET payload = jsonb_set(payload::jsonb, '{recordedAt}', to_jsonb($2::text))::json
		WHERE payload->>'streamId' = $1 AND (payload->>'version')::int = 3`, id, at.Add(-time.Second).Format(time.RFC3339Nano))
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	_, err = projections.BuildInto(ctx, pool, "as_of", projections.Options{UntilTime: at})
	require.NoError(t, err)
	var status string
	require.NoError(t, pool.QueryRow(ctx, `SELECT status FROM as_of.order_summaries WHERE order_id = $1`, id).Scan(&status))
	assert.Equal(t, "placed", status, "the order as its first event left it")
}

// partitionOf is the partition of order_events that holds order id's events.
func partitionOf(t *testing.T, pool *pgxpool.Pool, id string) int {
	t.Helper()
	for p := range 16 {
		var found bool
		err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM "watermill_order_events.`+strconv.Itoa(p)+`" WHERE payload->>'streamId' = $1)`, id).Scan(&found)
		if err != nil {
			break
		}
		if found {
			return p
		}
	}
	t.Fatalf("no partition holds order %s", id)
	return -1
}

// An order event this release does not know (a newer release's) is left out of a
// rebuild and a verify, as the live consumers leave it out: it failed both, while the live
// read models went on past it (found by a probe).
func TestARebuildLeavesOutEventsThisReleaseDoesNotKnow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	generate(t, pool, ordergen.Options{Events: 2000, Seed: 7})
	_, err := pool.Exec(ctx, `INSERT INTO "watermill_order_events.2" (uuid, payload, metadata, transaction_id) VALUES
		('01a24cff-0000-7000-8000-000000000001',
		 '{"position":999999999,"eventId":"01a24cff-0000-7000-8000-000000000001","streamId":"ord-0000001","streamType":"order","version":99,"name":"order.future.v9","payload":{},"metadata":{},"recordedAt":"2026-12-06T20:00:00Z"}',
		 '{"name":"order.future.v9","stream_id":"ord-0000001"}', pg_current_xact_id())`)
	require.NoError(t, err)
	res, err := projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{orderstreamtest.NewerEvent: 1}, res.Unknown)
	d, res, err := projections.Verify(ctx, pool, projections.Options{}, 5)
	require.NoError(t, err)
	assert.True(t, d.Equal(), "%+v", d)
	assert.Equal(t, map[string]int64{orderstreamtest.NewerEvent: 1}, res.Unknown)
}

// A rebuild of one projection follows the consumer group: the new table holds what the
// group has consumed, no more, so the live consumer carries on from there without
// missing or repeating an event.
func TestRebuildOfOneProjectionFollowsTheGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	generate(t, pool, ordergen.Options{Events: 3000, Seed: 5})
	consumeLive(t, pool)
	consumed := checksums(t, pool, "orders")
	generate(t, pool, ordergen.Options{Events: 2000, Seed: 6, Prefix: "later-"})

	tickets, err := projections.ByName("support_tickets")
	require.NoError(t, err)
	_, err = projections.Rebuild(ctx, pool, projections.Options{Projections: tickets})
	require.NoError(t, err)
	assert.Equal(t, consumed, checksums(t, pool, "orders"), "only what the group has consumed")

	consumeLive(t, pool)
	d, _, err := projections.Verify(ctx, pool, projections.Options{}, 5)
	require.NoError(t, err)
	assert.True(t, d.Equal(), "%+v", d)
}

func TestByName(t *testing.T) {
	ps, err := projections.ByName("pending_approvals", "projection.support_tickets", "pending_approvals")
	require.NoError(t, err)
	require.Len(t, ps, 2)
	assert.Equal(t, "projection.pending_approvals", ps[0].Name)
	_, err = projections.ByName("orders")
	assert.ErrorContains(t, err, "order_summaries, pending_approvals, support_tickets")
	all, err := projections.ByName()
	require.NoError(t, err)
	assert.Len(t, all, len(projections.All()))
}

// loadsOf counts the reads of one stream's events (eventstore.Load) through a pool.
type loadsOf struct {
	stream string
	n      atomic.Int64
}

func (l *loadsOf) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.Contains(data.SQL, "FROM events WHERE stream_id = $1") && len(data.Args) > 0 && data.Args[0] == l.stream {
		l.n.Add(1)
	}
	return ctx
}

func (*loadsOf) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// countingLoads is a pool on a fresh database whose reads of stream's events are counted.
func countingLoads(t *testing.T, stream string) (*pgxpool.Pool, *loadsOf) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	loads := &loadsOf{stream: stream}
	cfg.ConnConfig.Tracer = loads
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, loads
}

// An order event this release does not know, stored in an order's stream, still counts
// as the stream's next version (as order.Apply counts an event it does not know): the
// order a rebuild folds steps over it and takes the order's later events from the log.
// It stood a version behind the stream for good, and the rebuild read the order's whole
// stream again from the event store for each of its later events.
func TestARebuildStepsOverAnEventThisReleaseDoesNotKnow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, loads := countingLoads(t, "o-future")

	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	o := &order.Order{ID: "o-future"}
	write := func(decide func(o *order.Order) ([]order.Event, error)) { t.Helper(); writeOrder(t, pool, o, decide) }
	write(func(o *order.Order) ([]order.Event, error) {
		return o.Place(order.PlaceOrder{OrderID: o.ID, CustomerID: "c-1", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 100, At: at})
	})
	orderstreamtest.AppendNewerEvent(t, pool, o, orderstreamtest.SameLayout)
	for i := range 5 {
		write(func(o *order.Order) ([]order.Event, error) {
			return o.AddNote("ann@example.com", fmt.Sprint("note ", i), at)
		})
	}

	consumeLive(t, pool)

	loads.n.Store(0)
	d, res, err := projections.Verify(ctx, pool, projections.Options{}, 5)
	require.NoError(t, err)
	assert.True(t, d.Equal(), "the rebuild differs from the live read models: %+v", d)
	assert.Equal(t, map[string]int64{orderstreamtest.NewerEvent: 1}, res.Unknown)
	assert.Zero(t, loads.n.Load(), "the order's stream read again from the event store")
}

// An order event this release does not know, in the stream of an order held for a
// manager's decision, is stepped over by the live pending approvals as by a rebuild: the
// live projection folded the order's whole stream for each approval event and failed on
// it ("unknown order event"), so the batch, and every read model with it, stood still,
// while a rebuild and a verify went on past it.
func TestLivePendingApprovalsStepOverAnEventThisReleaseDoesNotKnow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	o := &order.Order{ID: "o-held-future"}
	write := func(decide func(o *order.Order) ([]order.Event, error)) { t.Helper(); writeOrder(t, pool, o, decide) }
	write(func(o *order.Order) ([]order.Event, error) {
		return o.Place(order.PlaceOrder{OrderID: o.ID, CustomerID: "c-1", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 2_500_000, At: at})
	})
	write(func(o *order.Order) ([]order.Event, error) {
		return o.AssessRisk(85, []order.RiskFactor{{Code: "new_customer", Description: "first order", Points: 25}}, 70, at.Add(time.Hour), at)
	})
	orderstreamtest.AppendNewerEvent(t, pool, o, orderstreamtest.SameLayout)
	write(func(o *order.Order) ([]order.Event, error) {
		return o.Approve("ann@example.com", "checked by phone", at.Add(time.Minute))
	})

	consumeLive(t, pool)
	var status, by string
	require.NoError(t, pool.QueryRow(ctx, `SELECT status, decided_by FROM orders.pending_approvals WHERE order_id = $1`, o.ID).Scan(&status, &by))
	assert.Equal(t, projections.ApprovalApproved, status)
	assert.Equal(t, "ann@example.com", by)
	d, res, err := projections.Verify(ctx, pool, projections.Options{}, 5)
	require.NoError(t, err)
	assert.True(t, d.Equal(), "the rebuild differs from the live read models: %+v", d)
	assert.Equal(t, map[string]int64{orderstreamtest.NewerEvent: 1}, res.Unknown)
}

// writeOrder decides on o, loaded already, and appends what it decides after it.
func writeOrder(t *testing.T, pool *pgxpool.Pool, o *order.Order, decide func(o *order.Order) ([]order.Event, error)) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := orderstream.UpdateLoaded(ctx, tx, o, eventstore.Metadata{CorrelationID: o.ID}, decide)
		return err
	}))
}

// An order whose newest event is one this release does not know, stored by a newer
// release with the order's snapshot (a rolling upgrade), is listed by the live order
// summaries as far as this release knows it, its row at that event, the order's newest,
// as in a rebuild. With the snapshot in a layout this release does not read, the order is
// folded without the event as a rebuild folds it, and so is an order a newer release
// placed with such an event: it has no row, as in a rebuild. The summaries read their
// orders through orderstream.LoadMany, which refuses such an order (nothing may be decided
// on it), so the projections' batch failed and was taken again for ever: every read model
// stood still, for every order. The saga and the commands still refuse it. With the
// snapshot in this release's layout, the live row stood at the event, read from the
// snapshot, and a rebuild's at the event before it: a verify found them different.
func TestLiveOrderSummariesFoldAnOrderWithANewerReleasesEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	at := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	place := func(o *order.Order) ([]order.Event, error) {
		return o.Place(order.PlaceOrder{OrderID: o.ID, CustomerID: "c-1", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 2_500_000, At: at})
	}
	held := map[orderstreamtest.Layout]*order.Order{orderstreamtest.NewerLayout: {ID: "o-newer-layout"}, orderstreamtest.SameLayout: {ID: "o-same-layout"}}
	for layout, o := range held {
		writeOrder(t, pool, o, place)
		writeOrder(t, pool, o, func(o *order.Order) ([]order.Event, error) {
			return o.AssessRisk(85, []order.RiskFactor{{Code: "new_customer", Description: "first order", Points: 25}}, 70, at.Add(time.Hour), at)
		})
		orderstreamtest.AppendNewerEvent(t, pool, o, layout)
	}
	orderstreamtest.AppendNewerEvent(t, pool, &order.Order{ID: "o-newer-placement"}, orderstreamtest.NewerLayout)
	other := &order.Order{ID: "o-other"}
	writeOrder(t, pool, other, place)

	// The orders' events in one batch, as the live consumer takes them.
	var batch []eventstore.Recorded
	for _, id := range []string{"o-newer-layout", "o-same-layout", "o-newer-placement", other.ID} {
		recorded, err := eventstore.Load(ctx, pool, id)
		require.NoError(t, err)
		batch = append(batch, recorded...)
	}
	slices.SortFunc(batch, func(a, b eventstore.Recorded) int { return int(a.Position - b.Position) })
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return projections.ApplyAll(ctx, tx, batch) }))

	rows, err := pool.Query(ctx, `SELECT order_id, status, last_position FROM orders.order_summaries ORDER BY order_id`)
	require.NoError(t, err)
	type summary struct {
		ID, Status string
		Position   int64
	}
	summaries, err := pgx.CollectRows(rows, pgx.RowToStructByPos[summary])
	require.NoError(t, err)
	newest := func(id string) int64 {
		position, err := orderstream.NewestPosition(ctx, pool, id)
		require.NoError(t, err)
		return position
	}
	assert.Equal(t, []summary{
		{"o-newer-layout", string(order.StatusAwaitingApproval), newest("o-newer-layout")},
		{other.ID, string(order.StatusPlaced), newest(other.ID)},
		{"o-same-layout", string(order.StatusAwaitingApproval), newest("o-same-layout")},
	}, summaries)

	consumeLive(t, pool)
	d, res, err := projections.Verify(ctx, pool, projections.Options{}, 5)
	require.NoError(t, err)
	assert.True(t, d.Equal(), "the rebuild differs from the live read models: %+v", d)
	assert.Equal(t, map[string]int64{orderstreamtest.NewerEvent: 3}, res.Unknown)

	_, err = orderstream.Load(ctx, pool, "o-newer-layout")
	assert.Equal(t, apperr.CodeUnavailable, apperr.ErrorCode(err), "%v", err)
}

// The live order summaries read the stream of an order they fold without an event this
// release does not know once: orderstream.LoadEach, which read it to refuse the order,
// hands back what it read. They read it a second time, to fold it, for each batch of
// such an order, on every older instance during a rolling upgrade that changes the
// snapshot's layout.
func TestLiveOrderSummariesReadARefusedOrdersStreamOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, loads := countingLoads(t, "o-refused")

	at := time.Date(2026, 12, 9, 12, 0, 0, 0, time.UTC)
	o := &order.Order{ID: "o-refused"}
	writeOrder(t, pool, o, func(o *order.Order) ([]order.Event, error) {
		return o.Place(order.PlaceOrder{OrderID: o.ID, CustomerID: "c-1", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 100, At: at})
	})
	orderstreamtest.AppendNewerEvent(t, pool, o, orderstreamtest.NewerLayout)
	recorded, err := eventstore.Load(ctx, pool, o.ID)
	require.NoError(t, err)

	loads.n.Store(0)
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return projections.OrderSummaries.ApplyBatch(ctx, tx, recorded)
	}))
	assert.Equal(t, int64(1), loads.n.Load(), "reads of the order's stream")
	var status string
	var position int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT status, last_position FROM orders.order_summaries WHERE order_id = $1`, o.ID).
		Scan(&status, &position))
	assert.Equal(t, string(order.StatusPlaced), status)
	assert.Equal(t, recorded[len(recorded)-1].Position, position, "the row stands at the order's newest event")
}
