package payments

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/services/webhooksig"
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
		return apperr.FieldErrorf("outcome", "outcome must be %q or %q, got %q", payment.StatusCompleted, payment.StatusFailed, r.Outcome)
	}
	if r.Reason != "" && r.Outcome != payment.StatusFailed {
		return apperr.FieldErrorf("reason", "reason applies only to a failed outcome")
	}
	return nil
}

// ProcessResult reports what the simulator sent and how the orders service answered, so a
// tester sees a refused webhook (401, 409...) instead of a silent success.
type ProcessResult struct {
	Webhook      payment.Webhook `json:"webhook"`
	OrdersStatus int             `json:"ordersStatus"`
	OrdersBody   string          `json:"ordersBody,omitempty"`
}

// DeliveryError means the session was settled but the orders service could not be reached;
// calling Process again with the same outcome notifies again.
type DeliveryError struct {
	URL string
	Err error
}

// Error names the unreachable URL, because that is what a tester has to fix.
func (e *DeliveryError) Error() string {
	return fmt.Sprintf("deliver payment webhook to %s: %v", e.URL, e.Err)
}

// Unwrap exposes the transport error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Process plays the payment provider: it settles the order's session with outcome, then
// POSTs a webhook signed with Stripe's scheme to the orders service. The session is settled
// first and committed, as at a real provider: the money has moved whether or not the
// notification arrives. Every call sends a new event id; repeating the outcome of a settled
// session notifies again about the same payment (same paymentId), so a receiver's handling
// of repeated facts can be exercised, while a different outcome is a conflict. An order
// without a session still gets its webhook (without sessionId and amount), because testing
// a payment that arrives early, before the order asked for one, is exactly what a
// simulator is for; nothing is recorded then, as there is no session to settle.
func (s *Service) Process(ctx context.Context, req ProcessRequest) (ProcessResult, error) {
	if err := req.Validate(); err != nil {
		return ProcessResult{}, err
	}
	wh, err := s.settle(ctx, req)
	if err != nil {
		return ProcessResult{}, err
	}
	return s.deliver(ctx, wh)
}

func (s *Service) settle(ctx context.Context, req ProcessRequest) (payment.Webhook, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return payment.Webhook{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sess, err := sessionWhere(ctx, tx, "order_id", req.OrderID, true)
	if apperr.ErrorCode(err) == apperr.CodeNotFound {
		s.logger.InfoContext(ctx, "payments: simulating a payment for an order without a session", "order_id", req.OrderID)
		return payment.Webhook{
			ID:        "evt_" + rand.Text(),
			OrderID:   req.OrderID,
			Status:    req.Outcome,
			PaymentID: "pi_" + rand.Text(),
			Reason:    failureReason(req),
		}, nil
	}
	if err != nil {
		return payment.Webhook{}, err
	}
	now := s.now()
	switch {
	case sess.Status == req.Outcome:
		// The same fact again: it names the payment already recorded, never a second one.
	case sess.Status != StatusOpen:
		return payment.Webhook{}, apperr.Errorf(apperr.CodeConflict, "payment session %s of order %s is already %s", sess.SessionID, sess.OrderID, sess.Status)
	case now.After(sess.ExpiresAt):
		return payment.Webhook{}, apperr.Errorf(apperr.CodeConflict, "payment session %s of order %s expired at %s", sess.SessionID, sess.OrderID, sess.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"))
	default:
		sess.Status = req.Outcome
		sess.PaymentID = "pi_" + rand.Text()
		sess.Reason = failureReason(req)
		_, err := tx.Exec(ctx, `
			UPDATE payments.sessions SET status = $2, payment_id = $3, reason = $4, updated_at = $5
			WHERE session_id = $1`,
			sess.SessionID, sess.Status, sess.PaymentID, sess.Reason, now)
		if err != nil {
			return payment.Webhook{}, fmt.Errorf("settle payment session: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return payment.Webhook{}, fmt.Errorf("commit: %w", err)
	}
	return payment.Webhook{
		ID:        "evt_" + rand.Text(),
		OrderID:   sess.OrderID,
		Status:    sess.Status,
		PaymentID: sess.PaymentID,
		SessionID: sess.SessionID,
		Reason:    sess.Reason,
		Amount:    sess.Amount,
	}, nil
}

// failureReason is the reason a failed outcome reports, defaulted because the orders service
// records why a payment failed; a completed outcome has none.
func failureReason(req ProcessRequest) string {
	if req.Outcome == payment.StatusFailed && req.Reason == "" {
		return DefaultFailureReason
	}
	return req.Reason
}

// maxOrdersBody bounds how much of the orders service's answer is echoed back: enough for
// an error message, not enough to matter if it answers with a page.
const maxOrdersBody = 4 << 10

func (s *Service) deliver(ctx context.Context, wh payment.Webhook) (ProcessResult, error) {
	body, err := json.Marshal(wh)
	if err != nil {
		return ProcessResult{}, fmt.Errorf("marshal webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.OrdersWebhookURL, bytes.NewReader(body))
	if err != nil {
		return ProcessResult{}, fmt.Errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhooksig.StripeHeader, webhooksig.SignStripe(body, s.cfg.WebhookSecret, s.cfg.Now()))
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return ProcessResult{}, &DeliveryError{URL: s.cfg.OrdersWebhookURL, Err: err}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxOrdersBody))
	s.logger.InfoContext(ctx, "payments: webhook delivered", "order_id", wh.OrderID, "event_id", wh.ID,
		"status", wh.Status, "orders_status", resp.StatusCode)
	return ProcessResult{Webhook: wh, OrdersStatus: resp.StatusCode, OrdersBody: strings.TrimSpace(string(answer))}, nil
}
