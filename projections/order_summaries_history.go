package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/eventstore"
)

// historySQL counts each order's customer's other orders ($1 order ids, $2 their
// lowercased emails, $3 their customer ids) by status and currency, with the newest $5
// of at most $4. Each customer's newest $4 + 1 orders are read once, through the email
// (or customer id) index, however many of the orders are theirs: one customer's 49
// orders awaiting approval read their 500 orders 49 times, and the page took 100-300 ms
// (a probe). Each order then takes its customer's but its own, numbered again (n) past
// its own place (own.m).
const historySQL = `
		WITH k AS (
			-- The customer is the email when there is one, else the customer id.
			SELECT order_id, email, CASE WHEN email = '' THEN customer_id ELSE '' END AS customer_id
			FROM unnest($1::text[], $2::text[], $3::text[]) AS k(order_id, email, customer_id)),
		c AS (SELECT DISTINCT email, customer_id FROM k),
		e AS (
			SELECT c.email, c.customer_id, x.*, row_number() OVER (PARTITION BY c.email, c.customer_id ORDER BY x.created_at DESC, x.order_id DESC) AS m
			FROM c CROSS JOIN LATERAL (
				(SELECT s.order_id, s.status, s.total_cents, s.currency, s.created_at FROM orders.order_summaries s
				WHERE c.email <> '' AND lower(s.customer_email) = c.email
				ORDER BY lower(s.customer_email), s.created_at DESC, s.order_id DESC LIMIT $4 + 1)
				UNION ALL
				(SELECT s.order_id, s.status, s.total_cents, s.currency, s.created_at FROM orders.order_summaries s
				WHERE c.email = '' AND s.customer_id = c.customer_id
				ORDER BY s.customer_id, s.created_at DESC LIMIT $4 + 1)
			) x
		),
		h AS (
			SELECT k.order_id AS for_order, e.order_id, e.status, e.total_cents, e.currency, e.created_at,
				e.m - CASE WHEN own.m < e.m THEN 1 ELSE 0 END AS n
			FROM k JOIN e ON e.email = k.email AND e.customer_id = k.customer_id AND e.order_id <> k.order_id
			LEFT JOIN e own ON own.email = k.email AND own.customer_id = k.customer_id AND own.order_id = k.order_id
		)
		SELECT for_order, status, currency, count(*), sum(total_cents),
			coalesce(array_agg(order_id ORDER BY n) FILTER (WHERE n <= $5), '{}'),
			coalesce(array_agg(total_cents ORDER BY n) FILTER (WHERE n <= $5), '{}'),
			coalesce(array_agg(created_at ORDER BY n) FILTER (WHERE n <= $5), '{}'),
			coalesce(array_agg(n ORDER BY n) FILTER (WHERE n <= $5), '{}')
		FROM h WHERE n <= $4 GROUP BY for_order, status, currency`

// Customer names whose history to read: the customer of order OrderID, by Email
// (lowercased) when the order has one, else by CustomerID.
type Customer struct {
	OrderID, Email, CustomerID string
}

// HistoryGroup is a customer's earlier orders of one status in one currency: how many
// and their sum, with the newest few (Recent, ranked by N from 1, the newest).
type HistoryGroup struct {
	ForOrder, Status, Currency string
	Count, SumCents            int64
	RecentIDs                  []string
	RecentTotals               []int64
	RecentAt                   []time.Time
	RecentN                    []int64
}

// CustomerHistories reads, for each customer, their earlier orders from order_summaries:
// one statement for all of them, each customer's newest depth orders found through the
// email (or customer id) index, grouped by status and currency, with the newest recent
// of them.
func CustomerHistories(ctx context.Context, q eventstore.Querier, customers []Customer, depth, recent int) ([]HistoryGroup, error) {
	ids, emails, customerIDs := make([]string, len(customers)), make([]string, len(customers)), make([]string, len(customers))
	for i, c := range customers {
		ids[i], emails[i], customerIDs[i] = c.OrderID, c.Email, c.CustomerID
	}
	// Planned with its actual values each time (QueryExecModeExec): a cached generic plan
	// for arrays of unknown size can give up the indexes for a scan of the table.
	rows, err := q.Query(ctx, historySQL, pgx.QueryExecModeExec, ids, emails, customerIDs, depth, recent)
	if err != nil {
		return nil, fmt.Errorf("customer history: %w", err)
	}
	groups, err := pgx.CollectRows(rows, pgx.RowToStructByPos[HistoryGroup])
	if err != nil {
		return nil, fmt.Errorf("customer history: %w", err)
	}
	return groups, nil
}
