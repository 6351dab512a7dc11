package projections

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
)

// Register subscribes every projection to its topics on the log.
func Register(log *eventstore.Log, router *message.Router) error {
	for _, p := range All() {
		for _, st := range p.StreamTypes {
			apply := p.Apply
			err := log.Consume(router, p.Name, eventstore.EventsTopic(st), func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
				r, err := eventstore.DecodeRecorded(msg)
				if err != nil {
					return err
				}
				return apply(ctx, tx, r)
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// rebuildBatch is how many events a rebuild reads per query.
const rebuildBatch = 1000

// Rebuild empties every read model and replays the whole event store into it, in one
// transaction. It deletes rather than truncates, so readers keep seeing the old rows
// (MVCC) until it commits instead of blocking on TRUNCATE's exclusive lock. Live consumers may run
// meanwhile; whatever they re-deliver afterwards is ignored by the position check.
func Rebuild(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	applied := 0
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, p := range All() {
			for _, table := range p.Tables {
				if _, err := tx.Exec(ctx, "DELETE FROM "+table); err != nil {
					return fmt.Errorf("empty %s: %w", table, err)
				}
			}
			var after int64
			for {
				batch, err := eventstore.ReadAll(ctx, tx, after, rebuildBatch, p.StreamTypes...)
				if err != nil {
					return err
				}
				for _, r := range batch {
					if err := p.Apply(ctx, tx, r); err != nil {
						return fmt.Errorf("%s at position %d: %w", p.Name, r.Position, err)
					}
					applied++
				}
				if len(batch) < rebuildBatch {
					break
				}
				after = batch[len(batch)-1].Position
			}
		}
		return nil
	})
	return applied, err
}
