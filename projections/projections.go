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
	// Name is the projection's consumer group on the log.
	Name string
	// StreamTypes are the stream types whose events it reads.
	StreamTypes []string
	// Tables are the read-model tables a rebuild truncates.
	Tables []string
	// Events, when set, are the only event names Apply reacts to; live consumers skip the
	// rest without a transaction's worth of work. Apply must still ignore the others,
	// since a rebuild hands it every event.
	Events []string
	// Apply folds one event into the read model; applying an event twice changes nothing.
	Apply func(ctx context.Context, tx pgx.Tx, r eventstore.Recorded) error
}

// All lists every projection, in the order a rebuild runs them.
func All() []Projection {
	return []Projection{OrderSummaries, PendingApprovals, OrderTimeline, SupportTickets}
}
