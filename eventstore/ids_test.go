package eventstore_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// Ids made later sort later, even within one millisecond, so new keys go to the right
// edge of their indexes.
func TestNewIDsSortInTheOrderTheyAreMade(t *testing.T) {
	prev := eventstore.NewID()
	for range 10_000 {
		id := eventstore.NewID()
		require.Less(t, prev, id)
		u, err := uuid.Parse(id)
		require.NoError(t, err)
		require.Equal(t, uuid.Version(7), u.Version())
		prev = id
	}
}

// The store's events take such ids: in the events table they sort as the log does.
func TestEventIDsFollowTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	ctx := context.Background()
	pool := pgtest.Pool(t)
	for i, stream := range []string{"o-b", "o-a", "o-c", "o-a"} {
		version := 0
		if i == 3 {
			version = 1
		}
		require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: stream}, version, i))
	}
	rows, err := pool.Query(ctx, `SELECT event_id::text FROM events ORDER BY position`)
	require.NoError(t, err)
	byPosition, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, byPosition, 4)
	assert.IsIncreasing(t, byPosition)
}
