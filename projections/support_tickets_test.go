package projections_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
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

// The log hands a stream's events over in the order their transactions took ids, not
// always by position. A manager's close whose transaction took its id first (its first
// attempt met another manager's assignment, then was taken again on the order as it
// stood) is handed over before that assignment: the assignment was skipped as older than
// the close, and the closed ticket lost its assignee, live and in a rebuild (a review).
func TestATicketKeepsAnAssignmentHandedOverAfterItsClose(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	place(t, pool, order.PlaceOrder{OrderID: "ord-t", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 100, At: base})
	update(t, pool, "ord-t", func(o *order.Order) ([]order.Event, error) {
		return o.OpenSupportTicket("delivery_overdue", "late", base)
	})
	closing, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = closing.Rollback(ctx) }()
	_, err = closing.Exec(ctx, `SELECT pg_current_xact_id()`) // the close's id, taken first
	require.NoError(t, err)
	update(t, pool, "ord-t", func(o *order.Order) ([]order.Event, error) {
		return o.AssignTicket("delivery_overdue", "bob@example.com", "ana@example.com", base)
	})
	_, err = orderstream.Update(ctx, closing, "ord-t", eventstore.Metadata{CorrelationID: "ord-t"}, func(o *order.Order) ([]order.Event, error) {
		return o.CloseTicket("delivery_overdue", "ana@example.com", "delivered after all", base)
	})
	require.NoError(t, err)
	require.NoError(t, closing.Commit(ctx))

	ticket := func() (status, assignee string) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT status, assignee FROM orders.support_tickets WHERE order_id = 'ord-t'`).Scan(&status, &assignee))
		return status, assignee
	}
	consumeLive(t, pool)
	status, assignee := ticket()
	assert.Equal(t, "closed", status)
	assert.Equal(t, "bob@example.com", assignee, "live")
	_, err = projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	status, assignee = ticket()
	assert.Equal(t, "closed", status)
	assert.Equal(t, "bob@example.com", assignee, "rebuilt")
}
