package eventstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// AfterCommit's functions run once Postgres has answered that the COMMIT succeeded, and
// never for a transaction, or a savepoint, that did not: memory installs an order's state
// on that answer (orderstream.Memory).
func TestAfterCommitRunsOnlyWhenTheCommitSucceeded(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	failed := errors.New("the work failed")
	works := func(tx pgx.Tx, ran *[]string) error {
		register(t, tx, ran, "tx")
		_, err := tx.Exec(ctx, `SELECT 1`)
		return err
	}
	for _, c := range []struct {
		name      string
		pipelined bool
		work      func(tx pgx.Tx, ran *[]string) error
		want      []string
	}{
		{name: "committed", work: works, want: []string{"tx"}},
		{name: "committed, pipelined", pipelined: true, work: works, want: []string{"tx"}},
		{name: "rolled back", work: func(tx pgx.Tx, ran *[]string) error {
			return errors.Join(works(tx, ran), failed)
		}},
		{name: "a queued statement fails the COMMIT", pipelined: true, work: func(tx pgx.Tx, ran *[]string) error {
			register(t, tx, ran, "tx")
			_, err := tx.Exec(ctx, `SELECT 1/0`)
			return err
		}},
		{name: "the transaction failed before its COMMIT", work: func(tx pgx.Tx, ran *[]string) error {
			register(t, tx, ran, "tx")
			_, _ = tx.Exec(ctx, `SELECT 1/0`) // Postgres answers the COMMIT with ROLLBACK
			return nil
		}},
		{name: "savepoints", pipelined: true, work: func(tx pgx.Tx, ran *[]string) error {
			register(t, tx, ran, "before")
			require.NoError(t, pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
				register(t, sp, ran, "released")
				return nil
			}))
			require.ErrorIs(t, pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
				register(t, sp, ran, "rolled back")
				require.NoError(t, pgx.BeginFunc(ctx, sp, func(inner pgx.Tx) error {
					register(t, inner, ran, "released inside one rolled back")
					return nil
				}))
				return failed
			}), failed)
			register(t, tx, ran, "after")
			return nil
		}, want: []string{"before", "released", "after"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ran []string
			work := func(tx pgx.Tx) error { return c.work(tx, &ran) }
			var err error
			if c.pipelined {
				err = eventstore.BeginPipelinedFunc(ctx, pool, func(p *eventstore.Pipeline) error { return work(p) })
			} else {
				err = eventstore.BeginFunc(ctx, pool, work)
			}
			if c.want == nil {
				assert.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, c.want, ran)
		})
	}

	// A transaction that sent nothing committed nothing.
	var ran []string
	require.NoError(t, eventstore.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		register(t, tx, &ran, "nothing sent")
		return nil
	}))
	assert.Empty(t, ran)

	// Any other transaction cannot say: AfterCommit says so, and never runs fn.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	assert.False(t, eventstore.AfterCommit(tx, func() { t.Error("ran for a pgx transaction") }))
	require.NoError(t, tx.Commit(ctx))
}

func register(t *testing.T, tx pgx.Tx, ran *[]string, name string) {
	t.Helper()
	require.True(t, eventstore.AfterCommit(tx, func() { *ran = append(*ran, name) }))
}
