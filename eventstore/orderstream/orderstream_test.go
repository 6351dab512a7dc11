package orderstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

var at = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func held(t *testing.T, ctx context.Context, tx pgx.Tx) *order.Order {
	o := &order.Order{}
	events, err := o.Place(order.PlaceOrder{OrderID: "o-1", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 100, At: at})
	require.NoError(t, err)
	o.ID = "o-1"
	require.NoError(t, orderstream.Append(ctx, tx, o, eventstore.Metadata{}, events...))
	events, err = o.AssessRisk(90, nil, 70, at.Add(time.Hour), at)
	require.NoError(t, err)
	require.NoError(t, orderstream.Append(ctx, tx, o, eventstore.Metadata{}, events...))
	return o
}

// A decision taken on a stale copy is not appended: the order is read again and the
// decision retaken on the latest state, which here refuses it.
func TestUpdateLoadedDecidesAgainOnTheLatestState(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	stale := held(t, ctx, tx)
	fresh, err := orderstream.Load(ctx, tx, "o-1")
	require.NoError(t, err)
	// Another writer approves first.
	require.NoError(t, orderstream.UpdateLoaded(ctx, tx, fresh, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
		return o.Approve("ann", "ok", at)
	}))
	assert.Equal(t, order.StatusReserving, fresh.Status, "the caller's copy follows its own append")

	decisions := 0
	err = orderstream.UpdateLoaded(ctx, tx, stale, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
		decisions++
		return o.Reject("bob", "no", at)
	})
	assert.Equal(t, apperr.CodeConflict, apperr.ErrorCode(err))
	assert.False(t, eventstore.IsVersionConflict(err), "the final refusal is the domain's, not a version clash")
	assert.Equal(t, 2, decisions, "decided on the stale copy, then again on the latest state")

	latest, err := orderstream.Load(ctx, tx, "o-1")
	require.NoError(t, err)
	assert.Equal(t, order.StatusReserving, latest.Status)
	assert.Equal(t, "ann", latest.DecidedBy)
}
