package delivery

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
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// DefaultFailureReason is reported when a failed delivery is simulated without a reason,
// because the support ticket opened for it needs one.
const DefaultFailureReason = "recipient_not_found"

// SimulateRequest is the simulator's input: what the courier reports next.
type SimulateRequest struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Validate reports the first problem with r as a field error.
func (r SimulateRequest) Validate() error {
	switch r.Status {
	case shipping.StatusInTransit, shipping.StatusDelivered, shipping.StatusFailed:
	default:
		return apperr.FieldErrorf("status", "status must be %q, %q or %q, got %q",
			shipping.StatusInTransit, shipping.StatusDelivered, shipping.StatusFailed, r.Status)
	}
	if r.Reason != "" && r.Status != shipping.StatusFailed {
		return apperr.FieldErrorf("reason", "reason applies only to a failed delivery")
	}
	return nil
}

// SimulateResult reports what the simulator sent and how the orders service answered, so a
// tester sees a refused webhook (401, 409...) instead of a silent success.
type SimulateResult struct {
	Webhook      shipping.Webhook `json:"webhook"`
	OrdersStatus int              `json:"ordersStatus"`
	OrdersBody   string           `json:"ordersBody,omitempty"`
}

// DeliveryError means the shipment's status changed but the orders service could not be
// reached; simulating the same status again notifies again.
type DeliveryError struct {
	URL string
	Err error
}

// Error names the unreachable URL, because that is what a tester has to fix.
func (e *DeliveryError) Error() string {
	return fmt.Sprintf("deliver courier webhook to %s: %v", e.URL, e.Err)
}

// Unwrap exposes the transport error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// next lists the statuses a shipment may move to: forward only, since a parcel that was
// delivered or lost does not go back on the road.
var next = map[string][]string{
	StatusCreated:            {shipping.StatusInTransit, shipping.StatusDelivered, shipping.StatusFailed},
	shipping.StatusInTransit: {shipping.StatusDelivered, shipping.StatusFailed},
}

// Simulate plays the courier: it moves the order's shipment to req.Status, then POSTs a
// webhook signed with the courier scheme to the orders service. The status is committed
// first, as at a real courier: the parcel moved whether or not the notification arrives.
// Every call sends a new webhook id; simulating the current status again reports it again,
// as couriers do, so a receiver's handling of repeated statuses can be exercised. Moving
// backwards or out of a final status is a conflict.
func (s *Service) Simulate(ctx context.Context, orderID string, req SimulateRequest) (SimulateResult, error) {
	if err := req.Validate(); err != nil {
		return SimulateResult{}, err
	}
	wh, err := s.advance(ctx, orderID, req)
	if err != nil {
		return SimulateResult{}, err
	}
	return s.deliver(ctx, wh)
}

func (s *Service) advance(ctx context.Context, orderID string, req SimulateRequest) (shipping.Webhook, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return shipping.Webhook{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sh, err := shipmentByOrder(ctx, tx, orderID, true)
	if err != nil {
		return shipping.Webhook{}, err
	}
	if sh.Status != req.Status {
		allowed := false
		for _, st := range next[sh.Status] {
			allowed = allowed || st == req.Status
		}
		if !allowed {
			return shipping.Webhook{}, apperr.Errorf(apperr.CodeConflict, "shipment %s of order %s is %s and cannot become %s", sh.ShipmentID, sh.OrderID, sh.Status, req.Status)
		}
		sh.Status = req.Status
		sh.Reason = req.Reason
		if sh.Status == shipping.StatusFailed && sh.Reason == "" {
			sh.Reason = DefaultFailureReason
		}
		_, err := tx.Exec(ctx, `
			UPDATE delivery.shipments SET status = $2, reason = $3, updated_at = $4
			WHERE shipment_id = $1`,
			sh.ShipmentID, sh.Status, sh.Reason, s.now())
		if err != nil {
			return shipping.Webhook{}, fmt.Errorf("update shipment: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return shipping.Webhook{}, fmt.Errorf("commit: %w", err)
	}
	return shipping.Webhook{
		ID:         "evt_" + rand.Text(),
		OrderID:    sh.OrderID,
		ShipmentID: sh.ShipmentID,
		Status:     sh.Status,
		Reason:     sh.Reason,
	}, nil
}

// maxOrdersBody bounds how much of the orders service's answer is echoed back: enough for
// an error message, not enough to matter if it answers with a page.
const maxOrdersBody = 4 << 10

func (s *Service) deliver(ctx context.Context, wh shipping.Webhook) (SimulateResult, error) {
	body, err := json.Marshal(wh)
	if err != nil {
		return SimulateResult{}, fmt.Errorf("marshal webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.OrdersWebhookURL, bytes.NewReader(body))
	if err != nil {
		return SimulateResult{}, fmt.Errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhooksig.CourierHeader, webhooksig.SignCourier(body, s.cfg.WebhookSecret, s.cfg.Now()))
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return SimulateResult{}, &DeliveryError{URL: s.cfg.OrdersWebhookURL, Err: err}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxOrdersBody))
	s.logger.InfoContext(ctx, "delivery: webhook delivered", "order_id", wh.OrderID, "webhook_id", wh.ID,
		"status", wh.Status, "orders_status", resp.StatusCode)
	return SimulateResult{Webhook: wh, OrdersStatus: resp.StatusCode, OrdersBody: strings.TrimSpace(string(answer))}, nil
}
