package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
)

// The reads of orders.order_summaries (and of orders.order_counts, which its triggers
// keep), for the API, the dashboard and the metrics.

// Summary is one row of orders.order_summaries.
type Summary struct {
	OrderID       string
	Status        string
	CustomerID    string
	CustomerEmail string
	TotalCents    int64
	Currency      string
	ItemCount     int
	RiskScore     *int
	CancelReason  string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// listValue is, in a list sorted by total or risk (FilteredSummaries), the value the
	// list orders the row by, where its next page begins (KeyOf): filtered by a status,
	// orders_by_status's copy, which a writer of an older release leaves unset (-1).
	listValue int64
}

// summaryReadColumns are the columns scanSummary reads, in its order.
const summaryReadColumns = `s.order_id, s.status, s.customer_id, s.customer_email, s.total_cents, s.currency,
	s.item_count, s.risk_score, s.cancel_reason, s.created_at, s.updated_at`

func scanSummary(row pgx.CollectableRow) (Summary, error) {
	var s Summary
	err := row.Scan(s.fields()...)
	return s, err
}

// fields are where summaryReadColumns are scanned to.
func (s *Summary) fields() []any {
	return []any{&s.OrderID, &s.Status, &s.CustomerID, &s.CustomerEmail, &s.TotalCents, &s.Currency, &s.ItemCount,
		&s.RiskScore, &s.CancelReason, &s.CreatedAt, &s.UpdatedAt}
}

// EncodePlacedCursor is the cursor of the page after the order placed at placed with id
// id, in the summaries ordered by placement: "<placed>|<order id>".
func EncodePlacedCursor(placed time.Time, id string) string {
	return placed.UTC().Format(time.RFC3339Nano) + "|" + id
}

// DecodePlacedCursor reads EncodePlacedCursor's cursor as the key FilteredSummaries
// continues after; nil for "".
func DecodePlacedCursor(s string) (*SummaryKey, error) {
	if s == "" {
		return nil, nil
	}
	ts, id, ok := strings.Cut(s, "|")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || limits.Check(limits.ID("cursor", id)) != nil {
		return nil, apperr.FieldErrorf("cursor", "cursor is malformed: continue from the previous page (its nextCursor, or its Next link on the dashboard)")
	}
	return &SummaryKey{Placed: t, ID: id}, nil
}

// QueueKnownCustomer queues on b the question whether the customer has completed an
// order before; *known holds the answer once b is sent. It is one probe of the index of
// the completed orders' customers (sql/00094), whatever the customer's history: walking
// the customer's summaries until a completed one read every order of a customer with
// none. A completed order written by a release before 00094 has no customer there until
// its row is written again: during a rolling upgrade its customer may be taken as new.
func QueueKnownCustomer(b *pgx.Batch, customerID string, known *bool) {
	b.Queue(`SELECT EXISTS (SELECT 1 FROM orders.orders_by_status WHERE customer_id = $1 AND status = '`+string(order.StatusCompleted)+`')`,
		customerID).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(known); err != nil {
			return fmt.Errorf("known customer: %w", err)
		}
		return nil
	})
}

// Waiting is how many orders rest in a status and since when the oldest was placed.
type Waiting struct {
	Status        string
	Count         float64
	OldestSeconds float64
}

// WaitingIn reads, for each of statuses, how many orders rest in it (from the
// trigger-kept order_counts) and how long ago the oldest was placed (through
// orders_by_status's (status, created_at) index): the same cost with a million orders as
// with ten.
func WaitingIn(ctx context.Context, q eventstore.Querier, statuses []string) ([]Waiting, error) {
	rows, err := q.Query(ctx, `
			SELECT w.status, coalesce(c.n, 0)::float8,
				coalesce((SELECT extract(epoch FROM now() - min(created_at)) FROM orders.orders_by_status WHERE status = w.status), 0)::float8
			FROM unnest($1::text[]) AS w(status)
			LEFT JOIN orders.order_counts c ON c.dimension = 'status' AND c.bucket = w.status`, statuses)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Waiting])
}

// HourBucket is how order_counts names an hour (UTC), as the trigger writes it.
const HourBucket = "2006-01-02T15"

// Count is one row of orders.order_counts: orders by status, risk bucket or hour placed.
type Count struct {
	Dimension string
	Bucket    string
	N         int
}

// OverviewCounts reads the non-zero counts by status and risk and, from the hour named
// since (HourBucket) on, by hour placed, with the number of open support tickets: a few
// dozen rows whatever the number of orders, in one statement.
func OverviewCounts(ctx context.Context, q eventstore.Querier, since string) ([]Count, int, error) {
	rows, err := q.Query(ctx, `SELECT dimension, bucket, n FROM orders.order_counts
		WHERE n <> 0 AND (dimension <> 'hour' OR bucket >= $1)
		UNION ALL SELECT 'tickets', 'open', count(*) FROM orders.support_tickets WHERE status = 'open'`, since)
	if err != nil {
		return nil, 0, fmt.Errorf("overview counts: %w", err)
	}
	counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Count])
	if err != nil {
		return nil, 0, fmt.Errorf("overview counts: %w", err)
	}
	open := 0
	out := counts[:0]
	for _, c := range counts {
		if c.Dimension == "tickets" {
			open = c.N
			continue
		}
		out = append(out, c)
	}
	return out, open, nil
}

// SummaryStatus is order id's status by its summary, which may lag behind the order,
// never run ahead of it; ok is false when the order has no summary (none here, or not
// projected yet).
func SummaryStatus(ctx context.Context, q eventstore.Querier, id string) (st order.Status, ok bool, err error) {
	var status string
	err = q.QueryRow(ctx, `SELECT status FROM orders.order_summaries WHERE order_id = $1`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("the summary of order %s: %w", id, err)
	}
	return order.Status(status), true, nil
}
