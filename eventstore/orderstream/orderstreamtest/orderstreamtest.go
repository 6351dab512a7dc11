// Package orderstreamtest holds what tests of the readers of order streams share: an order
// event a newer release appended, during a rolling upgrade, that this release does not know.
package orderstreamtest

import (
	"context"
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

// AppendNewerEvent appends to o's stream an event this release does not know, with the
// order's snapshot as a newer release stores it (in layout), and leaves o at the order's
// new state: the event counted in its version, as order.Apply counts an event it does not
// know. The stream may have no snapshot yet (a history imported without, as
// eventstore.Import stores it): the newer release stores one all the same.
func AppendNewerEvent(t testing.TB, pool *pgxpool.Pool, o *order.Order, layout Layout) {
	t.Helper()
	ctx := context.Background()
	next := *o
	next.Version++
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		recorded, err := eventstore.Append(ctx, tx, eventstore.Stream{Type: orderstream.StreamType, ID: o.ID}, o.Version,
			eventstore.Metadata{CorrelationID: o.ID, Actor: NewerActor},
			eventstore.Event{Name: NewerEvent, Data: map[string]string{"what": "a newer release's"}})
		if err != nil {
			return err
		}
		// The snapshot in this release's layout, then, for a newer one, under the next
		// number: one this release does not read.
		if err := orderstream.StoreSnapshots(ctx, tx, []*order.Order{&next}, map[string]int64{o.ID: recorded[0].Position}); err != nil {
			return err
		}
		if layout == NewerLayout {
			_, err = tx.Exec(ctx, `UPDATE snapshots SET schema = schema + 1 WHERE stream_id = $1`, o.ID)
		}
		return err
	}))
	*o = next
}
