package projections_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/projections/ordergen"
)

// Every projection, handed a batch of the log it has already folded (a redelivered batch,
// as the projections' consumer receives it, its writes queued), changes no row: every read model, at
// once, over varied order histories.
func TestEveryProjectionHandedABatchTwiceChangesNothing(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	_, err := ordergen.Generate(ctx, pool, ordergen.Options{Events: 600, Seed: 9, InFlight: 20})
	require.NoError(t, err)

	var log []eventstore.Recorded
	rows, err := pool.Query(ctx, `SELECT DISTINCT stream_id FROM events`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, id := range ids {
		stream, err := eventstore.Load(ctx, pool, id)
		require.NoError(t, err)
		log = append(log, stream...)
	}
	require.Greater(t, len(log), 500)
	// In log order, in batches of 100 as the consumer takes them.
	slices.SortFunc(log, func(a, b eventstore.Recorded) int { return cmp.Compare(a.Position, b.Position) })
	// The summaries fold each order's current state, so a batch of only later events of
	// orders already met may rightly change nothing; most batches meet new orders.
	changing := 0
	for start := 0; start < len(log); start += 100 {
		batch := log[start:min(start+100, len(log))]
		if pgtest.Redelivered(t, pool, fmt.Sprintf("the batch at %d", start), pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error {
			return projections.ApplyAll(ctx, tx, batch)
		})) {
			changing++
		}
	}
	require.Greater(t, changing, len(log)/100/2, "most batches changed something the first time: else the test proves little")
}
