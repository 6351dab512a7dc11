package orders

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/ui"
)

// historyDepth bounds how many of a customer's earlier orders the history block counts:
// its cost must not grow with the customer's history. Beyond it the block says "500+".
const historyDepth = 500

// historyRecent is how many of the newest earlier orders the block links to.
const historyRecent = 3

// historySQL counts each order's customer's earlier orders ($1 order ids, $2 their
// lowercased emails, $3 their customer ids) by status and currency, with the newest $5
// of at most $4.
const historySQL = `
		WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS k(order_id, email, customer_id)),
		h AS (
			SELECT k.order_id AS for_order, e.*, row_number() OVER (PARTITION BY k.order_id ORDER BY e.created_at DESC, e.order_id DESC) AS n
			FROM k CROSS JOIN LATERAL (
				(SELECT s.order_id, s.status, s.total_cents, s.currency, s.created_at FROM orders.order_summaries s
				WHERE k.email <> '' AND lower(s.customer_email) = k.email AND s.order_id <> k.order_id
				ORDER BY lower(s.customer_email), s.created_at DESC, s.order_id DESC LIMIT $4)
				UNION ALL
				(SELECT s.order_id, s.status, s.total_cents, s.currency, s.created_at FROM orders.order_summaries s
				WHERE k.email = '' AND s.customer_id = k.customer_id AND s.order_id <> k.order_id
				ORDER BY s.customer_id, s.created_at DESC LIMIT $4)
			) e
		)
		SELECT for_order, status, currency, count(*), sum(total_cents),
			coalesce(array_agg(order_id ORDER BY n) FILTER (WHERE n <= $5), '{}'),
			coalesce(array_agg(total_cents ORDER BY n) FILTER (WHERE n <= $5), '{}'),
			coalesce(array_agg(created_at ORDER BY n) FILTER (WHERE n <= $5), '{}'),
			coalesce(array_agg(n ORDER BY n) FILTER (WHERE n <= $5), '{}')
		FROM h GROUP BY for_order, status, currency`

// histories reads, for each order, its customer's earlier orders from order_summaries:
// one statement for all of them, each customer's newest historyDepth orders found through
// the email (or customer id) index, counted by status and summed by currency. The
// customer is the email when the order has one, else the customer id; a guest order
// without either has no history.
func (s *Service) histories(ctx context.Context, orders ...*order.Order) (map[string]*ui.CustomerHistory, error) {
	var ids, emails, customers []string
	for _, o := range orders {
		if o.CustomerEmail == "" && o.CustomerID == "" {
			continue
		}
		ids, emails, customers = append(ids, o.ID), append(emails, strings.ToLower(o.CustomerEmail)), append(customers, o.CustomerID)
	}
	out := make(map[string]*ui.CustomerHistory, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	for i, id := range ids {
		h := &ui.CustomerHistory{}
		if emails[i] != "" {
			h.AllURL = ordersURL("", emails[i], "")
		}
		out[id] = h
	}
	// Planned with its actual values each time (QueryExecModeExec): a cached generic plan
	// for arrays of unknown size can give up the indexes for a scan of the table.
	rows, err := s.pool.Query(ctx, historySQL, pgx.QueryExecModeExec, ids, emails, customers, historyDepth, historyRecent)
	if err != nil {
		return nil, fmt.Errorf("customer history: %w", err)
	}
	type recent struct {
		n int64
		o ui.HistoryOrder
	}
	sums := map[string]map[string]int64{}
	newest := map[string][]recent{}
	var (
		forOrder, status, currency string
		count, sum                 int64
		recentIDs                  []string
		recentTotals, recentN      []int64
		recentAt                   []time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&forOrder, &status, &currency, &count, &sum, &recentIDs, &recentTotals, &recentAt, &recentN}, func() error {
		h := out[forOrder]
		h.Orders += int(count)
		switch order.Status(status) {
		case order.StatusCompleted:
			h.Completed += int(count)
		case order.StatusCancelled:
			h.Cancelled += int(count)
		case order.StatusRejected:
			h.Rejected += int(count)
		}
		if sums[forOrder] == nil {
			sums[forOrder] = map[string]int64{}
		}
		sums[forOrder][currency] += sum
		for i, id := range recentIDs {
			newest[forOrder] = append(newest[forOrder], recent{n: recentN[i], o: ui.HistoryOrder{
				OrderID: id, Status: status, Total: formatMoney(order.Cents(recentTotals[i]), currency), CreatedAt: recentAt[i]}})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("customer history: %w", err)
	}
	for id, h := range out {
		h.Capped = h.Orders >= historyDepth
		for _, c := range slices.Sorted(maps.Keys(sums[id])) {
			h.Totals = append(h.Totals, formatMoney(order.Cents(sums[id][c]), c))
		}
		rs := newest[id]
		slices.SortFunc(rs, func(a, b recent) int { return int(a.n - b.n) })
		for _, r := range rs {
			h.Recent = append(h.Recent, r.o)
		}
	}
	return out, nil
}
