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

// Register subscribes every projection to its topics on the log: one consumer per
// projection reads every partition of its topics in turn, in batches, so a projection's
// transactions never overlap and cannot deadlock on its own rows (or on the counters
// order_summaries keeps by trigger).
func Register(log *eventstore.Log, router *message.Router) error {
	for _, p := range All() {
		var topics []string
		for _, st := range p.StreamTypes {
			topics = append(topics, eventstore.Partitions(eventstore.EventsTopic(st))...)
		}
		var opts []eventstore.ConsumeOption
		if p.Events != nil {
			opts = append(opts, eventstore.OnlyNames(p.Events...))
		}
		apply := p.ApplyBatch
		handle := func(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
			events := make([]eventstore.Recorded, len(msgs))
			for i, msg := range msgs {
				r, err := eventstore.DecodeRecorded(msg)
				if err != nil {
					return err
				}
				events[i] = r
			}
			return apply(ctx, tx, events)
		}
		if err := log.ConsumeBatches(router, p.Name, topics, handle, opts...); err != nil {
			return err
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
			for _, p := range All() {
				var mine []eventstore.Recorded
				for _, r := range batch {
					if slices.Contains(p.StreamTypes, r.StreamType) {
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
			replayed += len(batch)
			if len(batch) < rebuildBatch {
				return nil
			}
			after = batch[len(batch)-1].Position
		}
	})
	return replayed, err
}
