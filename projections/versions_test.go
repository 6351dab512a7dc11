package projections_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/projections/ordergen/v1log"
)

// A log written with order.placed.v1 replays to the same read models (live and rebuilt)
// and the same aggregate states as the same histories written today, with
// order.placed.v2: everything downstream reads v1 as v2.
func TestV1LogReplaysLikeTheV2Log(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v1, v2 := pgtest.Pool(t), pgtest.Pool(t)
	names, err := v1log.Import(ctx, v1)
	require.NoError(t, err)
	require.Positive(t, names[order.NameOrderPlacedV1])
	require.Zero(t, names[order.NameOrderPlaced], "the fixture is a v1 log")
	gen := generate(t, v2, v1log.Options)
	require.Equal(t, gen.Events, sum(names), "the fixture holds the histories ordergen writes today")

	consumeLive(t, v1)
	consumeLive(t, v2)
	want := checksums(t, v2, "orders")
	assert.Equal(t, want, checksums(t, v1, "orders"), "the live consumer")
	for _, pool := range []*pgxpool.Pool{v1, v2} {
		_, err = projections.Rebuild(ctx, pool, projections.Options{})
		require.NoError(t, err)
	}
	assert.Equal(t, want, checksums(t, v1, "orders"), "a rebuild of the v1 log")
	assert.Equal(t, want, checksums(t, v2, "orders"), "a rebuild of the v2 log")

	var placed int
	require.NoError(t, v2.QueryRow(ctx, `SELECT count(*) FROM events WHERE event_name = $1`, order.NameOrderPlaced).Scan(&placed))
	assert.Equal(t, names[order.NameOrderPlacedV1], placed, "today's log places the same orders with v2")
	rows, err := v1.Query(ctx, `SELECT DISTINCT stream_id FROM events ORDER BY 1`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, id := range ids {
		a, err := orderstream.LoadHistory(ctx, v1, id)
		require.NoError(t, err)
		b, err := orderstream.LoadHistory(ctx, v2, id)
		require.NoError(t, err)
		require.Equal(t, b.Order, a.Order, "order %s", id)
	}
}

func sum(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}
