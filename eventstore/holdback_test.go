package eventstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A write transaction left open in another database of the same server (another tenant)
// holds back every message published after it began, in every database: the consumer
// gets nothing until it ends, then gets the message within about a poll interval.
// OldestHoldback names it meanwhile. The figures it logs are in docs/RELIABILITY.md.
func TestATransactionInAnotherDatabaseHoldsTheLogBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	other := pgtest.Pool(t)
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	handled := recordStreams(ctx, t, log, "holdback")

	publish := func(id string) { publishWoken(ctx, t, log, pool, id) }
	hop := func(id string) time.Duration {
		start := time.Now()
		publish(id)
		select {
		case got := <-handled:
			require.Equal(t, id, got)
		case <-ctx.Done():
			t.Fatal("never handled")
		}
		return time.Since(start)
	}
	var base []time.Duration
	for i := range 20 {
		base = append(base, hop("o-base-"+string(rune('a'+i))))
	}
	slices.Sort(base)

	const hold = 2 * time.Second
	tx, err := other.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	_, err = tx.Exec(ctx, `SELECT pg_current_xact_id()`)
	require.NoError(t, err)
	started := time.Now()
	publish("o-held")
	select {
	case got := <-handled:
		t.Fatalf("%s was delivered while an older transaction was open", got)
	case <-time.After(hold): // the assertion: nothing arrives during the hold
	}
	var otherDB string
	require.NoError(t, other.QueryRow(ctx, `SELECT current_database()`).Scan(&otherDB))
	// The oldest transaction on the whole server is ours, once any older one that a test of
	// another package (go test runs them side by side) holds has ended.
	var hb eventstore.Holdback
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		hb, err = eventstore.OldestHoldback(ctx, pool)
		require.NoError(c, err)
		assert.Equal(c, otherDB, hb.Database)
	}, 30*time.Second, 50*time.Millisecond)
	assert.GreaterOrEqual(t, hb.Age, hold)
	assert.Equal(t, "idle in transaction", hb.State)

	require.NoError(t, tx.Rollback(ctx))
	released := time.Now()
	select {
	case got := <-handled:
		assert.Equal(t, "o-held", got)
	case <-ctx.Done():
		t.Fatal("never handled after the transaction ended")
	}
	t.Logf("hop without holdback: median %s, max %s (20 hops); with a write transaction open %s in another database: delivered %s after publishing, %s after it ended",
		base[len(base)/2].Round(100*time.Microsecond), base[len(base)-1].Round(100*time.Microsecond), hold,
		time.Since(started).Round(time.Millisecond), time.Since(released).Round(time.Millisecond))
}
