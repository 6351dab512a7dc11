package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// connTx is a transaction a batch consumer began itself on a pooled connection, so that
// its BEGIN travels in one round trip with the select of the batch, and its COMMIT with
// the offset and, for a pipelined handler, every queued write (Pipeline.Commit). pgx's own
// transactions send BEGIN and COMMIT each on their own. It is a pgx.Tx like any other for
// the handler: savepoints, batches, copies. Large objects are not supported.
type connTx struct {
	conn       *pgxpool.Conn
	closed     bool
	savepoints int      // savepoints taken so far, to name the next one
	begin      string   // the BEGIN not sent yet (BeginFunc): it goes with the first statement
	committed  []func() // AfterCommit's functions, run once Postgres has answered COMMIT
}

// AfterCommit runs fn once tx's transaction has committed, and reports whether it will:
// tx must be a transaction Ordermill began itself (BeginFunc, BeginPipelinedFunc, a
// batch consumer's), or a savepoint or Pipeline of one; for any other, fn never runs.
// Unlike OnCommit, which runs when the work is over, fn runs only on Postgres's answer
// that the COMMIT succeeded, so it may act on what the transaction wrote being the
// database's: never after a rollback, a failed COMMIT, or one whose answer was lost, and
// never for work in a savepoint rolled back. A savepoint released keeps its functions for
// the transaction's commit. A transaction that sent nothing commits nothing, and runs
// none.
//
// A savepoint drops the functions given after it was taken, so what was given before
// must have run before it: a Pipeline flushes before it takes one (Pipeline.Begin), and
// nothing takes one on the transaction under a Pipeline that still holds queued writes.
func AfterCommit(tx pgx.Tx, fn func()) bool {
	for {
		switch t := tx.(type) {
		case *connTx:
			if t.closed {
				return false
			}
			t.committed = append(t.committed, fn)
			return true
		case *savepointTx:
			if t.closed {
				return false
			}
			tx = t.connTx
		case *Pipeline:
			tx = t.Tx
		default:
			return false
		}
	}
}

// commitDone closes t after its COMMIT was answered with err (commitOutcome's), and runs
// its AfterCommit functions if it committed.
func (t *connTx) commitDone(err error) error {
	committed := t.committed
	t.release()
	if err == nil {
		for _, fn := range committed {
			fn()
		}
	}
	return err
}

// BeginFunc runs fn in a transaction on a connection of pool and commits it, or rolls it
// back when fn fails or panics, as pgx.BeginFunc does; but its BEGIN is not a round trip
// of its own. It travels with the transaction's first statement: a batch (a saga's lock
// and reads, a pipeline's flush), an Exec or a QueryRow. Before any other first use (a
// Query, a savepoint, a copy) it is sent alone, as pgx would.
func BeginFunc(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return inTx(ctx, pool, false, fn)
}

// BeginPipelinedFunc is BeginFunc with fn's transaction a Pipeline: what fn leaves queued
// goes to Postgres with the COMMIT, in one round trip (Pipeline.Commit). A queued
// statement that fails then fails the commit, with Postgres's error: the transaction is
// rolled back whole.
func BeginPipelinedFunc(ctx context.Context, pool *pgxpool.Pool, fn func(*Pipeline) error) error {
	return inTx(ctx, pool, true, func(tx pgx.Tx) error { return fn(tx.(*Pipeline)) })
}

// inTx runs fn in a transaction on a connection of pool, pipelined or not, and commits
// it, or rolls it back when fn fails or panics.
func inTx(ctx context.Context, pool *pgxpool.Pool, pipelined bool, fn func(pgx.Tx) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	ct := &connTx{conn: conn, begin: "BEGIN"}
	var tx pgx.Tx = ct
	if pipelined {
		tx = Pipelined(ct)
	}
	defer func() {
		if !ct.closed {
			_ = ct.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// started sends the BEGIN not sent yet, alone.
func (t *connTx) started(ctx context.Context) error {
	if t.begin == "" {
		return nil
	}
	if _, err := t.conn.Exec(ctx, t.begin); err != nil {
		return err
	}
	t.begin = ""
	return nil
}

// withBegin is b with the BEGIN not sent yet in front, and whether there was one.
func (t *connTx) withBegin(b *pgx.Batch) (*pgx.Batch, bool) {
	if t.begin == "" {
		return b, false
	}
	begin := t.begin
	t.begin = ""
	return &pgx.Batch{QueuedQueries: append([]*pgx.QueuedQuery{{SQL: begin}}, b.QueuedQueries...)}, true
}

// beginWith begins a transaction on a connection of pool and runs b right after the BEGIN,
// in the same round trip; read reads b's results. On any error the transaction is rolled
// back and the connection returned.
func beginWith(ctx context.Context, pool *pgxpool.Pool, begin string, b *pgx.Batch, read func(pgx.BatchResults) error) (*connTx, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx := &connTx{conn: conn, begin: begin}
	br := tx.SendBatch(ctx, b) // the BEGIN goes in front (withBegin)
	err = read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, errors.Join(err, tx.Rollback(context.WithoutCancel(ctx)))
	}
	return tx, nil
}

// release returns the connection to the pool, which closes it if it is still inside a
// transaction (a COMMIT that never reached the server), and drops the AfterCommit
// functions: whoever runs them took them first (commitDone).
func (t *connTx) release() {
	t.committed = nil
	if !t.closed {
		t.closed = true
		t.conn.Release()
	}
}

func (t *connTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	if err := t.started(ctx); err != nil {
		return nil, err
	}
	t.savepoints++
	sp := &savepointTx{connTx: t, name: fmt.Sprintf("sp_%d", t.savepoints), given: len(t.committed)}
	if _, err := t.conn.Exec(ctx, "SAVEPOINT "+sp.name); err != nil {
		return nil, err
	}
	return sp, nil
}

func (t *connTx) Commit(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if t.begin != "" { // nothing was sent: nothing to commit
		t.release()
		return nil
	}
	tag, err := t.conn.Exec(ctx, "COMMIT")
	return t.commitDone(commitOutcome(tag, err))
}

// commitOutcome reads COMMIT's answer: Postgres answers ROLLBACK when the transaction had
// already failed.
func commitOutcome(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return err
}

func (t *connTx) Rollback(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if t.begin != "" { // nothing was sent: nothing to roll back
		t.release()
		return nil
	}
	_, err := t.conn.Exec(ctx, "ROLLBACK")
	t.release()
	return err
}

func (t *connTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.started(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

func (t *connTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	b, begun := t.withBegin(b)
	br := t.conn.SendBatch(ctx, b)
	if begun {
		if _, err := br.Exec(); err != nil {
			return failedBatch{BatchResults: br, err: err}
		}
	}
	return br
}

// failedBatch is a batch whose BEGIN failed: every statement fails with it.
type failedBatch struct {
	pgx.BatchResults
	err error
}

func (f failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f failedBatch) Query() (pgx.Rows, error)         { return errRows{f.err}, f.err }
func (f failedBatch) QueryRow() pgx.Row                { return errRow{f.err} }
func (f failedBatch) Close() error {
	_ = f.BatchResults.Close()
	return f.err
}

// errRows is the rows of a statement that failed before it was sent. pgx's callbacks
// (QueuedQuery.Query) close the rows whatever the error, so they must not be nil.
type errRows struct{ err error }

func (errRows) Close()                                       {}
func (r errRows) Err() error                                 { return r.err }
func (errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (errRows) Next() bool                                   { return false }
func (r errRows) Scan(...any) error                          { return r.err }
func (r errRows) Values() ([]any, error)                     { return nil, r.err }
func (errRows) RawValues() [][]byte                          { return nil }
func (errRows) Conn() *pgx.Conn                              { return nil }
func (errRows) TypeMap() *pgtype.Map                         { return nil }

// LargeObjects is not supported: nothing in Ordermill stores large objects.
func (t *connTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *connTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Conn().Prepare(ctx, name, sql)
}

func (t *connTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.begin == "" {
		return t.conn.Exec(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := t.SendBatch(ctx, b)
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *connTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.started(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

func (t *connTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.begin == "" {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return batchRow{br: t.SendBatch(ctx, b)}
}

// batchRow is the one row of a batch's one statement; scanning it closes the batch.
type batchRow struct{ br pgx.BatchResults }

func (r batchRow) Scan(dest ...any) error {
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

func (t *connTx) Conn() *pgx.Conn { return t.conn.Conn() }

// savepointTx is a savepoint of a connTx: Commit releases it, Rollback rolls back to it,
// and drops the AfterCommit functions given since it was taken.
type savepointTx struct {
	*connTx
	name   string
	closed bool
	given  int // how many AfterCommit functions the transaction had been given when it was taken
}

func (s *savepointTx) Commit(ctx context.Context) error {
	if s.closed {
		return pgx.ErrTxClosed
	}
	s.closed = true
	_, err := s.conn.Exec(ctx, "RELEASE SAVEPOINT "+s.name)
	return err
}

func (s *savepointTx) Rollback(ctx context.Context) error {
	if s.closed {
		return pgx.ErrTxClosed
	}
	s.closed = true
	if len(s.connTx.committed) > s.given {
		s.connTx.committed = s.connTx.committed[:s.given]
	}
	_, err := s.conn.Exec(ctx, "ROLLBACK TO SAVEPOINT "+s.name)
	return err
}
