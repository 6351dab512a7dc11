package ordergen

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// ErrBehind says that a consumer group has not read the order events to their head:
// a past written as consumed now would pass over what it has not acted on yet.
var ErrBehind = errors.New("a consumer has not read every order event yet")

// Consumed writes histories as Generate does, as a past the given consumer groups of the
// order events have already read: a store that has run for a while, under a system that
// starts (or goes on) after it without acting on that past again. Each of Generate's
// transactions locks the groups' offset rows, so a running consumer waits rather than
// takes its events up, and moves them to the head of each partition as it commits: a run
// cut short leaves a shorter past, read as wholly as a finished one (a crash: with the
// orders then in flight left mid-way; ctx's end: every order ended, Generate). Moved once
// at the end, they were not: a probe stopped a run half-way, then started the services as
// the refusal that followed advised, and the saga took 31,392 events of the past as new
// work (3,215 emails, 2,868 shipments). Nothing else may append order events
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
	opts.around = func(ctx context.Context, tx pgx.Tx, write func() error) error {
		heads := make(map[string]eventstore.Offset, len(topics))
		for _, topic := range topics {
			head, err := eventstore.Head(ctx, tx, topic)
			if err != nil {
				return err
			}
			heads[topic] = head
		}
		for _, g := range groups {
			at, err := eventstore.GroupOffsets(ctx, tx, g, topics, true)
			if err != nil {
				return err
			}
			for _, topic := range topics {
				if at[topic] != heads[topic] {
					return fmt.Errorf("%w: %s on %s", ErrBehind, g, topic)
				}
			}
		}
		if err := write(); err != nil {
			return err
		}
		for _, topic := range topics {
			head, err := eventstore.Head(ctx, tx, topic)
			if err != nil {
				return err
			}
			for _, g := range groups {
				if err := eventstore.SetGroupOffset(ctx, tx, g, topic, head); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return Generate(ctx, pool, opts)
}
