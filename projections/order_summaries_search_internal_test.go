package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// The orders list filtered by a status walks that status's orders in the sort's order,
// whatever the sort: sorted by total or risk it walked the summaries' own index over
// nearly every order to find a rare status (a probe's rejected orders, all large and
// risky, sat at one end: 1-3 s over 315,000 orders). The summaries' writer keeps the
// sort columns in orders_by_status, and a later step (a risk score set) moves them.
func TestAStatusListWalksItsOwnOrdersInEverySort(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var written, rejected []*OrderAt
	for i := range 2000 {
		st, total, score := order.StatusCompleted, order.Cents(1000+i), i%60
		if i%100 == 7 { // the rare status, at the far end of both sorts
			st, total, score = order.StatusRejected, order.Cents(900_000+i), 90+i%10
		}
		o := summaryAt(fmt.Sprintf("ord-%04d", i), st, total, &score, at.Add(time.Duration(i)*time.Second), int64(i+1))
		written = append(written, o)
		if st == order.StatusRejected {
			rejected = append(rejected, o)
		}
	}
	unscored := summaryAt("ord-held", order.StatusRejected, 5, nil, at, 3000)
	writeSummaries(t, pool, append(written, unscored)...)
	// Its risk score comes later, with a later step.
	score := 95
	scored := *unscored
	scored.RiskScore, scored.Position = &score, 3001
	writeSummaries(t, pool, &scored)
	rejected = append(rejected, &scored)
	_, err := pool.Exec(ctx, `ANALYZE orders.order_summaries; ANALYZE orders.orders_by_status`)
	require.NoError(t, err)

	risk := func(o *OrderAt) int64 { return int64(*o.RiskScore) }
	for _, c := range []struct {
		sort, index string
		value       func(*OrderAt) int64
	}{
		{"total", "orders_by_status_total", func(o *OrderAt) int64 { return int64(o.Total) }},
		{"risk", "orders_by_status_risk", risk},
		{"placed", "orders_by_status_created", func(o *OrderAt) int64 { return o.PlacedAt.UnixMicro() }},
	} {
		for _, asc := range []bool{true, false} {
			f := SummaryFilter{Status: string(order.StatusRejected), Sort: c.sort, Asc: asc}
			want := slices.Clone(rejected)
			slices.SortFunc(want, func(a, b *OrderAt) int {
				if d := c.value(a) - c.value(b); d != 0 {
					return int(d / max(d, -d)) // the sign
				}
				return strings.Compare(a.ID, b.ID)
			})
			if !asc {
				slices.Reverse(want)
			}
			got := pageThrough(t, pool, f, 8)
			var ids []string
			for _, o := range want {
				ids = append(ids, o.ID)
			}
			assert.Equal(t, ids, got, "%s asc=%v, page by page", c.sort, asc)

			next := SummaryKey{Placed: want[3].PlacedAt, Value: c.value(want[3]), ID: want[3].ID}
			for _, after := range []*SummaryKey{nil, &next} { // the first page, and one after it
				sql, args, err := f.query(after, 51)
				require.NoError(t, err)
				plan := explain(t, pool, sql, args[1:])
				assert.Contains(t, plan, c.index, "%s asc=%v:\n%s", c.sort, asc, plan)
				assert.NotContains(t, plan, "order_summaries_total", "%s asc=%v", c.sort, asc)
				assert.NotContains(t, plan, "order_summaries_risk", "%s asc=%v", c.sort, asc)
			}
		}
	}
}

// A cursor's number past an int4 is read as any other: a risk score's cursor of 2^31 (a
// link anyone can make) was typed int4 and failed to encode, a 500 (a probe). Descending,
// every order is below it; ascending, none is above.
func TestACursorPastAnInt4IsAnyOther(t *testing.T) {
	pool := pgtest.Pool(t)
	score := 40
	writeSummaries(t, pool, summaryAt("ord-1", order.StatusCompleted, 100, &score, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), 1))
	after := &SummaryKey{Value: 1 << 31, ID: "ord-0"}
	for _, status := range []string{"", string(order.StatusCompleted)} {
		for _, sort := range []string{"risk", "total"} {
			for asc, want := range map[bool]int{false: 1, true: 0} {
				list, err := FilteredSummaries(context.Background(), pool, SummaryFilter{Status: status, Sort: sort, Asc: asc}, after, 10)
				require.NoError(t, err, "status %q, %s asc=%v", status, sort, asc)
				assert.Len(t, list, want, "status %q, %s asc=%v", status, sort, asc)
			}
		}
	}
}

// Rows an older release's writer left without total and risk in orders_by_status (a
// rolling upgrade) are listed once each, in the place the list gives them: the next
// page's cursor is the value the list walked, not the summary's (the review: a cursor
// from the summary dropped them, or paged round in a loop).
func TestAStatusListPagesPastRowsAnOlderWriterLeftUnset(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var written []*OrderAt
	var ids []string
	for i := range 20 {
		score := 10 + i
		o := summaryAt(fmt.Sprintf("ord-%02d", i), order.StatusCompleted, order.Cents(100+i), &score, at, int64(i+1))
		written, ids = append(written, o), append(ids, o.ID)
	}
	writeSummaries(t, pool, written...)
	_, err := pool.Exec(ctx, `UPDATE orders.orders_by_status SET total_cents = NULL, risk_score = NULL
		WHERE order_id IN ('ord-03', 'ord-11', 'ord-17')`)
	require.NoError(t, err)
	for _, sort := range []string{"total", "risk"} {
		for _, asc := range []bool{true, false} {
			f := SummaryFilter{Status: string(order.StatusCompleted), Sort: sort, Asc: asc}
			got := pageThrough(t, pool, f, 4)
			assert.ElementsMatch(t, ids, got, "%s asc=%v: every order once", sort, asc)
		}
	}
}

// pageThrough reads the list f selects page by page, size rows a page, each page after
// the last row of the one before (SummaryFilter.KeyOf), and returns the order ids read.
// More than ten pages fail the test: a list that pages round in a loop.
func pageThrough(t *testing.T, pool *pgxpool.Pool, f SummaryFilter, size int) []string {
	t.Helper()
	var got []string
	var after *SummaryKey
	for page := 0; ; page++ {
		require.Less(t, page, 10, "%+v pages on and on: %v", f, got)
		list, err := FilteredSummaries(context.Background(), pool, f, after, size)
		require.NoError(t, err)
		for _, s := range list {
			got = append(got, s.OrderID)
		}
		if len(list) < size {
			return got
		}
		k := f.KeyOf(list[len(list)-1])
		after = &k
	}
}

// summaryAt is order id of customer c in status st, with total and risk (nil: none),
// placed at at, as folded up to log position pos.
func summaryAt(id string, st order.Status, total order.Cents, risk *int, at time.Time, pos int64) *OrderAt {
	return &OrderAt{Order: order.Order{ID: id, Status: st, CustomerID: "c", CustomerEmail: "c@example.com",
		Total: total, Currency: "EUR", RiskScore: risk, PlacedAt: at, UpdatedAt: at}, Position: pos}
}

// writeSummaries writes orders in one transaction, as the summaries' projection does.
func writeSummaries(t *testing.T, pool *pgxpool.Pool, orders ...*OrderAt) {
	t.Helper()
	rows := &summaryRows{latest: map[string]*OrderAt{}}
	for _, o := range orders {
		rows.latest[o.ID] = o
	}
	require.NoError(t, pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error { return rows.write(context.Background(), tx, Schema, false) }))
}

// explain is the plan of sql with args, as text, with sorting made a last resort: the
// plan then shows which index gives the rows in the list's order (on a small table a
// sort of a few rows is cheapest, and the planner would show nothing of the kind).
func explain(t *testing.T, pool *pgxpool.Pool, sql string, args []any) string {
	t.Helper()
	var lines []string
	require.NoError(t, pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `SET LOCAL enable_sort = off`); err != nil {
			return err
		}
		rows, err := tx.Query(context.Background(), "EXPLAIN "+sql, append([]any{pgx.QueryExecModeExec}, args...)...)
		if err != nil {
			return err
		}
		lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}))
	return strings.Join(lines, "\n")
}

// Migration 00092 fills the sort columns of every order already in orders_by_status, a
// thousand a transaction, from its summary.
func TestTheMigrationFillsTheStatusListsSortColumns(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var written []*OrderAt
	for i := range 2500 {
		score := i % 100
		o := summaryAt(fmt.Sprintf("ord-%04d", i), order.StatusCompleted, order.Cents(i), &score, at, int64(i+1))
		if i%10 == 0 {
			o.RiskScore = nil
		}
		written = append(written, o)
	}
	writeSummaries(t, pool, written...)
	// The database as the release before 00092 left it.
	_, err := pool.Exec(ctx, `DROP INDEX orders.orders_by_status_total; DROP INDEX orders.orders_by_status_risk;
		ALTER TABLE orders.orders_by_status DROP COLUMN total_cents, DROP COLUMN risk_score;
		DELETE FROM goose_db_version WHERE version_id >= 92`)
	require.NoError(t, err)

	require.NoError(t, eventstore.Migrate(ctx, pool))
	var differ, indexes int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders.orders_by_status b JOIN orders.order_summaries s USING (order_id)
		WHERE (b.total_cents, b.risk_score) IS DISTINCT FROM (s.total_cents, s.risk_score)`).Scan(&differ))
	assert.Zero(t, differ)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_index
		WHERE indexrelid IN ('orders.orders_by_status_total'::regclass, 'orders.orders_by_status_risk'::regclass) AND indisvalid`).Scan(&indexes))
	assert.Equal(t, 2, indexes)
}
