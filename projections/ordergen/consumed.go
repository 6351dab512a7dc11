package ordergen

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// ErrBehind says that a consumer group has not read the order events to their head:
// a past written as consumed now would pass over what it has not acted on yet.
var ErrBehind = errors.New("a consumer has not read every order event yet")

// Consumed writes histories as Generate does, as a past the given consumer groups of the
// order events have already read: a store that has run for a while, under a system that
// starts (or goes on) after it without acting on that past again. The groups' offset rows
// are locked while it is written, so a running consumer waits rather than takes it up,
// and are then moved to the head of each partition. Nothing else may append order events
// meanwhile: its messages would be passed over too. A group that has not read a partition
// to its head is refused before anything is written (ErrBehind): the messages it has not
// acted on yet (a system stopped with work in flight) would be passed over as well. Only a
// rebuild brings the history into the read models.
func Consumed(ctx context.Context, pool *pgxpool.Pool, opts Options, groups ...string) (Result, error) {
	topics := eventstore.Partitions(eventstore.EventsTopic(orderstream.StreamType))
	for _, g := range groups {
		if err := eventstore.PrepareGroup(ctx, pool, g, topics...); err != nil {
			return Result{}, err
		}
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, g := range groups {
		at, err := eventstore.GroupOffsets(ctx, tx, g, topics, true)
		if err != nil {
			return Result{}, err
		}
		for _, topic := range topics {
			head, err := eventstore.Head(ctx, tx, topic)
			if err != nil {
				return Result{}, err
			}
			if at[topic] != head {
				return Result{}, fmt.Errorf("%w: %s on %s", ErrBehind, g, topic)
			}
		}
	}
	res, err := Generate(ctx, pool, opts)
	if err != nil {
		return res, err
	}
	for _, topic := range topics {
		head, err := eventstore.Head(ctx, pool, topic)
		if err != nil {
			return res, err
		}
		for _, g := range groups {
			if err := eventstore.SetGroupOffset(ctx, tx, g, topic, head); err != nil {
				return res, err
			}
		}
	}
	return res, tx.Commit(ctx)
}
