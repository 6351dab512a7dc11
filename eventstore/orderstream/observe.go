package orderstream

import (
	"context"
	"time"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
)

// Transition is one status an order entered through Append.
type Transition struct {
	From, To order.Status // From is "" for a new order
	// At is when the order entered To: the time of the event that moved it.
	At time.Time
	// Since is when the order last changed before it left From: for a wait, in which
	// nothing else happens to the order, when the wait began.
	Since time.Time
}

// Observer hears of every status an order enters, once the transaction that appended the
// change has committed (eventstore.OnCommit): a change rolled back is never heard of.
type Observer interface {
	Entered(Transition)
}

type observerKey struct{}

// WithObserver returns ctx whose appends are reported to obs.
func WithObserver(ctx context.Context, obs Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, obs)
}

// transitions applies events to o and lists the statuses it entered on the way, each
// decided by the aggregate's own Apply.
func transitions(o *order.Order, events []order.Event) []Transition {
	var out []Transition
	for _, e := range events {
		from, since := o.Status, o.UpdatedAt
		o.Apply(e)
		if o.Status != from {
			out = append(out, Transition{From: from, To: o.Status, At: o.UpdatedAt, Since: since})
		}
	}
	return out
}

// report hands ts to ctx's observer, if any, once the transaction commits.
func report(ctx context.Context, ts []Transition) {
	obs, ok := ctx.Value(observerKey{}).(Observer)
	if !ok || len(ts) == 0 {
		return
	}
	eventstore.OnCommit(ctx, func() {
		for _, t := range ts {
			obs.Entered(t)
		}
	})
}
