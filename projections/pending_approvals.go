package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// DashboardChannel is the Postgres NOTIFY channel on which read-model changes the
// dashboard shows live are announced. NOTIFY is delivered at commit, so a listener that
// re-reads the read model after a notification always sees the change.
const DashboardChannel = "ordermill_dashboard"

// PendingChanged is the payload announcing that the pending approvals may have changed.
const PendingChanged = "pending"

// Approval states of a pending_approvals row.
const (
	ApprovalWaiting   = "awaiting_approval"
	ApprovalApproved  = "approved"
	ApprovalRejected  = "rejected"
	ApprovalCancelled = "cancelled"
)

// PendingApprovals keeps orders.pending_approvals: every order ever held for a manager's
// decision, with what a reviewer needs to decide (customer, items, risk factors, deadline).
var PendingApprovals = Projection{
	Name:        "projection.pending_approvals",
	StreamTypes: []string{orderstream.StreamType},
	Tables:      []string{"orders.pending_approvals"},
	Events:      slices.Collect(maps.Keys(approvalEvents)),
	ApplyBatch:  eachEvent(updatePendingApproval),
}

// approvalEvents are the events that start or end an approval wait; no other event
// changes a pending_approvals row.
var approvalEvents = map[string]bool{
	order.NameHeldForApproval: true,
	order.NameOrderApproved:   true,
	order.NameOrderRejected:   true,
	order.NameOrderCancelled:  true,
}

// updatePendingApproval derives the row from the order's whole stream, not from the event
// alone, so applying events twice, late or out of order always converges on the same row;
// last_position (the newest approval event reflected) keeps an older view from
// overwriting a newer one. A change is announced on DashboardChannel.
func updatePendingApproval(ctx context.Context, tx pgx.Tx, r eventstore.Recorded) error {
	recorded, err := eventstore.Load(ctx, tx, r.StreamID)
	if err != nil {
		return err
	}
	var last int64
	for _, e := range recorded {
		if approvalEvents[e.Name] {
			last = e.Position
		}
	}
	events, err := orderstream.DecodeAll(recorded)
	if err != nil {
		return err
	}
	o := order.Rehydrate(events)
	if o.ApprovalDeadline.IsZero() || o.RiskScore == nil {
		return nil // cancelled before it was ever held
	}
	var heldAt = o.PlacedAt
	for _, e := range events {
		if h, ok := e.(*order.HeldForApproval); ok {
			heldAt = h.HeldAt
		}
	}
	items, err := json.Marshal(o.Items)
	if err != nil {
		return err
	}
	factors, err := json.Marshal(o.RiskFactors)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO orders.pending_approvals (order_id, status, customer_id, customer_email, new_customer,
			total_cents, currency, items, risk_score, risk_threshold, risk_factors, held_since, approval_deadline,
			decided_by, decision_reason, last_position)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT (order_id) DO UPDATE SET
			status = excluded.status, decided_by = excluded.decided_by,
			decision_reason = excluded.decision_reason, last_position = excluded.last_position
		WHERE orders.pending_approvals.last_position < excluded.last_position`,
		o.ID, approvalState(o), o.CustomerID, o.CustomerEmail, o.NewCustomer, int64(o.Total), o.Currency,
		items, *o.RiskScore, o.RiskThreshold, factors, heldAt, o.ApprovalDeadline, o.DecidedBy, o.DecisionReason, last)
	if err != nil {
		return fmt.Errorf("upsert pending approval %s: %w", o.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	// Identical notifications in one transaction are folded into one by Postgres, so a
	// rebuild announces once.
	_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, DashboardChannel, PendingChanged)
	return err
}

// approvalState names where the approval wait stands: still open, decided, or ended
// without a decision (the deadline passed).
func approvalState(o *order.Order) string {
	switch {
	case o.Status == order.StatusAwaitingApproval:
		return ApprovalWaiting
	case o.DecidedBy != "" && o.Status == order.StatusRejected:
		return ApprovalRejected
	case o.DecidedBy != "":
		return ApprovalApproved
	default:
		return ApprovalCancelled
	}
}
