// Package orderstream loads and changes Order aggregates through the event store: the
// repository every writer of order events (the API, the saga) goes through.
package orderstream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
)

// StreamType is the stream type of orders; their events travel on topic order_events.
const StreamType = "order"

// Topic carries every order event.
var Topic = eventstore.EventsTopic(StreamType)

// Load rebuilds an order from its events; an order without events is not found.
func Load(ctx context.Context, q eventstore.Querier, id string) (*order.Order, error) {
	recorded, err := eventstore.Load(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if len(recorded) == 0 {
		return nil, apperr.Errorf(apperr.CodeNotFound, "order %s not found", id)
	}
	events, err := DecodeAll(recorded)
	if err != nil {
		return nil, err
	}
	return order.Rehydrate(events), nil
}

// Decode turns a stored or received envelope into its domain event.
func Decode(r eventstore.Recorded) (order.Event, error) {
	e, err := order.NewEvent(r.Name)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(r.Payload, e); err != nil {
		return nil, fmt.Errorf("decode %s at %d: %w", r.Name, r.Position, err)
	}
	return e, nil
}

// DecodeAll decodes a stream's envelopes in order.
func DecodeAll(recorded []eventstore.Recorded) ([]order.Event, error) {
	events := make([]order.Event, 0, len(recorded))
	for _, r := range recorded {
		e, err := Decode(r)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

// Append stores events decided on o (at o's version) and applies them to o.
func Append(ctx context.Context, tx pgx.Tx, o *order.Order, meta eventstore.Metadata, events ...order.Event) error {
	if len(events) == 0 {
		return nil
	}
	batch := make([]eventstore.Event, len(events))
	for i, e := range events {
		batch[i] = eventstore.Event{Name: e.EventName(), Data: e}
	}
	if _, err := eventstore.Append(ctx, tx, eventstore.Stream{Type: StreamType, ID: o.ID}, o.Version, meta, batch...); err != nil {
		return err
	}
	for _, e := range events {
		o.Apply(e)
	}
	return nil
}

// maxConflictRetries bounds how often Update re-reads an order that changed under it.
const maxConflictRetries = 5

// Update loads order id, lets decide choose events from its current state, and appends
// them (see UpdateLoaded).
func Update(ctx context.Context, tx pgx.Tx, id string, meta eventstore.Metadata, decide func(*order.Order) ([]order.Event, error)) (*order.Order, error) {
	o, err := Load(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	return o, UpdateLoaded(ctx, tx, o, meta, decide)
}

// UpdateLoaded lets decide choose events from o, which the caller has just loaded, and
// appends them, leaving o at the order's new state. Only when another writer appended
// first does it read the stream again and decide again (each attempt in its own savepoint),
// so a decision is always taken on the latest state without paying a second read on the
// common path; a decision the latest state refuses comes back as decide's error.
func UpdateLoaded(ctx context.Context, tx pgx.Tx, o *order.Order, meta eventstore.Metadata, decide func(*order.Order) ([]order.Event, error)) error {
	cur := o
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			if cur == nil {
				fresh, err := Load(ctx, sp, o.ID)
				if err != nil {
					return err
				}
				cur = fresh
			}
			events, err := decide(cur)
			if err != nil {
				return err
			}
			return Append(ctx, sp, cur, meta, events...)
		})
		if err == nil {
			*o = *cur
			return nil
		}
		if attempt == maxConflictRetries || !eventstore.IsVersionConflict(err) {
			return err
		}
		cur = nil
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
		}
	}
}
