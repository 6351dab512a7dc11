package orderstream_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/orderstream/orderstreamtest"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// placed stores order id, placed.
func placed(t *testing.T, pool *pgxpool.Pool, id string) *order.Order {
	t.Helper()
	ctx := context.Background()
	o := &order.Order{}
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		events, err := o.Place(order.PlaceOrder{OrderID: id, Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 100, At: at})
		if err != nil {
			return err
		}
		o.ID = id
		return orderstream.Append(ctx, tx, o, eventstore.Metadata{}, events...)
	}))
	return o
}

// An order with an event a newer release appended (a rolling upgrade) is read as far as
// this release knows it by LoadHistory, for a person's view that says so, the event
// counted towards its version. Load, which the saga, the commands and the API read
// through, decides and answers on no such state: it reads the newer release's snapshot
// when it is in this release's layout, and refuses the order, unavailable until this
// release is upgraded, when it would have to fold the events. The refusal is the order's
// alone: it failed every read answered by the same query ("unknown order event", a 500).
func TestAnOrderWithANewerReleasesEventIsReadAsFarAsThisReleaseKnowsIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	other := placed(t, pool, "o-other")
	o := placed(t, pool, "o-newer")
	orderstreamtest.AppendNewerEvent(t, pool, o, orderstreamtest.NewerLayout)

	h, err := orderstream.LoadHistory(ctx, pool, o.ID)
	require.NoError(t, err)
	assert.Equal(t, order.StatusPlaced, h.Order.Status)
	assert.Equal(t, 2, h.Order.Version, "the event counts towards the order's version")
	require.Len(t, h.Unknown(), 1)
	assert.Equal(t, orderstreamtest.NewerEvent, h.Unknown()[0].Name)

	_, err = orderstream.Load(ctx, pool, o.ID)
	assert.Equal(t, apperr.CodeUnavailable, apperr.ErrorCode(err), "%v", err)
	assert.ErrorContains(t, err, orderstreamtest.NewerEvent)

	orders, errs := orderstream.NewReader(pool, 1, nil).ReadTogether(other.ID, o.ID)
	require.NoError(t, errs[0], "another order read by the same query")
	assert.Equal(t, other.ID, orders[0].ID)
	assert.Equal(t, apperr.CodeUnavailable, apperr.ErrorCode(errs[1]), "%v", errs[1])

	same := placed(t, pool, "o-newer-same-layout")
	orderstreamtest.AppendNewerEvent(t, pool, same, orderstreamtest.SameLayout)
	loaded, err := orderstream.Load(ctx, pool, same.ID)
	require.NoError(t, err, "the newer release's snapshot, in this release's layout")
	assert.Equal(t, 2, loaded.Version)
}
