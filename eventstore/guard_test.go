package eventstore_test

import (
	"context"
	stdsql "database/sql"
	"testing"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A delayed queue's batch select cut off by the process stopping cannot commit. watermill-sql
// reads the select's rows without asking why they ended and then commits; the commit must
// say that the select was cancelled (which the processes log quietly, as a stop), not fail
// on a closed connection (which they would log as an error at every such stop), and the
// pool must go on working.
func TestCommitAfterACancelledBatchSelectSaysItWasCancelled(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tx, err := eventstore.GuardedBeginner(wsql.BeginnerFromPgx(pool)).BeginTx(ctx, &stdsql.TxOptions{})
	require.NoError(t, err)

	// More rows than any buffer holds, streamed (a set-returning function in the select
	// list is not materialised first), so the cancel lands while they are being read.
	rows, err := tx.QueryContext(ctx, `SELECT generate_series(1, 100000000)`)
	require.NoError(t, err)
	require.True(t, rows.Next())
	cancel()
	for rows.Next() {
	}
	require.NoError(t, rows.Close())

	err = tx.Commit()
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)

	var one int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT 1`).Scan(&one))
}
