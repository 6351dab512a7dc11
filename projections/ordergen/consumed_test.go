package ordergen_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections/ordergen"
)

// A consumed past cut short (a signal, a crash) is read by its groups as far as it was
// written: a probe stopped bin/history half-way, started the services as it was then
// told, and the saga took the 31,392 events written as new work, sending 3,215 emails.
func TestAConsumedPastCutShortIsReadAsFarAsItWent(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.ConnConfig.Tracer = cancelAfterCommit{cancel}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	defer pool.Close()

	res, err := ordergen.Consumed(ctx, pool, ordergen.Options{Events: 3000, StepsPerTx: 100, InFlight: 20, Seed: 5, Ended: true}, "saga", "views")
	require.ErrorIs(t, err, context.Canceled, "cut short after its first transaction")

	var events int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&events))
	require.Positive(t, events, "the first transaction's events are written")
	assert.Less(t, events, 3000, "and the orders in flight ended, no more")
	assert.Equal(t, res.Events, events)
	// Every order ended, as in a finished past: one left mid-way waited for a decision, a
	// payment or a courier that no saga would ever arm a deadline for (the review).
	ids, err := pgx.CollectRows(must(pool.Query(context.Background(), `SELECT DISTINCT stream_id FROM events`)), pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, res.Orders, len(ids))
	for _, id := range ids {
		h, err := orderstream.LoadHistory(context.Background(), pool, id)
		require.NoError(t, err)
		assert.True(t, h.Order.Status.Terminal(), "order %s ended %s", id, h.Order.Status)
	}
	lags, err := eventstore.GroupLags(context.Background(), pool)
	require.NoError(t, err)
	groups := map[string]bool{}
	for _, l := range lags {
		groups[l.Group] = true
		assert.Zero(t, l.Behind, "%s has read %s to its head", l.Group, l.Topic)
	}
	assert.Equal(t, map[string]bool{"saga": true, "views": true}, groups)
}

// cancelAfterCommit cancels a context once a transaction has committed.
type cancelAfterCommit struct{ cancel context.CancelFunc }

func (c cancelAfterCommit) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (c cancelAfterCommit) TraceQueryEnd(_ context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if data.Err == nil && data.CommandTag.String() == "COMMIT" {
		c.cancel()
	}
}

func must(rows pgx.Rows, err error) pgx.Rows {
	if err != nil {
		panic(err)
	}
	return rows
}
