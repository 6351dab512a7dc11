package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
)

// SummaryFilter is the dashboard's orders list: a status, a search, and a sort.
type SummaryFilter struct {
	Status string
	Query  string
	// Email is one customer's email, matched whole, in any case: a customer's orders, where
	// Query's search, matching any part, also listed hana@example.com's under ann@… (a probe).
	Email string
	// Sort is the column the list is ordered by ("placed", "total", "risk"; "" is
	// "placed") and Asc its direction (newest, largest, riskiest first by default).
	Sort string
	Asc  bool
}

// sortKeys are the orders list's sortable columns and the SQL of each; every one has an
// index with order_id (sql/00002, sql/00044), the tie-breaker that keeps keyset pages
// stable. With a status filter they are walked in orders_by_status instead, whose indexes
// put the status first (sql/00074, sql/00092): walking the summaries' own index to find
// a rare status read nearly every order.
var sortKeys = map[string]string{"placed": "s.created_at", "total": "s.total_cents", "risk": "coalesce(s.risk_score, -1)"}

// statusSortKeys are sortKeys in orders_by_status, as its indexes have them (an older
// release's writer leaves total and risk unset).
var statusSortKeys = map[string]string{"placed": "b.created_at", "total": "coalesce(b.total_cents, -1)", "risk": "coalesce(b.risk_score, -1)"}

// SortKey is the filter's sort column, defaulting to placed.
func (f SummaryFilter) SortKey() string {
	if _, ok := sortKeys[f.Sort]; ok {
		return f.Sort
	}
	return "placed"
}

// from is the filter's FROM clause and the columns it orders by: the summaries, joined,
// when a status is asked for, to their index by status, whose order is then the one
// walked.
func (f SummaryFilter) from() (from, key, id string) {
	if f.Status != "" {
		return "orders.order_summaries s JOIN orders.orders_by_status b ON b.order_id = s.order_id", statusSortKeys[f.SortKey()], "b.order_id"
	}
	return "orders.order_summaries s", sortKeys[f.SortKey()], "s.order_id"
}

// likeAnywhere turns user input into a LIKE pattern matching it anywhere, escaping
// LIKE's wildcards.
func likeAnywhere(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// searchedText is what the orders list searches: the expression of the trigram index
// order_summaries_search (sql/00044), written the same way so the planner can use it.
const searchedText = `(s.order_id || ' ' || s.customer_id || ' ' || s.customer_email)`

// where is the WHERE clause of the filter (status, search), adding its values through arg.
func (f SummaryFilter) where(arg func(any) string) ([]string, error) {
	var where []string
	if f.Status != "" {
		if _, err := order.ParseStatus(f.Status); err != nil {
			return nil, err
		}
		where = append(where, "b.status = "+arg(f.Status))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		where = append(where, searchedText+" ILIKE "+arg(likeAnywhere(q)))
	}
	if e := strings.TrimSpace(f.Email); e != "" {
		// As order_summaries_email_created (sql/00007) indexes it.
		where = append(where, "lower(s.customer_email) = "+arg(strings.ToLower(e)))
	}
	return where, nil
}

// SummaryKey is a position in the filter's order: the placement time when it sorts by
// placement, else the sort column's value (a missing risk score is -1), and the order id.
type SummaryKey struct {
	Placed time.Time
	Value  int64
	ID     string
}

// query is the filter's statement after key (nil: from the start), with limit > 0 rows
// at most. Only the predicates in use are sent, and each query is planned with its actual
// values (QueryExecModeExec), so a status filter, a search (trigram index) and the keyset
// cursor each walk an index.
func (f SummaryFilter) query(after *SummaryKey, limit int) (string, []any, error) {
	args := []any{pgx.QueryExecModeExec}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args)-1)
	}
	where, err := f.where(arg)
	if err != nil {
		return "", nil, err
	}
	from, key, id := f.from()
	dir, cmp := " DESC", "<"
	if f.Asc {
		dir, cmp = " ASC", ">"
	}
	if after != nil {
		// A number is bigint whatever the column: a risk score is an integer, and a cursor
		// past 2^31 (anyone's link) typed int4 failed to encode, a 500 (a probe).
		var value string
		if f.SortKey() == "placed" {
			value = arg(after.Placed)
		} else {
			value = arg(after.Value) + "::bigint"
		}
		where = append(where, fmt.Sprintf("(%s, %s) %s (%s, %s)", key, id, cmp, value, arg(after.ID)))
	}
	sql := `SELECT ` + summaryReadColumns
	if f.readsValue() {
		sql += ", " + key
	}
	sql += ` FROM ` + from
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY " + key + dir + ", " + id + dir
	if limit > 0 {
		sql += " LIMIT " + arg(limit)
	}
	return sql, args, nil
}

// FilteredSummaries reads up to limit summaries matching f, in its order, after key (nil:
// from the start).
func FilteredSummaries(ctx context.Context, q eventstore.Querier, f SummaryFilter, after *SummaryKey, limit int) ([]Summary, error) {
	sql, args, err := f.query(after, limit)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("order list: %w", err)
	}
	if !f.readsValue() {
		return pgx.CollectRows(rows, scanSummary)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Summary, error) {
		var s Summary
		err := row.Scan(append(s.fields(), &s.listValue)...)
		return s, err
	})
}

// readsValue reports whether f's rows carry the value they are sorted by (listValue): a
// placement time is the summary's own.
func (f SummaryFilter) readsValue() bool { return f.SortKey() != "placed" }

// KeyOf is s's position in f's order, where the page after s begins: s is a row
// FilteredSummaries read for f.
func (f SummaryFilter) KeyOf(s Summary) SummaryKey {
	return SummaryKey{Placed: s.CreatedAt, Value: s.listValue, ID: s.OrderID}
}
