package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
)

// The reads of orders.pending_approvals, for the dashboard.

// Held is an order waiting for a manager's decision, as the read model holds it: the
// fields a reviewer decides on, and since when it waits.
type Held struct {
	Order *order.Order
	Since time.Time
}

// OldestHeld reads up to limit orders waiting for a decision, the longest waiting first.
func OldestHeld(ctx context.Context, q eventstore.Querier, limit int) ([]Held, error) {
	rows, err := q.Query(ctx, `
		SELECT order_id, customer_id, customer_email, new_customer, total_cents, currency, items,
			risk_score, risk_threshold, risk_factors, held_since, approval_deadline, shipping_address, billing_address,
			claimed_by, coalesce(claimed_at, 'epoch'), coalesce(claimed_until, 'epoch')
		FROM orders.pending_approvals WHERE status = $1
		ORDER BY held_since, order_id LIMIT $2`, ApprovalWaiting, limit)
	if err != nil {
		return nil, fmt.Errorf("pending approvals: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Held, error) {
		var (
			id, customerID, email, currency string
			newCustomer                     bool
			total                           int64
			itemsJSON, factorsJSON          []byte
			score, threshold                int
			since, deadline                 time.Time
			shipping, billing               *order.Address
			claimedBy                       string
			claimedAt, claimedUntil         time.Time
		)
		if err := row.Scan(&id, &customerID, &email, &newCustomer, &total, &currency, &itemsJSON,
			&score, &threshold, &factorsJSON, &since, &deadline, &shipping, &billing,
			&claimedBy, &claimedAt, &claimedUntil); err != nil {
			return Held{}, err
		}
		var items []order.Item
		var factors []order.RiskFactor
		if err := json.Unmarshal(itemsJSON, &items); err != nil {
			return Held{}, fmt.Errorf("items of %s: %w", id, err)
		}
		if err := json.Unmarshal(factorsJSON, &factors); err != nil {
			return Held{}, fmt.Errorf("risk factors of %s: %w", id, err)
		}
		return Held{Order: &order.Order{
			ID: id, CustomerID: customerID, CustomerEmail: email, NewCustomer: newCustomer,
			Total: order.Cents(total), Currency: currency, Items: items, RiskScore: &score,
			RiskThreshold: threshold, RiskFactors: factors, ApprovalDeadline: deadline,
			ShippingAddress: shipping, BillingAddress: billing,
			ClaimedBy: claimedBy, ClaimedAt: claimedAt, ClaimedUntil: claimedUntil,
		}, Since: since}, nil
	})
}

// HeldCount counts the orders waiting for a decision (an index-only count).
func HeldCount(ctx context.Context, q eventstore.Querier) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM orders.pending_approvals WHERE status = $1`, ApprovalWaiting).Scan(&n)
	return n, err
}

// Departure is how an order left the pending list: its approval status (approved,
// rejected, cancelled), who decided and why, why it was cancelled, and when.
type Departure struct {
	OrderID      string
	Status       string
	DecidedBy    string
	Reason       string
	CancelReason string
	At           time.Time
}

// Departures reads how the orders ids that no longer wait left.
func Departures(ctx context.Context, q eventstore.Querier, ids []string) ([]Departure, error) {
	rows, err := q.Query(ctx, `SELECT p.order_id, p.status, p.decided_by, p.decision_reason,
			coalesce(s.cancel_reason, ''), coalesce(s.updated_at, now())
		FROM orders.pending_approvals p LEFT JOIN orders.order_summaries s USING (order_id)
		WHERE p.order_id = ANY($1) AND p.status <> $2 ORDER BY p.order_id`, ids, ApprovalWaiting)
	if err != nil {
		return nil, fmt.Errorf("departures: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Departure])
}
