package eventstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// Queued writes reach Postgres before any read of the same transaction, in order; a
// queued append's conflict surfaces at the flush; nothing queued survives a rollback.
func TestPipelineQueuesWritesUntilTheyAreNeeded(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE piped (n INT PRIMARY KEY)`)
	require.NoError(t, err)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	p := eventstore.Pipelined(tx)
	for n := 1; n <= 3; n++ {
		_, err := p.Exec(ctx, `INSERT INTO piped VALUES ($1)`, n)
		require.NoError(t, err)
	}
	var outside int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM piped`).Scan(&outside))
	assert.Zero(t, outside)
	var sum int
	require.NoError(t, p.QueryRow(ctx, `SELECT coalesce(sum(n), 0) FROM piped`).Scan(&sum))
	assert.Equal(t, 6, sum, "a read sees the writes queued before it")
	require.NoError(t, p.Commit(ctx))

	// A second writer at a version already taken: the append queues without error and
	// the conflict comes with the flush.
	stream := eventstore.Stream{Type: "order", ID: "o-piped"}
	require.NoError(t, appendOne(ctx, pool, stream, 0, 1))
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		p := eventstore.Pipelined(tx)
		_, err := eventstore.Append(ctx, p, stream, 0, eventstore.Metadata{}, eventstore.Event{Name: "test.counted.v1", Data: counted{N: 2}})
		require.NoError(t, err)
		return p.Flush(ctx)
	})
	assert.True(t, eventstore.IsVersionConflict(err), "%v", err)
	assert.Equal(t, apperr.CodeConflict, apperr.ErrorCode(err))

	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	p = eventstore.Pipelined(tx)
	_, err = p.Exec(ctx, `INSERT INTO piped VALUES (4)`)
	require.NoError(t, err)
	require.NoError(t, p.Rollback(ctx))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM piped`).Scan(&outside))
	assert.Equal(t, 3, outside)
}
