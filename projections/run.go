package projections

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// ConsumerGroup is the one consumer group of every projection on the log.
const ConsumerGroup = "projections"

// Register subscribes the projections to the log as one consumer group: one consumer
// reads every partition of their topics in turn, in batches, and hands each batch to
// every projection, as a rebuild does. Each event is read once however many projections
// there are, a batch costs one transaction for all of them, and their transactions never
// overlap, so they cannot deadlock on their rows (or on the counters order_summaries
// keeps by trigger). Every row is guarded by the position of the event it reflects.
// Their writes need no answer, so they are queued (eventstore.QueueWrites) and travel
// with the batch's next read or its commit: a batch is the round trip that takes it,
// the read of its orders' states and the commit, and its transaction is not left open
// between statements, holding back every consumer of the log (see Holdback).
func Register(log *eventstore.Log, router *message.Router) error {
	var names []string
	for _, p := range All() {
		if p.Events == nil {
			names = nil // someone folds every event
			break
		}
		for _, n := range p.Events {
			names = append(names, order.StoredNames(n)...) // ApplyAll upcasts older versions
		}
	}
	opts := []eventstore.ConsumeOption{eventstore.QueueWrites(), eventstore.Pace(Pace)}
	if names != nil {
		opts = append(opts, eventstore.OnlyNames(names...))
	}
	handle := func(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
		events := make([]eventstore.Recorded, len(msgs))
		for i, msg := range msgs {
			r, err := eventstore.DecodeRecorded(msg)
			if err != nil {
				return err
			}
			events[i] = r
		}
		return ApplyAll(ctx, tx, events)
	}
	return log.ConsumeBatches(router, ConsumerGroup, topics(All()), handle, opts...)
}

// Pace is how often at most the projections take a batch while the log is busy
// (eventstore.Pace): the read models lag a busy log by up to this, and each order's row is
// written once a round instead of once per wake-up. Reads that must see a write (GET
// /api/orders/{id}) read the order's snapshot, not a projection.
const Pace = 100 * time.Millisecond

// topics lists the log topics (every partition) the projections read.
func topics(ps []Projection) []string {
	var out []string
	for _, p := range ps {
		for _, st := range p.StreamTypes {
			for _, t := range eventstore.Partitions(eventstore.EventsTopic(st)) {
				if !slices.Contains(out, t) {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// ApplyAll hands every projection the events of a batch that it folds, in log order, each
// in its current version (orderstream.Upcast), and announces on DashboardChannel that
// orders moved: what the projections' consumer group does with each batch it takes.
func ApplyAll(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error {
	events = slices.Clone(events)
	for i, r := range events {
		var err error
		if events[i], err = orderstream.Upcast(r); err != nil {
			return err
		}
	}
	for _, p := range All() {
		var mine []eventstore.Recorded
		for _, r := range events {
			if p.wants(r) {
				mine = append(mine, r)
			}
		}
		if len(mine) == 0 {
			continue
		}
		if err := p.ApplyBatch(ctx, tx, mine); err != nil {
			return fmt.Errorf("%s at positions %d-%d: %w", p.Name, mine[0].Position, mine[len(mine)-1].Position, err)
		}
	}
	if len(events) == 0 {
		return nil
	}
	// Open order pages draw an order from its events (TimelineOf); once a batch, whatever
	// its orders, they are told that orders moved and each looks whether its order did
	// (orderstream.NewestPosition), so a busy log costs one notification per transaction.
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, DashboardChannel, OrdersChanged)
	return err
}
