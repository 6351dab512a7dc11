package eventstore

import (
	"context"
	stdsql "database/sql"
	"sync"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
)

// guardedBeginner hands watermill-sql transactions that a handler and the subscriber can
// never use at the same moment. watermill-sql stops waiting for an in-flight message when
// its subscriber closes and goes on to ack and commit on its own goroutine while the handler
// may still be talking to the same pgx connection, which is not safe for concurrent use.
// With the guard the commit waits for the handler's savepoint to finish; a message cut off
// this way is redelivered later, and handlers are written to be idempotent for that case.
type guardedBeginner struct {
	wsql.Beginner
}

func (b guardedBeginner) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (wsql.Tx, error) {
	tx, err := b.Beginner.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &guardedTx{tx: tx}, nil
}

// guardedTx serialises every use of one consumer transaction.
type guardedTx struct {
	mu sync.Mutex
	tx wsql.Tx
	// async records that synchronous_commit is already off for this transaction.
	async bool
}

func (t *guardedTx) ExecContext(ctx context.Context, query string, args ...any) (wsql.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tx.ExecContext(ctx, query, args...)
}

// QueryContext is used only for the batch select, whose rows are read before any handler
// runs, so holding the lock for the call alone is enough.
func (t *guardedTx) QueryContext(ctx context.Context, query string, args ...any) (wsql.Rows, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *guardedTx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tx.Commit()
}

func (t *guardedTx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tx.Rollback()
}

// withPgx runs fn with the underlying pgx transaction while holding the guard.
func (t *guardedTx) withPgx(fn func(pgx.Tx) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	inner, err := pgxOf(t.tx)
	if err != nil {
		return err
	}
	return fn(inner)
}
