// Package projections turns the event log into read models. The projections consume the
// log as one consumer group with upserts guarded by event positions, so they can be
// dropped and rebuilt from the log at any time and arrive at the same rows: Rebuild
// builds them afresh beside the live ones and swaps them in, Verify compares a fresh
// build with the live ones, and BuildInto builds them as of a moment, for inspection.
package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// Schema holds the live read models.
const Schema = "orders"

// Projection is one read model: the tables it owns, how the live consumer applies a batch
// of events to them, and how a rebuild folds the whole log into them.
type Projection struct {
	// Name names the projection in errors and in the replay tool.
	Name string
	// StreamTypes are the stream types whose events it reads.
	StreamTypes []string
	// Tables are its tables in Schema; a rebuild builds them all afresh and swaps them in
	// together.
	Tables []Table
	// Events, when set, are the only event names the projection reacts to: the live
	// consumer and a rebuild hand it only those, of its StreamTypes.
	Events []string
	// ApplyBatch folds events, in log order, into the read model, in as few statements as
	// it can; applying an event twice changes nothing. The live consumer queues its
	// writes (eventstore.Pipeline), so nothing may depend on a write's answer.
	ApplyBatch func(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error

	// rows starts collecting the rows a rebuild writes, event by event.
	rows func() rows
	// needsState says that rows wants each event's order as of that event.
	needsState bool
	// finish completes tables that are computed from the others once they are written.
	finish func(ctx context.Context, tx pgx.Tx, schema string) error
}

// Table is one table of a projection.
type Table struct {
	// Name is the table's name, in Schema or in a rebuild's schema.
	Name string
	// Void, when set, is a condition on rows that say nothing (a counter at zero), so a
	// table that has them equals one that has not.
	Void string
	// Position, when set, is the column holding the log position of the event a row
	// reflects: the newest of them is how far the table has come.
	Position string
}

// rows collects what a batch of events writes to a projection's tables: add takes the
// events in log order (with the order as of each event, when the projection needs it),
// write stores what was collected in the tables of schema, in one or a few statements,
// and forgets it. Rows that are fresh, new to the tables for certain (a rebuild reads
// each event once), may be copied in without looking for conflicts.
type rows interface {
	add(r eventstore.Recorded, e order.Event, o *OrderAt)
	write(ctx context.Context, tx pgx.Tx, schema string, fresh bool) error
}

// wants reports whether the projection folds r: one of its stream types and, when it
// names them, one of its events.
func (p Projection) wants(r eventstore.Recorded) bool {
	return slices.Contains(p.StreamTypes, r.StreamType) && (p.Events == nil || slices.Contains(p.Events, r.Name))
}

// Apply folds one event into the read model, if the projection reacts to it.
func (p Projection) Apply(ctx context.Context, tx pgx.Tx, r eventstore.Recorded) error {
	if !p.wants(r) {
		return nil
	}
	return p.ApplyBatch(ctx, tx, []eventstore.Recorded{r})
}

// applyEvents is the ApplyBatch of a projection whose rows need only the events
// themselves: the live consumer writes a batch exactly as a rebuild writes a chunk.
func applyEvents(newRows func() rows) func(context.Context, pgx.Tx, []eventstore.Recorded) error {
	return func(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error {
		out := newRows()
		for _, r := range events {
			e, err := orderstream.Decode(r)
			if err != nil {
				return err
			}
			out.add(r, e, nil)
		}
		return out.write(ctx, tx, Schema, false)
	}
}

// table names a table of schema in SQL.
func table(schema, name string) string {
	return pgx.Identifier{schema, name}.Sanitize()
}

// All lists every projection.
func All() []Projection {
	return []Projection{OrderSummaries, PendingApprovals, SupportTickets}
}

// ByName finds projections by name, with or without the "projection." prefix; no names
// means all of them.
func ByName(names ...string) ([]Projection, error) {
	if len(names) == 0 {
		return All(), nil
	}
	var out []Projection
	for _, name := range names {
		i := slices.IndexFunc(All(), func(p Projection) bool {
			return p.Name == name || p.Name == "projection."+name
		})
		if i < 0 {
			return nil, fmt.Errorf("no projection %q (there are %s)", name, strings.Join(Names(), ", "))
		}
		if !slices.ContainsFunc(out, func(p Projection) bool { return p.Name == All()[i].Name }) {
			out = append(out, All()[i])
		}
	}
	return out, nil
}

// Names lists the projections' short names, as the replay tool takes them.
func Names() []string {
	var out []string
	for _, p := range All() {
		out = append(out, strings.TrimPrefix(p.Name, "projection."))
	}
	return out
}
