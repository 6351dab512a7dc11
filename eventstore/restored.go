package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The log's order is the server's: a message is placed by the id of the transaction that
// wrote it, and a consumer group's position is the last one it handled (consumer.go). A
// dump restored on another server keeps those ids, and that server hands out its own, from
// wherever its counter stands: on a newer server, lower than the positions restored. Every
// message written there then sorted before the positions, as if handled already, and was
// never handled, while every lag read 0 (a probe restored a backup on a new cluster: new
// orders stayed reserving_inventory for good, every health check green).
//
// So every process that opens the database checks the positions against the server
// (CheckLogPositions) and refuses to start until they are rebased (RebaseLog, run by
// `replay rebase-log` with every service stopped).

// ErrLogAhead is CheckLogPositions' refusal.
var ErrLogAhead = errors.New("the log's positions are ahead of this server's transaction ids: the database was restored from another server")

// rebaseBase is the transaction id a rebase gives every message all groups have handled:
// the first normal id (0–2 are Postgres's own).
const rebaseBase = 3

// logTable is one topic's messages table and its groups' offsets table, as the log names
// them (logSchema, logOffsets), quoted.
type logTable struct{ messages, offsets string }

// logTables lists the log's topics that order their messages by transaction id: those
// consumer groups read by offset (offsetTopics).
func logTables(ctx context.Context, q Querier) ([]logTable, error) {
	topics, err := offsetTopics(ctx, q)
	out := make([]logTable, len(topics))
	for i, topic := range topics {
		out[i] = logTable{messages: logSchema.MessagesTable(topic), offsets: logOffsets.MessagesOffsetsTable(topic)}
	}
	return out, err
}

// CheckLogPositions returns ErrLogAhead, with what to do, when a transaction id the log
// stores (a message's or a group's position) is not below the next one this server will
// hand out. Each table's newest id is one probe of its primary key.
func CheckLogPositions(ctx context.Context, q Querier) error {
	tables, err := logTables(ctx, q)
	if err != nil || len(tables) == 0 {
		return err
	}
	var newest []string
	for _, t := range tables {
		newest = append(newest,
			fmt.Sprintf(`(SELECT transaction_id FROM %s ORDER BY transaction_id DESC LIMIT 1)`, t.messages),
			fmt.Sprintf(`(SELECT max(last_processed_transaction_id) FROM %s)`, t.offsets))
	}
	var stored *string
	var next string
	var ahead bool
	err = q.QueryRow(ctx, `SELECT s::text, x::text, coalesce(s >= x, false)
		FROM greatest(`+strings.Join(newest, ", ")+`) AS s, pg_snapshot_xmax(pg_current_snapshot()) AS x`).Scan(&stored, &next, &ahead)
	if err != nil {
		return fmt.Errorf("check the log's positions: %w", err)
	}
	if ahead {
		return fmt.Errorf("%w (they reach transaction %s, this server is at %s): messages written now would never be handled; with every service stopped, run `replay rebase-log` once (docs/RELIABILITY.md, \"Backup and restore\")", ErrLogAhead, *stored, next)
	}
	return nil
}

// RebaseLog renumbers the log's transaction ids below this server's, keeping what each
// consumer group has handled and the order of what it has not, in one transaction: every
// message all groups have handled takes rebaseBase; the others, by their old id, the ids
// after it; each group's position moves with them. Nothing may write to the log meanwhile
// (the caller checks that no service is connected, and the rebase holds the lock a process
// opening the database takes): a message this server writes is not told from a restored
// one. It returns the topics rebased, and does nothing (0) when the positions are not
// ahead.
func RebaseLog(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	for {
		n, short, err := rebaseLog(ctx, pool)
		if err != nil || short == 0 {
			return n, err
		}
		// A new server may not have handed out that many ids yet: each transaction that
		// takes one moves its counter on.
		for next := int64(0); next <= short; {
			if _, err := pool.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
				return 0, err
			}
			if next, err = nextXid(ctx, pool); err != nil {
				return 0, err
			}
		}
	}
}

// nextXid is the next transaction id the server will hand out.
func nextXid(ctx context.Context, q Querier) (next int64, err error) {
	err = q.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint`).Scan(&next)
	return next, err
}

// unhandled is the condition that message m of a topic is after some group's position in
// its offsets table f.
func unhandled(m, f string) string {
	return `EXISTS (SELECT 1 FROM ` + f + ` g
		WHERE (m.transaction_id, m."offset") > (g.last_processed_transaction_id, coalesce(g.offset_acked, 0)))`
}

// rebaseLog is one try of RebaseLog: the topics rebased, or, when the server has not
// handed out the ids the rebase gives yet, the highest of them (short) and nothing done.
func rebaseLog(ctx context.Context, pool *pgxpool.Pool) (n int, short int64, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, openLock); err != nil {
		return 0, 0, fmt.Errorf("wait for the processes opening the database: %w", err)
	}
	if err := CheckLogPositions(ctx, tx); !errors.Is(err, ErrLogAhead) {
		return 0, 0, err
	}
	tables, err := logTables(ctx, tx)
	if err != nil {
		return 0, 0, err
	}
	// The ids the rebase gives: rebaseBase and one per transaction of messages some group
	// has not handled (a backlog at the dump, usually a few).
	highest := int64(rebaseBase)
	for _, t := range tables {
		m, f := t.messages, t.offsets
		var k int64
		if err := tx.QueryRow(ctx, `SELECT count(DISTINCT m.transaction_id) FROM `+m+` m WHERE `+unhandled(m, f)).Scan(&k); err != nil {
			return 0, 0, fmt.Errorf("rebase %s: %w", t.messages, err)
		}
		highest = max(highest, rebaseBase+k)
	}
	next, err := nextXid(ctx, tx)
	if err != nil {
		return 0, 0, err
	}
	if next <= highest {
		return 0, highest, nil
	}
	for _, t := range tables {
		m, f := t.messages, t.offsets
		for _, stmt := range []string{`DROP TABLE IF EXISTS pg_temp.unhandled`,
			// The ids of the messages after some group's position, ranked.
			`CREATE TEMP TABLE unhandled ON COMMIT DROP AS
				SELECT t, row_number() OVER (ORDER BY t) AS rank FROM (
					SELECT DISTINCT m.transaction_id AS t FROM ` + m + ` m WHERE ` + unhandled(m, f) + `) u`,
			`ALTER TABLE unhandled ADD PRIMARY KEY (t)`,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return 0, 0, fmt.Errorf("rebase %s: %w", t.messages, err)
			}
		}
		for _, stmt := range []string{
			// A group's position moves to the rank of its last transaction when that one has
			// unhandled messages (its offset then tells them apart), else past every message
			// handled by all and the unhandled ids below it.
			`UPDATE ` + f + ` g SET
				last_processed_transaction_id = ($1 + (SELECT count(*) FROM unhandled u WHERE u.t <= g.last_processed_transaction_id))::text::xid8,
				offset_acked = CASE WHEN EXISTS (SELECT 1 FROM unhandled u WHERE u.t = g.last_processed_transaction_id) THEN g.offset_acked
					ELSE greatest(coalesce(g.offset_acked, 0), (SELECT coalesce(max("offset"), 0) FROM ` + m + `)) END`,
			`UPDATE ` + m + ` m SET transaction_id = ($1 + coalesce((SELECT u.rank FROM unhandled u WHERE u.t = m.transaction_id), 0))::text::xid8`,
		} {
			if _, err := tx.Exec(ctx, stmt, rebaseBase); err != nil {
				return 0, 0, fmt.Errorf("rebase %s: %w", t.messages, err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("rebase the log: %w", err)
	}
	return len(tables), 0, nil
}
