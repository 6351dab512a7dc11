// Package projections turns the event log into read models. Each projection consumes the
// log under its own consumer group with upserts keyed by event position, so it can be
// dropped and rebuilt from the event store at any time and arrive at the same rows.
package projections

import (
	"context"

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
	// Events, when set, are the only event names the projection reacts to; live consumers
	// skip the rest without a transaction's worth of work. ApplyBatch must still ignore the
	// others, since a rebuild hands it every event.
	Events []string
	// ApplyBatch folds events, in log order, into the read model, in as few statements as
	// it can; applying an event twice changes nothing.
	ApplyBatch func(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error
}

// Apply folds one event into the read model.
func (p Projection) Apply(ctx context.Context, tx pgx.Tx, r eventstore.Recorded) error {
	return p.ApplyBatch(ctx, tx, []eventstore.Recorded{r})
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
