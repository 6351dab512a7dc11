package inbox

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// The few webhooks that came for an unknown order are listed through their partial index:
// among many thousands of accepted ones, the newest-first walk of the whole inbox read
// every row to find them. The list holds them alone, newest first.
func TestUnknownOrdersWebhooksAreListedThroughTheirIndex(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `
		INSERT INTO orders.webhook_inbox (provider, event_id, order_id, status, outcome, payload)
		SELECT 'payment', 'evt-' || i, 'o-' || i, 'completed',
		       CASE WHEN i IN (10, 20000, 30000) THEN 'unknown_order' ELSE 'accepted' END, '{}'
		FROM generate_series(1, 40000) i`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE orders.webhook_inbox`)
	require.NoError(t, err)

	var plan string
	require.NoError(t, pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+listQuery(outcomeUnknownOrder), int64(math.MaxInt64), 200).Scan(&plan))
	assert.Contains(t, plan, "webhook_inbox_unknown_orders", "found through the partial index")
	assert.NotContains(t, plan, `"webhook_inbox_pkey"`, "not by walking the whole inbox")

	rows, err := pool.Query(ctx, listQuery(outcomeUnknownOrder), int64(math.MaxInt64), 200)
	require.NoError(t, err)
	var events []string
	for rows.Next() {
		var id int64
		var provider, eventID, orderID, status, outcome string
		var payload []byte
		var at any
		require.NoError(t, rows.Scan(&id, &provider, &eventID, &orderID, &status, &outcome, &payload, &at))
		assert.Equal(t, outcomeUnknownOrder, outcome)
		events = append(events, eventID)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"evt-30000", "evt-20000", "evt-10"}, events, "newest first")
}
