package eventstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Offset is a place in one topic of the log: the transaction id and offset of a message,
// the order in which watermill-sql delivers a topic. A consumer group's offset is the
// place of the last message it consumed; the zero Offset is before the first message.
type Offset struct {
	TxID   uint64 `json:"txid"`
	Offset int64  `json:"offset"`
}

// Less reports whether o comes before p in the topic.
func (o Offset) Less(p Offset) bool {
	return o.TxID < p.TxID || o.TxID == p.TxID && o.Offset < p.Offset
}

// Execer runs a statement: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

var (
	logSchema  wsql.DefaultPostgreSQLSchema
	logOffsets wsql.DefaultPostgreSQLOffsetsAdapter
)

// ReadLog hands fn the messages of topic after `after`, in delivery order, at most limit
// of them, and only those a consumer may already take (every older transaction has ended,
// watermill-sql's rule, so none can appear behind them later); with a non-zero until,
// none after it. The payload fn receives is valid only during the call. ReadLog takes no
// lock and writes nothing, so it holds back no consumer of the log. It returns how many
// messages it read: fewer than limit means it reached the end of what is readable.
// A re-driven copy of a message (see Redrive) is a second delivery, not history: fn gets
// it with a nil payload, to move its cursor past it and fold nothing.
func ReadLog(ctx context.Context, q Querier, topic string, after, until Offset, limit int, fn func(at Offset, payload []byte) error) (int, error) {
	return readLog(ctx, q, topic, after, until, limit, true, fn)
}

// ReadCommitted is ReadLog without the consumer's rule: it also hands over messages
// committed after younger ones, which a consumer may not take yet, and so sees everything
// committed in q's snapshot.
func ReadCommitted(ctx context.Context, q Querier, topic string, after Offset, limit int, fn func(at Offset, payload []byte) error) (int, error) {
	return readLog(ctx, q, topic, after, Offset{}, limit, false, fn)
}

func readLog(ctx context.Context, q Querier, topic string, after, until Offset, limit int, ready bool, fn func(at Offset, payload []byte) error) (int, error) {
	if until == (Offset{}) {
		until = Offset{TxID: 1<<64 - 1, Offset: 1<<63 - 1}
	}
	readable := ""
	if ready {
		readable = `AND m.transaction_id < pg_snapshot_xmin(pg_current_snapshot())`
	}
	rows, err := q.Query(ctx, `
		SELECT m.transaction_id, m."offset", m.payload, m.metadata->>'`+redriveForKey+`' IS NOT NULL FROM `+logSchema.MessagesTable(topic)+` m
		WHERE (m.transaction_id, m."offset") > ($1::xid8, $2)
		  AND (m.transaction_id, m."offset") <= ($3::xid8, $4) `+readable+`
		ORDER BY m.transaction_id, m."offset" LIMIT $5`, after.TxID, after.Offset, until.TxID, until.Offset, limit)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", topic, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var at Offset
		var payload []byte
		var redriven bool
		if err := rows.Scan(&at.TxID, &at.Offset, &payload, &redriven); err != nil {
			return n, fmt.Errorf("read %s: %w", topic, err)
		}
		if redriven {
			payload = nil
		}
		if err := fn(at, payload); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read %s: %w", topic, err)
	}
	return n, nil
}

// Head returns the place of the last message committed to topic, readable yet or not
// (the zero Offset when there is none).
func Head(ctx context.Context, q Querier, topic string) (Offset, error) {
	var o Offset
	err := q.QueryRow(ctx, `SELECT m.transaction_id, m."offset" FROM `+logSchema.MessagesTable(topic)+` m
		ORDER BY m.transaction_id DESC, m."offset" DESC LIMIT 1`).Scan(&o.TxID, &o.Offset)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return o, fmt.Errorf("head of %s: %w", topic, err)
	}
	return o, nil
}

// Backlog counts the messages of topic after `after`, readable yet or not.
func Backlog(ctx context.Context, q Querier, topic string, after Offset) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, `SELECT count(*) FROM `+logSchema.MessagesTable(topic)+`
		WHERE (transaction_id, "offset") > ($1::xid8, $2)`, after.TxID, after.Offset).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", topic, err)
	}
	return n, nil
}

// PrepareGroup gives group an offset row in each topic, at the start when it has none, as
// watermill-sql's subscriber does before it subscribes.
func PrepareGroup(ctx context.Context, db Execer, group string, topics ...string) error {
	for _, topic := range topics {
		queries, err := logOffsets.BeforeSubscribingQueries(wsql.BeforeSubscribingQueriesParams{Topic: topic, ConsumerGroup: group})
		if err != nil {
			return err
		}
		for _, q := range queries {
			if _, err := db.Exec(ctx, q.Query, q.Args...); err != nil {
				return fmt.Errorf("prepare %s on %s: %w", group, topic, err)
			}
		}
	}
	return nil
}

// offsetLockSQL takes a consumer group's lock on a topic (offsetLockKey), held until the
// transaction ends: a consumer holds it while it takes a batch, so replicas take turns.
// watermill-sql's subscriber locks the group's offset row FOR UPDATE instead; but a row
// lock takes a transaction id, and a message of the log becomes visible only once every
// transaction with an older id has ended, so every batch held back every topic's new
// messages from its first statement to its commit (about 15 ms under load; half the
// consumers' looks found a message committed but not yet visible). An advisory lock
// writes nothing: a batch takes its id with its writes, in its last round trip.
const offsetLockSQL = `SELECT true FROM ` + offsetLock

// offsetLock is offsetLockSQL's lock, $1 its key, for a statement that does more.
const offsetLock = `pg_advisory_xact_lock(hashtextextended($1, 0))`

func offsetLockKey(topic, group string) string {
	return "watermill_offsets:" + topic + ":" + group
}

// unlockedOffsets is watermill-sql's offsets adapter with its offset read not locking the
// row: the consumer takes the lock first (takeTurnSQL), then reads the offset the last
// holder committed (READ COMMITTED takes each statement's snapshot when it starts).
type unlockedOffsets struct {
	wsql.DefaultPostgreSQLOffsetsAdapter
}

func (a unlockedOffsets) NextOffsetQuery(params wsql.NextOffsetQueryParams) (wsql.Query, error) {
	return wsql.Query{
		Query: `SELECT offset_acked, last_processed_transaction_id FROM ` + a.MessagesOffsetsTable(params.Topic) + ` WHERE consumer_group = $1`,
		Args:  []any{params.ConsumerGroup},
	}, nil
}

// GroupOffsets reads where group stands in each topic (the zero Offset where it has not
// consumed anything). With lock, it takes the group's lock on each topic, in topic order,
// as its consumers take it for a batch (offsetLockSQL): until tx ends, the group consumes
// nothing there. It also locks the offset rows, so that under REPEATABLE READ an offset
// moved since tx's snapshot fails the read instead of returning the old one.
func GroupOffsets(ctx context.Context, q Querier, group string, topics []string, lock bool) (map[string]Offset, error) {
	sorted := slices.Sorted(slices.Values(topics))
	out := make(map[string]Offset, len(topics))
	for _, topic := range sorted {
		query := `SELECT last_processed_transaction_id, coalesce(offset_acked, 0) FROM ` +
			logOffsets.MessagesOffsetsTable(topic) + ` WHERE consumer_group = $1`
		if lock {
			var locked bool
			if err := q.QueryRow(ctx, offsetLockSQL, offsetLockKey(topic, group)).Scan(&locked); err != nil {
				return nil, fmt.Errorf("lock %s on %s: %w", group, topic, err)
			}
			query += ` FOR UPDATE`
		}
		var o Offset
		err := q.QueryRow(ctx, query, group).Scan(&o.TxID, &o.Offset)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("offset of %s on %s: %w", group, topic, err)
		}
		out[topic] = o
	}
	return out, nil
}

// SetGroupOffset moves group to o in topic, through tx: the group's consumers go on with
// the message after o.
func SetGroupOffset(ctx context.Context, tx pgx.Tx, group, topic string, o Offset) error {
	_, err := tx.Exec(ctx, `INSERT INTO `+logOffsets.MessagesOffsetsTable(topic)+` (consumer_group, offset_acked, last_processed_transaction_id)
		VALUES ($1, $2, $3::xid8)
		ON CONFLICT (consumer_group) DO UPDATE SET offset_acked = excluded.offset_acked,
			last_processed_transaction_id = excluded.last_processed_transaction_id`, group, o.Offset, o.TxID)
	if err != nil {
		return fmt.Errorf("move %s on %s: %w", group, topic, err)
	}
	return nil
}
