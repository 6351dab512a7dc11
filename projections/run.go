package projections

import (
	"context"
	"fmt"
	"slices"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
)

// ConsumerGroup is the one consumer group of every projection on the log.
const ConsumerGroup = "projections"

// Register subscribes the projections to the log as one consumer group: one consumer
// reads every partition of their topics in turn, in batches, and hands each batch to
// every projection, as a rebuild does. Each event is read once however many projections
// there are, a batch costs one transaction for all of them, and their transactions never
// overlap, so they cannot deadlock on their rows (or on the counters order_summaries
// keeps by trigger). Every row is guarded by the position of the event it reflects, so a
// projection can still be rebuilt alone.
func Register(log *eventstore.Log, router *message.Router) error {
	var topics, names []string
	for _, p := range All() {
		for _, st := range p.StreamTypes {
			for _, t := range eventstore.Partitions(eventstore.EventsTopic(st)) {
				if !slices.Contains(topics, t) {
					topics = append(topics, t)
				}
			}
		}
		if p.Events == nil {
			names = nil // someone folds every event
			break
		}
		names = append(names, p.Events...)
	}
	var opts []eventstore.ConsumeOption
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
		return applyAll(ctx, tx, events)
	}
	return log.ConsumeBatches(router, ConsumerGroup, topics, handle, opts...)
}

// applyAll hands every projection the events of the batch it folds, in log order.
func applyAll(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error {
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
	return nil
}

// rebuildBatch is how many events a rebuild reads per query.
const rebuildBatch = 1000

// Rebuild empties every read model and replays the whole event store into it, in one
// transaction, and reports how many events it replayed. It deletes rather than truncates,
// so readers keep seeing the old rows (MVCC) until it commits instead of blocking on
// TRUNCATE's exclusive lock. Live consumers may run meanwhile; whatever they re-deliver
// afterwards is ignored by the position check.
func Rebuild(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	replayed := 0
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Each batch of events is read once and handed to every projection of its stream
		// type, in position order, so adding a projection does not add a pass over the store.
		var types []string
		for _, p := range All() {
			for _, table := range p.Tables {
				if _, err := tx.Exec(ctx, "DELETE FROM "+table); err != nil {
					return fmt.Errorf("empty %s: %w", table, err)
				}
			}
			for _, st := range p.StreamTypes {
				if !slices.Contains(types, st) {
					types = append(types, st)
				}
			}
		}
		var after int64
		for {
			batch, err := eventstore.ReadAll(ctx, tx, after, rebuildBatch, types...)
			if err != nil {
				return err
			}
			if err := applyAll(ctx, tx, batch); err != nil {
				return err
			}
			replayed += len(batch)
			if len(batch) < rebuildBatch {
				return nil
			}
			after = batch[len(batch)-1].Position
		}
	})
	return replayed, err
}
