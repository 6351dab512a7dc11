package eventstore

import (
	"context"
	stdsql "database/sql"
	"fmt"
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
	// cutOff is why reading the batch select's rows stopped early, if it did.
	cutOff error
	// committed runs once the transaction has committed (afterCommit), never if it does
	// not: the wake-ups and OnCommit hooks of the messages handled in it.
	committed []func()
}

// afterCommit runs fn once t has committed, never if it does not.
func (t *guardedTx) afterCommit(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.committed = append(t.committed, fn)
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
	rows, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return rows, err
	}
	return &selectRows{Rows: rows, tx: t}, nil
}

// Commit commits, unless the batch select's read was cut off. watermill-sql reads those
// rows without asking why they ended, so a select cancelled by the process stopping
// (pgx then closes the connection) looks to it like an empty batch, and it commits.
// That transaction can only roll back, so it is rolled back, and the read's error is
// returned: it says why, and a stop's cancelled context is then logged as one.
func (t *guardedTx) Commit() error {
	t.mu.Lock()
	committed := t.committed
	t.committed = nil
	err := t.commit()
	t.mu.Unlock()
	if err == nil {
		for _, fn := range committed {
			fn()
		}
	}
	return err
}

func (t *guardedTx) commit() error {
	if t.cutOff != nil {
		_ = t.tx.Rollback() // on a closed connection Postgres has already rolled it back
		return fmt.Errorf("batch select cut off: %w", t.cutOff)
	}
	return t.tx.Commit()
}

// selectRows are the batch select's rows; they tell their transaction when a read fails.
type selectRows struct {
	wsql.Rows
	tx *guardedTx
}

func (r *selectRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	if withErr, ok := r.Rows.(interface{ Err() error }); ok && withErr.Err() != nil {
		r.tx.mu.Lock()
		r.tx.cutOff = withErr.Err()
		r.tx.mu.Unlock()
	}
	return false
}

func (t *guardedTx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.committed = nil
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
