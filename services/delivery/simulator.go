package delivery

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/services/simulator"
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
			shipping.StatusInTransit, shipping.StatusDelivered, shipping.StatusFailed, apperr.Excerpt(r.Status))
	}
	if r.Reason != "" && r.Status != shipping.StatusFailed {
		return apperr.FieldErrorf("reason", "reason applies only to a failed delivery")
	}
	return limits.Check(limits.Text("reason", r.Reason))
}

// SimulateResult reports what the simulator sent and how the orders service answered.
type SimulateResult = simulator.Result[shipping.Webhook]

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
// backwards or out of a final status is a conflict. An unreachable orders service is a
// *simulator.DeliveryError: the status stays recorded, and simulating it again notifies again.
func (s *Service) Simulate(ctx context.Context, orderID string, req SimulateRequest) (SimulateResult, error) {
	if err := req.Validate(); err != nil {
		return SimulateResult{}, err
	}
	wh, id, err := s.advance(ctx, orderID, req)
	if err != nil {
		return SimulateResult{}, err
	}
	res, err := s.webhooks.Send(ctx, id, wh)
	if err == nil {
		s.logger.InfoContext(ctx, "delivery: webhook delivered", append(logging.Order(wh.OrderID), "webhook_id", wh.ID,
			"status", wh.Status, "orders_status", res.OrdersStatus)...)
	} else if errors.As(err, new(*simulator.DeliveryError)) {
		s.logger.WarnContext(ctx, "delivery: webhook not delivered: sent again until the orders service answers", append(logging.Order(wh.OrderID), "webhook_id", wh.ID, "err", err)...)
	}
	return res, err
}

func (s *Service) advance(ctx context.Context, orderID string, req SimulateRequest) (shipping.Webhook, int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return shipping.Webhook{}, 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sh, err := shipmentByOrder(ctx, tx, orderID, true)
	if err != nil {
		return shipping.Webhook{}, 0, err
	}
	if sh.Status != req.Status {
		allowed := false
		for _, st := range next[sh.Status] {
			allowed = allowed || st == req.Status
		}
		if !allowed {
			return shipping.Webhook{}, 0, apperr.Errorf(apperr.CodeConflict, "shipment %s of order %s is %s and cannot become %s", sh.ShipmentID, sh.OrderID, sh.Status, req.Status)
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
			return shipping.Webhook{}, 0, fmt.Errorf("update shipment: %w", err)
		}
	}
	wh := shipping.Webhook{
		ID:         "evt_" + rand.Text(),
		OrderID:    sh.OrderID,
		ShipmentID: sh.ShipmentID,
		Status:     sh.Status,
		Reason:     sh.Reason,
	}
	// Kept with what it reports: sent again until the orders service answers it.
	id, err := s.webhooks.Commit(ctx, tx, sh.OrderID, wh)
	if err != nil {
		return shipping.Webhook{}, 0, err
	}
	return wh, id, nil
}
