package projections

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// The ticket desk's tickets, those not closed first and then the newest, come through an
// index in that order: the desk read and sorted every ticket ever opened (a probe's
// 9,500, 3 % of its orders), a cost growing with the history.
func TestTheTicketDeskReadsThroughAnIndexInItsOrder(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `INSERT INTO orders.support_tickets (order_id, kind, reason, status, created_at)
		SELECT 'ord-' || g, 'delivery_failed', 'r', CASE WHEN g % 50 = 0 THEN 'open' ELSE 'closed' END,
			timestamptz '2026-12-01' + g * interval '1 minute'
		FROM generate_series(1, 3000) AS g`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE orders.support_tickets`)
	require.NoError(t, err)

	tickets, err := DeskTickets(ctx, pool, 70)
	require.NoError(t, err)
	require.Len(t, tickets, 70)
	assert.Equal(t, "ord-3000", tickets[0].OrderID, "the newest open first")
	assert.Equal(t, "ord-50", tickets[59].OrderID, "the oldest open last of the open")
	assert.Equal(t, "ord-2999", tickets[60].OrderID, "then the newest closed")

	plan := explain(t, pool, deskTicketsSQL, []any{70})
	assert.Contains(t, plan, "support_tickets_desk", plan)
}
