// Package orderstreamtest holds what tests of the readers of order streams share: an order
// event a newer release appended, during a rolling upgrade, that this release does not know.
package orderstreamtest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// NewerEvent is the name of the event AppendNewerEvent appends: no release of this code
// knows it (order.Known).
const NewerEvent = "order.future.v9"

// NewerActor is the actor the newer release records its event under.
const NewerActor = "saga"

// Layout is the layout of the snapshot the newer release stores with its event.
type Layout int

const (
	// SameLayout: the newer release left order.Order as it is, so this release reads its
	// snapshot, the order's whole state, as its own.
	SameLayout Layout = iota
	// NewerLayout: the newer release changed order.Order (and bumped the snapshot's
	// layout), so this release ignores its snapshot and folds the order's events.
	NewerLayout
)

// AppendNewerEvent appends to o's stream, stored with its snapshot already, an event this
// release does not know, with the order's snapshot as a newer release stores it (in
// layout), and leaves o at the order's new state: the event counted in its version, as
// order.Apply counts an event it does not know.
func AppendNewerEvent(t testing.TB, pool *pgxpool.Pool, o *order.Order, layout Layout) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// The layout this release stored the order's snapshot in, and one it does not read.
		var schema int
		if err := tx.QueryRow(ctx, `SELECT schema FROM snapshots WHERE stream_id = $1`, o.ID).Scan(&schema); err != nil {
			return err
		}
		if layout == NewerLayout {
			schema++
		}
		next := *o
		next.Version++
		state, err := json.Marshal(&next)
		if err != nil {
			return err
		}
		_, err = eventstore.AppendWithSnapshot(ctx, tx, eventstore.Stream{Type: orderstream.StreamType, ID: o.ID}, o.Version,
			eventstore.Metadata{CorrelationID: o.ID, Actor: NewerActor}, eventstore.Snapshot{Schema: schema, State: state},
			eventstore.Event{Name: NewerEvent, Data: map[string]string{"what": "a newer release's"}})
		if err == nil {
			*o = next
		}
		return err
	}))
}
