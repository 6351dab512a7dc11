package payments

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/services/simulator"
)

// DefaultFailureReason is reported when a failed outcome is simulated without a reason,
// because the orders service records why a payment failed.
const DefaultFailureReason = "card_declined"

// ProcessRequest is the simulator's input: how the customer's payment ends.
type ProcessRequest struct {
	OrderID string `json:"orderId"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// Validate reports the first problem with r as a field error.
func (r ProcessRequest) Validate() error {
	if strings.TrimSpace(r.OrderID) == "" {
		return apperr.FieldErrorf("orderId", "orderId is required")
	}
	if r.Outcome != payment.StatusCompleted && r.Outcome != payment.StatusFailed {
		return apperr.FieldErrorf("outcome", "outcome must be %q or %q, got %q", payment.StatusCompleted, payment.StatusFailed, apperr.Excerpt(r.Outcome))
	}
	if r.Reason != "" && r.Outcome != payment.StatusFailed {
		return apperr.FieldErrorf("reason", "reason applies only to a failed outcome")
	}
	return limits.Check(limits.ID("orderId", r.OrderID), limits.Text("reason", r.Reason))
}

// ProcessResult reports what the simulator sent and how the orders service answered.
type ProcessResult = simulator.Result[payment.Webhook]

// Process plays the payment provider: it settles the order's session with outcome, then
// POSTs a webhook signed with Stripe's scheme to the orders service. The session is settled
// first and committed, as at a real provider: the money has moved whether or not the
// notification arrives. Every call sends a new event id; repeating the outcome of a settled
// session notifies again about the same payment (same paymentId), so a receiver's handling
// of repeated facts can be exercised, while a different outcome is a conflict. An order
// without a session is not found (apperr.CodeNotFound), as GET /api/payments/sessions
// answers it: a provider pays only a session it opened, and a made-up payment sent to the
// orders service was refused there as an unknown order. An unreachable orders service is a *simulator.DeliveryError: the session stays settled, and
// calling Process again with the same outcome notifies again.
func (s *Service) Process(ctx context.Context, req ProcessRequest) (ProcessResult, error) {
	if err := req.Validate(); err != nil {
		return ProcessResult{}, err
	}
	wh, id, err := s.settle(ctx, req)
	if err != nil {
		return ProcessResult{}, err
	}
	res, err := s.webhooks.Send(ctx, id, wh)
	// Its order and correlation id, as every line about an order (the request's path names
	// none: the line had no correlation id, the courier's had; the line of one not
	// delivered named no order, whichever page or request settled it).
	if err == nil {
		s.logger.InfoContext(ctx, "payments: webhook delivered", append(logging.Order(wh.OrderID), "event_id", wh.ID,
			"status", wh.Status, "orders_status", res.OrdersStatus)...)
	} else if errors.As(err, new(*simulator.DeliveryError)) {
		s.logger.WarnContext(ctx, "payments: webhook not delivered: sent again until the orders service answers", append(logging.Order(wh.OrderID), "event_id", wh.ID, "err", err)...)
	}
	return res, err
}

func (s *Service) settle(ctx context.Context, req ProcessRequest) (payment.Webhook, int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return payment.Webhook{}, 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sess, err := sessionWhere(ctx, tx, "order_id", req.OrderID, true)
	if err != nil {
		return payment.Webhook{}, 0, err
	}
	now := s.now()
	switch {
	case sess.Status == req.Outcome:
		// The same fact again: it names the payment already recorded, never a second one.
	case sess.Status != StatusOpen:
		return payment.Webhook{}, 0, apperr.Errorf(apperr.CodeConflict, "payment session %s of order %s is already %s", sess.SessionID, sess.OrderID, sess.Status)
	case now.After(sess.ExpiresAt):
		return payment.Webhook{}, 0, apperr.Errorf(apperr.CodeConflict, "payment session %s of order %s expired at %s", sess.SessionID, sess.OrderID, sess.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"))
	default:
		sess.Status = req.Outcome
		sess.PaymentID = "pi_" + rand.Text()
		sess.Reason = failureReason(req)
		_, err := tx.Exec(ctx, `
			UPDATE payments.sessions SET status = $2, payment_id = $3, reason = $4, updated_at = $5
			WHERE session_id = $1`,
			sess.SessionID, sess.Status, sess.PaymentID, sess.Reason, now)
		if err != nil {
			return payment.Webhook{}, 0, fmt.Errorf("settle payment session: %w", err)
		}
	}
	wh := payment.Webhook{
		ID:        "evt_" + rand.Text(),
		OrderID:   sess.OrderID,
		Status:    sess.Status,
		PaymentID: sess.PaymentID,
		SessionID: sess.SessionID,
		Reason:    sess.Reason,
		Amount:    sess.Amount,
		Currency:  sess.Currency,
	}
	// Kept with what it reports: sent again until the orders service answers it.
	id, err := s.webhooks.Commit(ctx, tx, sess.OrderID, wh)
	if err != nil {
		return payment.Webhook{}, 0, err
	}
	return wh, id, nil
}

// failureReason is the reason a failed outcome reports, defaulted because the orders service
// records why a payment failed; a completed outcome has none.
func failureReason(req ProcessRequest) string {
	if req.Outcome == payment.StatusFailed && req.Reason == "" {
		return DefaultFailureReason
	}
	return req.Reason
}
