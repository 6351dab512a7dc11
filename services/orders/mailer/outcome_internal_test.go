package mailer

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// An outcome is recorded only on the email still under the claim it is of. A statement
// that committed but whose answer was lost is sent again with its outcomes at the next
// poll; a deferral recorded a second time put back in the queue an email another replica
// had claimed and sent meanwhile, which was then sent again (a review).
func TestAnOutcomeRecordedAgainLeavesALaterClaimAlone(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `INSERT INTO orders.notifications (order_id, kind, recipient, subject, body)
		VALUES ('ord-1', 'order_completed', 'ann@example.com', 'Your order is complete', 'body')`)
	require.NoError(t, err)
	a := New(pool, slog.New(slog.DiscardHandler), Config{})
	b := New(pool, slog.New(slog.DiscardHandler), Config{})

	claimed, err := a.claim(ctx, nil, 1)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	refused, due := "421 try again later", time.Now().Add(-time.Second)
	deferred := mailOutcome{id: claimed[0].id, claimed: claimed[0].claimed, err: &refused, retryAt: &due, down: true}
	_, err = a.claim(ctx, []mailOutcome{deferred}, 0) // committed; its answer lost
	require.NoError(t, err)

	again, err := b.claim(ctx, nil, 1) // another replica claims it, and sends it
	require.NoError(t, err)
	require.Len(t, again, 1)
	_, err = b.claim(ctx, []mailOutcome{{id: again[0].id, claimed: again[0].claimed}}, 0)
	require.NoError(t, err)

	_, err = a.claim(ctx, []mailOutcome{deferred}, 0) // the first replica's statement, sent again
	require.NoError(t, err)
	var sent bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT sent_at IS NOT NULL FROM orders.notifications`).Scan(&sent))
	assert.True(t, sent, "an email recorded sent stays sent")
	left, err := b.claim(ctx, nil, 1)
	require.NoError(t, err)
	assert.Empty(t, left, "an email sent is never claimed again")
}
