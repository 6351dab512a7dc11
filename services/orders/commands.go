package orders

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// The managers' commands besides a decision (approvals.go): each is an order event, so
// it is in the timeline, survives a replay and names its author. The dashboard calls
// them through its own small interface (dashboard.Commands).

// claimTTL is how long a claim lasts.
func (s *Service) claimTTL() time.Duration {
	if s.cfg.ClaimTTL > 0 {
		return s.cfg.ClaimTTL
	}
	return DefaultClaimTTL
}

// Claim records that manager is reviewing a pending order (order.claimed.v1), for
// ClaimTTL, taking over the claim of over ("" for none, order.Order.Claim); release gives
// the manager's claim up instead (order.claim_released.v1).
func (s *Service) Claim(ctx context.Context, orderID, manager, over string, release bool) (*order.Order, error) {
	if err := limits.Check(limits.ID("orderId", orderID)); err != nil {
		return nil, err
	}
	var o *order.Order
	err := eventstore.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		o, err = orderstream.Update(ctx, tx, orderID, eventstore.Metadata{CorrelationID: orderID, Actor: "manager:" + manager},
			func(o *order.Order) ([]order.Event, error) {
				now := s.now()
				if release {
					return o.ReleaseClaim(manager, now)
				}
				return o.Claim(manager, over, now, now.Add(s.claimTTL()))
			})
		return err
	})
	return o, err
}

// AddNote records a manager's note on an order as an order event (order.note_added.v1),
// so it is in the timeline, survives a replay and names its author.
func (s *Service) AddNote(ctx context.Context, orderID, manager, text string) error {
	if err := limits.Check(limits.ID("orderId", orderID)); err != nil {
		return err
	}
	return eventstore.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, orderID, eventstore.Metadata{CorrelationID: orderID, Actor: "manager:" + manager},
			func(o *order.Order) ([]order.Event, error) { return o.AddNote(manager, text, s.now()) })
		return err
	})
}

// WorkOnTicket assigns (to), comments (text) or closes (resolution) the support ticket
// of kind on order orderID, as an event of the order named for manager.
func (s *Service) WorkOnTicket(ctx context.Context, orderID, kind, manager, action, value string) error {
	return eventstore.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, orderID, eventstore.Metadata{CorrelationID: orderID, Actor: "manager:" + manager},
			func(o *order.Order) ([]order.Event, error) {
				switch action {
				case "assign":
					return o.AssignTicket(kind, value, manager, s.now())
				case "comment":
					return o.CommentTicket(kind, manager, value, s.now())
				case "close":
					return o.CloseTicket(kind, manager, value, s.now())
				}
				return nil, apperr.FieldErrorf("action", "action must be assign, comment or close")
			})
		return err
	})
}
