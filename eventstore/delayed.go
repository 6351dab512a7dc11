package eventstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/propagation"
)

// dueLayout writes due times with a fixed width in UTC, so their text order is their time
// order.
const dueLayout = "2006-01-02T15:04:05.000000000Z"

// dueKeyKey is the metadata key of a delayed message's key (Schedule, CancelDue).
const dueKeyKey = "due_key"

// Schedule publishes msg to the delayed queue topic through tx, to be delivered once at is
// past: a durable timer that survives restarts and vanishes if tx rolls back. key names
// what it is the timer of, for CancelDue.
func Schedule(ctx context.Context, tx pgx.Tx, topic string, at time.Time, key string, meta Metadata, msg Message) error {
	body, err := json.Marshal(msg.Data)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", msg.Name, err)
	}
	m := message.NewMessage(NewID(), body)
	m.Metadata.Set("name", msg.Name)
	m.Metadata.Set("correlation_id", meta.CorrelationID)
	m.Metadata.Set("causation_id", meta.CausationID)
	m.Metadata.Set(dueKeyKey, key)
	propagation.TraceContext{}.Inject(ctx, propagation.MapCarrier(m.Metadata))
	delay.Message(m, delay.Until(at))
	return publishDue(ctx, tx, topic, m, at)
}

// publishDue publishes m on the delayed queue topic through tx, due at at. watermill
// writes whole seconds, which would fire a deadline up to a second early; a fixed-width
// UTC text also sorts as time does, so the due-poll can walk an index on it.
func publishDue(ctx context.Context, tx pgx.Tx, topic string, m *message.Message, at time.Time) error {
	m.Metadata.Set(delay.DelayedUntilKey, at.UTC().Format(dueLayout))
	m.SetContext(ctx)
	pub, err := wsql.NewPublisher(wsql.TxFromPgx(tx), wsql.PublisherConfig{SchemaAdapter: wsql.PostgreSQLQueueSchema{}}, nil)
	if err != nil {
		return err
	}
	if err := pub.Publish(topic, m); err != nil {
		return fmt.Errorf("schedule on %s: %w", topic, err)
	}
	return nil
}

// CancelDue deletes, through tx, the messages of the delayed queue topic scheduled under
// key that are not being handled: a timer whose wait has ended would otherwise stay until
// it falls due (a week for a delivery) and then cost a transaction that does nothing. A
// message a consumer has locked is skipped, never waited for: that consumer handles it
// (its handler decides on what tx committed) and deletes it, and a transaction that holds
// locks its handler needs cannot deadlock with it. Under a Pipeline the delete is queued
// with the rest of tx's writes.
func CancelDue(ctx context.Context, tx pgx.Tx, topic, key string) error {
	table := wsql.PostgreSQLQueueSchema{}.MessagesTable(topic)
	_, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %[1]s WHERE "offset" IN (
		SELECT "offset" FROM %[1]s WHERE metadata->>'%[2]s' = $1 FOR UPDATE SKIP LOCKED)`, table, dueKeyKey), key)
	if err != nil {
		return fmt.Errorf("cancel %s on %s: %w", key, topic, err)
	}
	return nil
}

// ConsumeDue registers h on router for the delayed queue topic: each message is handled
// once, after its time has come, by whichever replica takes it first (rows are locked
// with FOR UPDATE: a second replica waits for the first's rows, then finds them gone, so
// replicas take turns at the queue rather than work it in parallel). Handled messages
// are deleted.
func (l *Log) ConsumeDue(router *message.Router, name, topic string, h Handler, opts ...ConsumeOption) error {
	o := consumeOptions{batchSize: l.cfg.BatchSize}
	for _, opt := range opts {
		opt(&o)
	}
	// Only due messages, found through the index on the due time and bounded by the batch
	// size: a poll costs the same with a million deadlines pending a week ahead as with
	// none. (Comparing the text keeps the index usable; casting it to timestamptz would not.)
	dueKey := fmt.Sprintf("(metadata->>'%s')", delay.DelayedUntilKey)
	table := wsql.PostgreSQLQueueSchema{}.MessagesTable(topic)
	where := func(wsql.GenerateWhereClauseParams) (string, []any) {
		return fmt.Sprintf(`"offset" IN (SELECT "offset" FROM %s WHERE NOT acked AND %s < $1 ORDER BY %s LIMIT %d)`,
			table, dueKey, dueKey, o.batchSize), []any{time.Now().UTC().Format(dueLayout)}
	}
	sub, err := wsql.NewSubscriber(guardedBeginner{wsql.BeginnerFromPgx(l.pool)}, wsql.SubscriberConfig{
		SchemaAdapter: readCommittedQueue{wsql.PostgreSQLQueueSchema{
			GenerateWhereClause: where,
			SubscribeBatchSize:  o.batchSize,
		}},
		OffsetsAdapter: wsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true},
		PollInterval:   l.cfg.DuePollInterval,
		ResendInterval: 20 * time.Millisecond,
		RetryInterval:  100 * time.Millisecond,
	}, l.logger)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.queues = append(l.queues, groupTopic{name, topic})
	l.mu.Unlock()
	l.metrics.register(name, topic)
	router.AddConsumerHandler(name, topic, sub, l.transactional(name, topic, DefaultMaxAttempts, h))
	return nil
}

// readCommittedQueue runs the queue's transactions at READ COMMITTED instead of
// watermill's REPEATABLE READ: a handler that meets a concurrent write (a version
// conflict) can then retry within the same transaction and see the newer data instead of
// its stale snapshot. The select itself is one statement, so its view stays consistent.
type readCommittedQueue struct {
	wsql.PostgreSQLQueueSchema
}

func (readCommittedQueue) SubscribeIsolationLevel() sql.IsolationLevel {
	return sql.LevelReadCommitted
}
