package projections_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
)

func TestSupportTicketsAreRebuiltFromEvents(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	place(t, pool, order.PlaceOrder{OrderID: "ord-t", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 100, At: base})
	open := func(kind, reason string) {
		update(t, pool, "ord-t", func(o *order.Order) ([]order.Event, error) { return o.OpenSupportTicket(kind, reason, base) })
	}
	open("delivery_overdue", "no delivery confirmation")
	open("delivery_overdue", "opened twice") // the aggregate opens a kind once
	open("payment_after_cancel", "refund it")

	_, err := projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	first := dumpTable(t, pool, "orders.support_tickets", "id")
	var kinds []string
	rows, err := pool.Query(ctx, `SELECT kind FROM orders.support_tickets ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		kinds = append(kinds, k)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"delivery_overdue", "payment_after_cancel"}, kinds)

	_, err = projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	assert.Equal(t, first, dumpTable(t, pool, "orders.support_tickets", "id"), "a rebuild gives the same rows, ids included")

	// Applying every event again (a redelivery) changes nothing.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	for _, r := range allEvents(t, pool) {
		require.NoError(t, projections.SupportTickets.Apply(ctx, tx, r))
	}
	require.NoError(t, tx.Commit(ctx))
	assert.Equal(t, first, dumpTable(t, pool, "orders.support_tickets", "id"))
}
