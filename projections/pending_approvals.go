package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

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

// OrdersChanged is the payload announcing that orders have new events (the projections'
// consumer has taken a batch of them), so an open order page may be behind.
const OrdersChanged = "orders"

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
	Tables:      []Table{{Name: "pending_approvals", Position: "last_position"}},
	Events:      slices.Sorted(maps.Keys(approvalEvents)),
	ApplyBatch:  updatePendingApprovals,
	rows:        func() rows { return &pendingRows{latest: map[string]*OrderAt{}} },
	needsState:  true,
}

// approvalEvents are the events that start or end an approval wait, or claim an order
// during one; no other event changes a pending_approvals row.
var approvalEvents = map[string]bool{
	order.NameHeldForApproval: true,
	order.NameOrderApproved:   true,
	order.NameOrderRejected:   true,
	order.NameOrderCancelled:  true,
	order.NameOrderClaimed:    true,
	order.NameClaimReleased:   true,
}

// updatePendingApprovals derives each row from the order's whole stream, not from the
// event alone, so applying events twice, late or out of order always converges on the
// same row; last_position (the newest approval event reflected) keeps an older view from
// overwriting a newer one. The stream's events this release does not read are stepped
// over, as a rebuild steps over them: one failed the batch, and every read model stood
// still behind it, while a rebuild went on past it. A change is announced on
// DashboardChannel.
func updatePendingApprovals(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error {
	out := &pendingRows{latest: map[string]*OrderAt{}}
	for _, r := range events {
		if out.latest[r.StreamID] != nil {
			continue
		}
		o, err := foldOrder(ctx, tx, r.StreamID, 0)
		if err != nil {
			return err
		}
		out.latest[r.StreamID] = o
	}
	return out.upsert(ctx, tx, Schema, true)
}

// pendingRows collects the newest state of every order whose approval wait changed.
type pendingRows struct {
	latest map[string]*OrderAt
}

func (p *pendingRows) add(_ eventstore.Recorded, _ order.Event, o *OrderAt) {
	p.latest[o.ID] = o
}

func (p *pendingRows) write(ctx context.Context, tx pgx.Tx, schema string, _ bool) error {
	return p.upsert(ctx, tx, schema, false)
}

// upsert writes a row for every order that was ever held, in order id order. With
// announce, the same statement announces a change on DashboardChannel when any row
// changed: it needs no answer, so the live consumer queues it (eventstore.QueueWrites)
// with the rest of its batch's writes. (Identical notifications in one transaction are
// folded into one by Postgres.)
func (p *pendingRows) upsert(ctx context.Context, tx pgx.Tx, schema string, announce bool) error {
	var c pendingColumns
	for _, id := range slices.Sorted(maps.Keys(p.latest)) {
		if err := c.add(p.latest[id]); err != nil {
			return err
		}
	}
	clear(p.latest)
	if len(c.id) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
		WITH changed AS (
		INSERT INTO `+table(schema, "pending_approvals")+` AS p (order_id, status, customer_id, customer_email,
			new_customer, total_cents, currency, items, risk_score, risk_threshold, risk_factors, held_since,
			approval_deadline, decided_by, decision_reason, last_position, shipping_address, billing_address,
			claimed_by, claimed_at, claimed_until)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bigint[], $7::text[],
			$8::text[]::jsonb[], $9::int[], $10::int[], $11::text[]::jsonb[], $12::timestamptz[], $13::timestamptz[],
			$14::text[], $15::text[], $16::bigint[], $17::text[]::jsonb[], $18::text[]::jsonb[],
			$19::text[], $20::timestamptz[], $21::timestamptz[])
		ON CONFLICT (order_id) DO UPDATE SET
			status = excluded.status, decided_by = excluded.decided_by,
			decision_reason = excluded.decision_reason, last_position = excluded.last_position,
			claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at, claimed_until = excluded.claimed_until
		WHERE p.last_position < excluded.last_position
		RETURNING 1)
		SELECT pg_notify($22, $23) WHERE $24 AND EXISTS (SELECT FROM changed)`,
		c.id, c.status, c.customerID, c.email, c.newCustomer, c.total, c.currency, c.items, c.score, c.threshold,
		c.factors, c.heldSince, c.deadline, c.decidedBy, c.reason, c.position, c.shipping, c.billing,
		c.claimedBy, c.claimedAt, c.claimedUntil, DashboardChannel, PendingChanged, announce)
	if err != nil {
		return fmt.Errorf("upsert pending approvals: %w", err)
	}
	return nil
}

// pendingColumns holds pending_approvals rows column by column, as unnest takes them.
type pendingColumns struct {
	id, status, customerID, email, currency, items, factors, decidedBy, reason []string
	claimedBy                                                                  []string
	claimedAt, claimedUntil                                                    []*time.Time
	shipping, billing                                                          []*string
	newCustomer                                                                []bool
	total, position                                                            []int64
	score, threshold                                                           []int
	heldSince, deadline                                                        []time.Time
}

// add adds the row of o, if o was ever held (an order cancelled before it was assessed
// has none).
func (c *pendingColumns) add(o *OrderAt) error {
	if o.ApprovalDeadline.IsZero() || o.RiskScore == nil {
		return nil
	}
	items, err := json.Marshal(o.Items)
	if err != nil {
		return err
	}
	factors, err := json.Marshal(o.RiskFactors)
	if err != nil {
		return err
	}
	c.id, c.status, c.customerID = append(c.id, o.ID), append(c.status, approvalState(&o.Order)), append(c.customerID, o.CustomerID)
	c.email, c.newCustomer, c.total = append(c.email, o.CustomerEmail), append(c.newCustomer, o.NewCustomer), append(c.total, int64(o.Total))
	c.currency, c.items, c.score = append(c.currency, o.Currency), append(c.items, string(items)), append(c.score, *o.RiskScore)
	c.threshold, c.factors, c.heldSince = append(c.threshold, o.RiskThreshold), append(c.factors, string(factors)), append(c.heldSince, o.HeldAt)
	c.deadline, c.decidedBy, c.reason = append(c.deadline, o.ApprovalDeadline), append(c.decidedBy, o.DecidedBy), append(c.reason, o.DecisionReason)
	c.position = append(c.position, o.LastApproval)
	// The claim as recorded; whether it has lapsed is for the reader, who knows the time.
	var claimedAt, claimedUntil *time.Time
	if o.ClaimedBy != "" {
		claimedAt, claimedUntil = &o.ClaimedAt, &o.ClaimedUntil
	}
	c.claimedBy, c.claimedAt, c.claimedUntil = append(c.claimedBy, o.ClaimedBy), append(c.claimedAt, claimedAt), append(c.claimedUntil, claimedUntil)
	shipping, err := addressJSON(o.ShippingAddress)
	if err != nil {
		return err
	}
	billing, err := addressJSON(o.BillingAddress)
	if err != nil {
		return err
	}
	c.shipping, c.billing = append(c.shipping, shipping), append(c.billing, billing)
	return nil
}

// addressJSON is an address as its column holds it: NULL when the order gave none.
func addressJSON(a *order.Address) (*string, error) {
	if a == nil {
		return nil, nil
	}
	raw, err := json.Marshal(a)
	s := string(raw)
	return &s, err
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
