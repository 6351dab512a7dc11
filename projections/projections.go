// Package projections turns the event log into read models. Each projection consumes the
// log under its own consumer group with upserts keyed by event position, so it can be
// dropped and rebuilt from the event store at any time and arrive at the same rows.
package projections

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/eventstore"
)

// Projection is one read model: how to apply an event and how to forget everything.
type Projection struct {
	// Name names the projection in errors and in the replay tool.
	Name string
	// StreamTypes are the stream types whose events it reads.
	StreamTypes []string
	// Tables are the read-model tables a rebuild truncates.
	Tables []string
	// Events, when set, are the only event names the projection reacts to: the live
	// consumer and the rebuild (applyAll) hand ApplyBatch only those, of its StreamTypes.
	Events []string
	// ApplyBatch folds events, in log order, into the read model, in as few statements as
	// it can; applying an event twice changes nothing.
	ApplyBatch func(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error
}

// Apply folds one event into the read model, if the projection reacts to it.
func (p Projection) Apply(ctx context.Context, tx pgx.Tx, r eventstore.Recorded) error {
	if !p.wants(r) {
		return nil
	}
	return p.ApplyBatch(ctx, tx, []eventstore.Recorded{r})
}

// wants reports whether the projection folds r: one of its stream types and, when it
// names them, one of its events.
func (p Projection) wants(r eventstore.Recorded) bool {
	return slices.Contains(p.StreamTypes, r.StreamType) && (p.Events == nil || slices.Contains(p.Events, r.Name))
}

// eachEvent makes a batch apply out of a per-event one, for projections whose events are
// rare enough that a statement each costs nothing.
func eachEvent(apply func(ctx context.Context, tx pgx.Tx, r eventstore.Recorded) error) func(context.Context, pgx.Tx, []eventstore.Recorded) error {
	return func(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error {
		for _, r := range events {
			if err := apply(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	}
}

// All lists every projection, in the order a rebuild runs them.
func All() []Projection {
	return []Projection{OrderSummaries, PendingApprovals, OrderTimeline, SupportTickets}
}
