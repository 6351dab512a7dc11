package projections

import (
	"context"
	"time"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// OrderAt is an order as of one event of its stream: the aggregate's state (its own Apply
// decides every field, so no status rule is repeated here) and the stream facts read
// models need that the aggregate does not keep.
type OrderAt struct {
	order.Order
	// Position is the log position of the newest event folded in.
	Position int64
	// HeldAt is when the order was last held for a manager's decision.
	HeldAt time.Time
	// LastApproval is the position of the newest event that started or ended an approval wait.
	LastApproval int64
}

// foldOrder folds order id's stored events, as the event store holds them, oldest first,
// up to version until (every one when until is 0), stepping over those this release does
// not read (orderstream.DecodeOrUnknown), as a rebuild steps over the log's copies of them.
func foldOrder(ctx context.Context, q eventstore.Querier, id string, until int) (*OrderAt, error) {
	recorded, err := eventstore.Load(ctx, q, id)
	if err != nil {
		return nil, err
	}
	o := &OrderAt{}
	for _, r := range recorded {
		if until > 0 && r.Version > until {
			break
		}
		e, err := orderstream.DecodeOrUnknown(r)
		if err != nil {
			return nil, err
		}
		o.Apply(r, e)
	}
	return o, nil
}

// Apply folds the next event of the stream in. One this release does not read (an
// order.Unknown) changes nothing but the version, as order.Apply counts it, and the
// position: the order stays in step with its stream, and its state is the stream's as far
// as this release knows it at that event, as a newer release's snapshot at that event in
// this release's layout is (the live order summaries read that).
func (s *OrderAt) Apply(r eventstore.Recorded, e order.Event) {
	s.Order.Apply(e)
	s.Position = r.Position
	if approvalEvents[r.Name] {
		s.LastApproval = r.Position
	}
	if h, ok := e.(*order.HeldForApproval); ok {
		s.HeldAt = h.HeldAt
	}
}
