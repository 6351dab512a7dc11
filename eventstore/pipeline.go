package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Pipeline is a transaction whose writes travel together. Exec queues its statement and
// returns at once; appends queue theirs too. Everything queued goes to Postgres in one
// round trip (a pgx.Batch) when the pipeline flushes: on Flush, and before anything that
// needs an answer (Query, QueryRow, a savepoint, Commit), so a read always sees the
// writes queued before it. The saga's batch consumer runs its whole batch through one:
// the effects of all its messages (appends, commands, deadlines, emails, saga states)
// then cost one round trip instead of one each.
//
// A queued statement's error surfaces at the flush, as the error of that flush; the
// transaction is then aborted as it would have been, so a caller that checks Flush's error
// (and Commit's) misses nothing. Exec returns an empty command tag: callers that need the
// rows affected must use Query.
type Pipeline struct {
	pgx.Tx
	batch  *pgx.Batch
	checks []func(pgx.BatchResults) error // one per queued statement, in order
	// appends holds, per messages table, the last append queued on it since the last
	// flush, with its statement's place in batch: the next append of the same stream
	// joins it (queueAppend).
	appends map[string]queuedAt
}

// queuedAt is an append queued on a pipeline and where its statement is in the batch.
type queuedAt struct {
	*queuedAppend
	index int
}

// Pipelined wraps tx; a tx that already is a Pipeline is returned as it is.
func Pipelined(tx pgx.Tx) *Pipeline {
	if p, ok := tx.(*Pipeline); ok {
		return p
	}
	return &Pipeline{Tx: tx, batch: &pgx.Batch{}}
}

// Queues reports whether tx queues its writes (a Pipeline, as a QueueWrites consumer
// hands its handler): an Exec then returns an empty command tag, and a write's outcome is
// known only when the pipeline flushes. A handler whose check of a command tag guards
// against a concurrent writer leaves that check, under a pipeline, to a write that fails
// (an append's expected version, a unique key): the batch then fails and comes again.
func Queues(tx pgx.Tx) bool {
	_, ok := tx.(*Pipeline)
	return ok
}

// Exec queues sql.
func (p *Pipeline) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	p.queue(sql, args, func(br pgx.BatchResults) error {
		_, err := br.Exec()
		return err
	})
	return pgconn.CommandTag{}, nil
}

// QueueBatch queues b's statements to go with the pipeline's next flush, each read by
// the callback it was queued with (pgx.QueuedQuery's Exec, Query or QueryRow), or as an
// Exec when it has none.
func (p *Pipeline) QueueBatch(b *pgx.Batch) {
	for _, qq := range b.QueuedQueries {
		read := qq.Fn
		p.queue(qq.SQL, qq.Arguments, func(br pgx.BatchResults) error {
			if read == nil {
				_, err := br.Exec()
				return err
			}
			return read(br)
		})
	}
}

// queueAppend queues a, or joins it to the append queued last on its stream's messages
// table when that is the same stream's, just before a in its versions: one statement then
// stores both. The saga's steps append to an order one after another in one transaction
// (a webhook's event, then what the saga decides on it), and a statement of four inserts
// costs more to start than to run. Only the last append on the table can be joined, so
// every topic still receives its messages in the order they were appended.
func (p *Pipeline) queueAppend(a *queuedAppend) {
	if last, ok := p.appends[a.table]; ok && last.joins(a) {
		last.join(a)
		p.batch.QueuedQueries[last.index].Arguments = last.args()
		return
	}
	if p.appends == nil {
		p.appends = make(map[string]queuedAt)
	}
	p.appends[a.table] = queuedAt{a, len(p.checks)}
	p.queueRows(appendSQL(a.table), a.args(), a.read)
}

// queue adds sql to the pipeline; check reads its result when the pipeline flushes.
func (p *Pipeline) queue(sql string, args []any, check func(pgx.BatchResults) error) {
	p.batch.Queue(sql, args...)
	p.checks = append(p.checks, check)
}

// queueRows queues a statement whose result check reads at the flush: its rows, and the
// statement's error, whether Postgres sent it before the rows or after them.
func (p *Pipeline) queueRows(sql string, args []any, check func(read func(dest ...any) (bool, error)) error) {
	p.queue(sql, args, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return check(func(...any) (bool, error) { return false, err })
		}
		defer rows.Close()
		return check(func(dest ...any) (bool, error) {
			if rows.Next() {
				return true, rows.Scan(dest...)
			}
			return false, rows.Err()
		})
	})
}

// Flush sends every queued statement in one round trip and returns the first error.
func (p *Pipeline) Flush(ctx context.Context) error {
	if len(p.checks) == 0 {
		return nil
	}
	batch, checks := p.batch, p.checks
	p.batch, p.checks, p.appends = &pgx.Batch{}, nil, nil
	br := p.Tx.SendBatch(ctx, batch)
	var first error
	for _, check := range checks {
		if err := check(br); err != nil && first == nil {
			first = err
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
	}
	if first != nil {
		return fmt.Errorf("pipelined statements: %w", first)
	}
	return nil
}

// Query flushes, then queries.
func (p *Pipeline) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := p.Flush(ctx); err != nil {
		return nil, err
	}
	return p.Tx.Query(ctx, sql, args...)
}

// QueryRow flushes, then queries.
func (p *Pipeline) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := p.Flush(ctx); err != nil {
		return errRow{err}
	}
	return p.Tx.QueryRow(ctx, sql, args...)
}

// SendBatch flushes, then sends b; if the flush failed, b is not sent, and its results
// are the flush's error. (The error was dropped on the word that the transaction was
// aborted, which holds for Postgres's errors but not for a queued read's own, a scan
// that failed: the transaction went on, and committed, without it. A review.)
func (p *Pipeline) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := p.Flush(ctx); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return p.Tx.SendBatch(ctx, b)
}

// CopyFrom flushes, then copies.
func (p *Pipeline) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := p.Flush(ctx); err != nil {
		return 0, err
	}
	return p.Tx.CopyFrom(ctx, table, columns, src)
}

// Begin flushes, then starts a savepoint (a plain transaction, not pipelined).
func (p *Pipeline) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := p.Flush(ctx); err != nil {
		return nil, err
	}
	return p.Tx.Begin(ctx)
}

// Commit flushes, then commits. On a consumer's own transaction (connTx) the COMMIT goes
// with what is queued, in the same round trip.
func (p *Pipeline) Commit(ctx context.Context) error {
	ct, ok := p.Tx.(*connTx)
	if !ok {
		if err := p.Flush(ctx); err != nil {
			return err
		}
		return p.Tx.Commit(ctx)
	}
	if ct.closed {
		return pgx.ErrTxClosed
	}
	p.queue("COMMIT", nil, func(br pgx.BatchResults) error { return commitOutcome(br.Exec()) })
	if err := p.Flush(ctx); err != nil {
		// A queued statement failed, and Postgres skipped the rest, COMMIT included.
		return errors.Join(err, ct.Rollback(context.WithoutCancel(ctx)))
	}
	return ct.commitDone(nil)
}

// Rollback drops what is queued and rolls back.
func (p *Pipeline) Rollback(ctx context.Context) error {
	p.batch, p.checks, p.appends = &pgx.Batch{}, nil, nil
	return p.Tx.Rollback(ctx)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
