package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/projections/ordergen"
)

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func cents(c order.Cents) *order.Cents { return &c }

func place(t *testing.T, pool *pgxpool.Pool, cmd order.PlaceOrder) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		o := &order.Order{}
		events, err := o.Place(cmd)
		if err != nil {
			return err
		}
		o.ID = cmd.OrderID
		return orderstream.Append(ctx, tx, o, eventstore.Metadata{CorrelationID: cmd.OrderID}, events...)
	})
	require.NoError(t, err)
}

func update(t *testing.T, pool *pgxpool.Pool, id string, decide func(*order.Order) ([]order.Event, error)) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "test"}, decide)
		return err
	})
	require.NoError(t, err)
}

// seed stores four orders that end in different statuses and returns their ids.
func seed(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	factors := []order.RiskFactor{{Code: "new_customer", Description: "first order", Points: 40}}
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }

	// a: only placed, every optional field set.
	place(t, pool, order.PlaceOrder{
		OrderID: "ord-a", CustomerID: "cust-1", CustomerEmail: "a@example.com", NewCustomer: true,
		Items:    []order.Item{{SKU: "A", Quantity: 2, UnitPrice: cents(1000)}, {SKU: "B", Quantity: 3, UnitPrice: cents(500)}},
		Total:    3500,
		Currency: "EUR",
		At:       at(0),
	})
	// b: held for approval, then approved.
	place(t, pool, order.PlaceOrder{OrderID: "ord-b", CustomerID: "cust-2", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 50000, At: at(1)})
	update(t, pool, "ord-b", func(o *order.Order) ([]order.Event, error) {
		return o.AssessRisk(85, factors, 70, at(61), at(2))
	})
	update(t, pool, "ord-b", func(o *order.Order) ([]order.Event, error) {
		return o.Approve("alice", "known customer", at(3))
	})
	// c: held, then rejected (which also cancels it).
	place(t, pool, order.PlaceOrder{OrderID: "ord-c", Items: []order.Item{{SKU: "C", Quantity: 4}}, Total: 9999, At: at(4)})
	update(t, pool, "ord-c", func(o *order.Order) ([]order.Event, error) {
		return o.AssessRisk(95, factors, 70, at(64), at(5))
	})
	update(t, pool, "ord-c", func(o *order.Order) ([]order.Event, error) {
		return o.Reject("bob", "fraud pattern", at(6))
	})
	// d: low risk, reserved, then timed out while awaiting payment.
	place(t, pool, order.PlaceOrder{OrderID: "ord-d", Items: []order.Item{{SKU: "D", Quantity: 1}}, Total: 100, At: at(7)})
	update(t, pool, "ord-d", func(o *order.Order) ([]order.Event, error) {
		return o.AssessRisk(10, nil, 70, at(67), at(8))
	})
	update(t, pool, "ord-d", func(o *order.Order) ([]order.Event, error) {
		return o.ReserveInventory("res-1", at(9))
	})
	update(t, pool, "ord-d", func(o *order.Order) ([]order.Event, error) {
		return o.Cancel(order.ReasonTimedOut, "payment deadline passed", at(10))
	})
	return []string{"ord-a", "ord-b", "ord-c", "ord-d"}
}

type summaryRow struct {
	OrderID       string
	Status        string
	CustomerID    string
	CustomerEmail string
	NewCustomer   bool
	TotalCents    int64
	Currency      string
	ItemCount     int
	RiskScore     *int
	CancelReason  string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastPosition  int64
}

func rows(t *testing.T, pool *pgxpool.Pool) map[string]summaryRow {
	t.Helper()
	r, err := pool.Query(context.Background(), `
		SELECT order_id, status, customer_id, customer_email, new_customer, total_cents, currency,
			item_count, risk_score, cancel_reason, created_at, updated_at, last_position
		FROM orders.order_summaries`)
	require.NoError(t, err)
	list, err := pgx.CollectRows(r, pgx.RowToStructByPos[summaryRow])
	require.NoError(t, err)
	out := map[string]summaryRow{}
	for _, s := range list {
		out[s.OrderID] = s
	}
	return out
}

func lastPosition(events []eventstore.Recorded, streamID string) int64 {
	var last int64
	for _, e := range events {
		if e.StreamID == streamID {
			last = e.Position
		}
	}
	return last
}

// rebuiltFrom is a store seeded by seedWith with its read models rebuilt from the events.
func rebuiltFrom(t *testing.T, seedWith func(*testing.T, *pgxpool.Pool)) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.Pool(t)
	seedWith(t, pool)
	_, err := projections.Rebuild(context.Background(), pool, projections.Options{})
	require.NoError(t, err)
	return pool
}

// dump is the whole read model as text, for exact before/after comparisons.
func dump(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) string {
	t.Helper()
	var s string
	err := q.QueryRow(context.Background(),
		`SELECT coalesce(json_agg(s ORDER BY s.order_id)::text, '[]') FROM orders.order_summaries s`).Scan(&s)
	require.NoError(t, err)
	return s
}

// allEvents reads every order event, in position order.
func allEvents(t *testing.T, pool *pgxpool.Pool) []eventstore.Recorded {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT position, event_id::text, stream_id, stream_type, stream_version, event_name, payload, metadata, recorded_at
		FROM events WHERE stream_type = $1 ORDER BY position`, orderstream.StreamType)
	require.NoError(t, err)
	events, err := pgx.CollectRows(rows, pgx.RowToStructByPos[eventstore.Recorded])
	require.NoError(t, err)
	return events
}

// A rebuild produces one row per order that matches the order's aggregate state.
func TestRebuildMatchesAggregates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	ids := seed(t, pool)

	n, err := projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	events := allEvents(t, pool)
	assert.EqualValues(t, len(events), n.Events, "every order event is applied once")

	got := rows(t, pool)
	require.Len(t, got, len(ids))
	lastPosition := map[string]int64{}
	for _, e := range events {
		lastPosition[e.StreamID] = e.Position
	}
	for _, id := range ids {
		o, err := orderstream.Load(ctx, pool, id)
		require.NoError(t, err)
		row, ok := got[id]
		require.True(t, ok, "no row for %s", id)
		items := 0
		for _, it := range o.Items {
			items += it.Quantity
		}
		assert.Equal(t, string(o.Status), row.Status, id)
		assert.Equal(t, o.RiskScore, row.RiskScore, id)
		assert.Equal(t, int64(o.Total), row.TotalCents, id)
		assert.Equal(t, o.Currency, row.Currency, id)
		assert.Equal(t, items, row.ItemCount, id)
		assert.Equal(t, o.CustomerID, row.CustomerID, id)
		assert.Equal(t, o.CustomerEmail, row.CustomerEmail, id)
		assert.Equal(t, o.NewCustomer, row.NewCustomer, id)
		assert.Equal(t, string(o.CancelReason), row.CancelReason, id)
		assert.True(t, o.PlacedAt.Equal(row.CreatedAt), "%s created_at %s, placed %s", id, row.CreatedAt, o.PlacedAt)
		assert.True(t, o.UpdatedAt.Equal(row.UpdatedAt), "%s updated_at %s, aggregate %s", id, row.UpdatedAt, o.UpdatedAt)
		assert.Equal(t, lastPosition[id], row.LastPosition, id)
	}

	// The seed really did reach different statuses, so the comparison above covers them.
	statuses := map[string]string{}
	for id, r := range got {
		statuses[id] = r.Status
	}
	assert.Equal(t, map[string]string{
		"ord-a": string(order.StatusPlaced),
		"ord-b": string(order.StatusReserving),
		"ord-c": string(order.StatusRejected),
		"ord-d": string(order.StatusCancelled),
	}, statuses)
}

// Rebuilding is repeatable and forgets whatever the read model held before.
func TestRebuildTwiceGivesIdenticalRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	seed(t, pool)

	_, err := projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	first := dump(t, pool)
	require.NotEqual(t, "[]", first)

	_, err = projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	assert.Equal(t, first, dump(t, pool))

	// Corrupt the read model: a row for no order, a wrong status, a missing row.
	_, err = pool.Exec(ctx, `
		INSERT INTO orders.order_summaries (order_id, status, total_cents, currency, item_count, created_at, updated_at, last_position)
		VALUES ('ghost', 'placed', 1, 'USD', 1, now(), now(), 999999)`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE orders.order_summaries SET status = 'completed', last_position = 999999 WHERE order_id = 'ord-b'`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `DELETE FROM orders.order_summaries WHERE order_id = 'ord-a'`)
	require.NoError(t, err)
	require.NotEqual(t, first, dump(t, pool))

	_, err = projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	assert.Equal(t, first, dump(t, pool))
}

// applyAll applies events to an emptied read model in one transaction and returns the
// resulting dump (the transaction is committed).
func applyAll(t *testing.T, pool *pgxpool.Pool, events []eventstore.Recorded) string {
	t.Helper()
	ctx := context.Background()
	var out string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `TRUNCATE orders.order_summaries`); err != nil {
			return err
		}
		for _, e := range events {
			if err := projections.OrderSummaries.Apply(ctx, tx, e); err != nil {
				return err
			}
		}
		out = dump(t, tx)
		return nil
	})
	require.NoError(t, err)
	return out
}

// The log delivers at least once and may redeliver old messages: the same event twice, or
// an older one after a newer one, must leave the row as it was.
func TestApplyIsIdempotentAndNeverRegresses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := rebuiltFrom(t, func(t *testing.T, pool *pgxpool.Pool) { seed(t, pool) })
	want := dump(t, pool)
	events := allEvents(t, pool)
	require.NotEmpty(t, events)

	t.Run("every event twice", func(t *testing.T) {
		var twice []eventstore.Recorded
		for _, e := range events {
			twice = append(twice, e, e)
		}
		assert.Equal(t, want, applyAll(t, pool, twice))
	})

	t.Run("newest first", func(t *testing.T) {
		var backwards []eventstore.Recorded
		for i := len(events) - 1; i >= 0; i-- {
			backwards = append(backwards, events[i])
		}
		assert.Equal(t, want, applyAll(t, pool, backwards))
	})

	t.Run("last event again", func(t *testing.T) {
		applyAll(t, pool, events)
		last := events[len(events)-1]
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return projections.OrderSummaries.Apply(ctx, tx, last)
		}))
		assert.Equal(t, want, dump(t, pool))
	})

	t.Run("older event after newer", func(t *testing.T) {
		applyAll(t, pool, events)
		var bEvents []eventstore.Recorded
		for _, e := range events {
			if e.StreamID == "ord-b" {
				bEvents = append(bEvents, e)
			}
		}
		require.Len(t, bEvents, 4, "placed, risk assessed, held, approved")
		require.Equal(t, string(order.StatusReserving), rows(t, pool)["ord-b"].Status)
		for _, old := range bEvents[:3] {
			require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return projections.OrderSummaries.Apply(ctx, tx, old)
			}))
			assert.Equal(t, string(order.StatusReserving), rows(t, pool)["ord-b"].Status, "after redelivering %s", old.Name)
		}
		assert.Equal(t, want, dump(t, pool))
	})

	t.Run("any one event brings the row up to date", func(t *testing.T) {
		// The row is the order's current state, whichever of its events arrives first: a
		// lagging projection catches up in one write, and the events it then meets
		// change nothing.
		_, err := pool.Exec(ctx, `TRUNCATE orders.order_summaries`)
		require.NoError(t, err)
		var first eventstore.Recorded
		for _, e := range events {
			if e.StreamID == "ord-b" {
				first = e
				break
			}
		}
		require.Equal(t, order.NameOrderPlaced, first.Name)
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return projections.OrderSummaries.Apply(ctx, tx, first)
		}))
		caughtUp := rows(t, pool)["ord-b"]
		assert.Equal(t, string(order.StatusReserving), caughtUp.Status)
		assert.Equal(t, lastPosition(events, "ord-b"), caughtUp.LastPosition)
		for _, e := range events {
			require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return projections.OrderSummaries.Apply(ctx, tx, e)
			}))
		}
		assert.Equal(t, want, dump(t, pool))
	})
}

// A step of an order rewrites its summary row in place: every index of order_summaries is
// on columns a step does not change, so the update is heap-only (HOT) and writes no index
// entry, and a rebuild keeps the room on each page that this needs. The status moves in
// orders_by_status, the index the status lists walk.
func TestAStepRewritesTheSummaryHeapOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := rebuiltFrom(t, func(t *testing.T, pool *pgxpool.Pool) { seed(t, pool) })
	var options []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT reloptions FROM pg_class WHERE oid = 'orders.order_summaries'::regclass`).Scan(&options))
	assert.Equal(t, []string{"fillfactor=70"}, options, "the rebuilt table keeps the migration's fillfactor")
	listed := func(status order.Status) []string {
		list, err := projections.FilteredSummaries(ctx, pool, projections.SummaryFilter{Status: string(status)}, nil, 10)
		require.NoError(t, err)
		var ids []string
		for _, s := range list {
			ids = append(ids, s.OrderID)
		}
		return ids
	}
	require.Equal(t, []string{"ord-b"}, listed(order.StatusReserving))

	update(t, pool, "ord-b", func(o *order.Order) ([]order.Event, error) {
		return o.ReserveInventory("res-b", base.Add(time.Hour))
	})
	events := allEvents(t, pool)
	reserved := events[len(events)-1]
	require.Equal(t, "ord-b", reserved.StreamID)
	var updated, heapOnly int
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := projections.OrderSummaries.Apply(ctx, tx, reserved); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_updated('orders.order_summaries'::regclass),
			pg_stat_get_xact_tuples_hot_updated('orders.order_summaries'::regclass)`).Scan(&updated, &heapOnly)
	}))
	assert.Equal(t, 1, updated)
	assert.Equal(t, 1, heapOnly, "the summary's update is heap-only")
	assert.Empty(t, listed(order.StatusReserving))
	assert.Equal(t, []string{"ord-b"}, listed(order.StatusAwaitingPayment))
	assert.Equal(t, string(order.StatusAwaitingPayment), rows(t, pool)["ord-b"].Status)
}

// A placement asks whether its customer has completed an order before. It walked the
// customer's summaries newest first until it met a completed one: a customer with 10,000
// orders none completed read 526 pages on every placement (a review; no hot-path query
// may grow with a customer's history, issue 7). It is one probe of the index of the
// completed orders' customers, which the summaries' writer keeps.
func TestKnownCustomerIsOneLookupWhateverTheHistory(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	generate(t, pool, ordergen.Options{Events: 3000, Seed: 4})
	consumeLive(t, pool)
	var completed, unfilled int
	var loyal string
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE b.customer_id IS DISTINCT FROM s.customer_id), max(s.customer_id)
		FROM orders.orders_by_status b JOIN orders.order_summaries s USING (order_id) WHERE b.status = 'completed'`).Scan(&completed, &unfilled, &loyal))
	require.NotZero(t, completed)
	assert.Zero(t, unfilled, "the writer gives every completed order's row its customer")

	// Two customers with 3,000 orders since, none completed: one of them completed one before.
	for _, customer := range []string{loyal, "c-busy"} {
		_, err := pool.Exec(ctx, `WITH s AS (
				INSERT INTO orders.order_summaries (order_id, status, customer_id, total_cents, currency, item_count, created_at, updated_at, last_position)
				SELECT $1 || '-' || g, 'cancelled', $1, 100, 'USD', 1, now(), now(), 0 FROM generate_series(1, 3000) g RETURNING order_id, status, customer_id, created_at)
			INSERT INTO orders.orders_by_status (order_id, status, customer_id, created_at) SELECT * FROM s`, customer)
		require.NoError(t, err)
	}
	_, err := pool.Exec(ctx, `ANALYZE orders.order_summaries, orders.orders_by_status`)
	require.NoError(t, err)

	// known answers the question, and counts the pages its statement reads.
	known := func(customer string) (bool, int) {
		var k bool
		b := &pgx.Batch{}
		projections.QueueKnownCustomer(b, customer, &k)
		require.NoError(t, pool.SendBatch(ctx, b).Close())
		q := b.QueuedQueries[0]
		var plan []struct {
			Plan struct {
				Hit  int `json:"Shared Hit Blocks"`
				Read int `json:"Shared Read Blocks"`
			}
		}
		// The tables here are small enough that a scan can look cheaper; on a million
		// orders it never is.
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+q.SQL, q.Arguments...).Scan(&plan)
		}))
		return k, plan[0].Plan.Hit + plan[0].Plan.Read
	}
	for _, c := range []struct {
		customer string
		want     bool
	}{{loyal, true}, {"c-busy", false}, {"c-never-seen", false}} {
		k, pages := known(c.customer)
		assert.Equal(t, c.want, k, c.customer)
		assert.LessOrEqual(t, pages, 4, "%s: pages read", c.customer)
	}
}

// A release before sql/00094 writes orders_by_status without the customer, and keeps
// doing so while a rolling upgrade lasts: an order it completed then is never written
// again, and its customer stayed unknown for good (a review). Its rows take the customer
// from the order's summary.
func TestAnOlderReleasesCompletedOrderMakesItsCustomerKnown(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	olderRelease := func(status string, position int) { // the summaries' write before sql/00094
		_, err := pool.Exec(ctx, `WITH written AS (
				INSERT INTO orders.order_summaries AS s (order_id, status, customer_id, total_cents, currency, item_count, created_at, updated_at, last_position)
				VALUES ('ord-older', $1, 'c-older', 100, 'USD', 1, now(), now(), $2)
				ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, last_position = excluded.last_position
				WHERE s.last_position < excluded.last_position
				RETURNING order_id, status, created_at, total_cents, risk_score)
			INSERT INTO orders.orders_by_status AS b (order_id, status, created_at, total_cents, risk_score)
			SELECT order_id, status, created_at, total_cents, risk_score FROM written
			ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, total_cents = excluded.total_cents, risk_score = excluded.risk_score
			WHERE (b.status, b.total_cents, b.risk_score) IS DISTINCT FROM (excluded.status, excluded.total_cents, excluded.risk_score)`, status, position)
		require.NoError(t, err)
	}
	known := func() bool {
		var k bool
		b := &pgx.Batch{}
		projections.QueueKnownCustomer(b, "c-older", &k)
		require.NoError(t, pool.SendBatch(ctx, b).Close())
		return k
	}
	olderRelease(string(order.StatusPlaced), 1)
	assert.False(t, known())
	olderRelease(string(order.StatusCompleted), 9)
	assert.True(t, known(), "the customer of an order an older release completed is known")
}
