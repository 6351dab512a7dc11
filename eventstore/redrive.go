package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
)

// redriveForKey is the metadata key naming the one consumer group a re-driven message is
// for: every other group reading its topic acknowledges it without handling it.
const redriveForKey = "_ordermill_redrive_for"

// RedriveFilter chooses the dead letters to re-drive: one by its id, or every open one of
// a topic (optionally of one consumer group; with UpTo, none newer than that id: the
// newest the asker was shown). By names who asked, for the record.
type RedriveFilter struct {
	ID    int64
	Topic string
	Group string
	UpTo  int64
	By    string
}

// Redriven is a dead letter that was sent back to its consumer group.
type Redriven struct {
	ID          int64
	Topic       string
	Group       string
	MessageUUID string
}

// TxBeginner starts a transaction: *pgxpool.Pool, *pgx.Conn, or a pgx.Tx (a savepoint).
type TxBeginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Redrive sends the open dead letters f chooses back to the consumer groups that failed
// them, in one transaction: each row is marked re-driven (when, by whom; never deleted)
// and its message is published again to its topic, with the same uuid, for its group
// only (every other group skips it, see consumer.wants), so the group that failed it
// handles it once more, exactly once. A row already re-driven is not chosen again: a
// second or concurrent re-drive of the same letter finds it taken (the UPDATE's row lock
// and its re-checked WHERE) and re-drives nothing. A delayed queue's dead letter goes
// back into the queue, due at once. After the commit the topics' consumers are woken.
func Redrive(ctx context.Context, db TxBeginner, f RedriveFilter) ([]Redriven, error) {
	if f.ID == 0 && f.Topic == "" {
		return nil, errors.New("re-drive needs a dead letter's id or a topic")
	}
	if f.By == "" {
		return nil, errors.New("re-drive needs the name of who asks for it")
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin re-drive: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// One statement, so it takes only what is open when it runs; in id order, so two
	// re-drives of overlapping sets lock rows in the same order and cannot deadlock.
	rows, err := tx.Query(ctx, `
		WITH chosen AS (
			SELECT id FROM dead_letters
			WHERE redriven_at IS NULL
			  AND ($1 = 0 OR id = $1) AND (cardinality($2::text[]) = 0 OR topic = ANY($2)) AND ($3 = '' OR consumer_group = $3)
			  AND ($5 = 0 OR id <= $5)
			ORDER BY id FOR UPDATE)
		UPDATE dead_letters d SET redriven_at = now(), redriven_by = $4
		FROM chosen WHERE d.id = chosen.id AND d.redriven_at IS NULL
		RETURNING d.id, d.topic, d.consumer_group, d.message_uuid, d.payload, d.metadata`,
		f.ID, PhysicalTopics(f.Topic), f.Group, f.By, f.UpTo)
	if err != nil {
		return nil, fmt.Errorf("choose dead letters: %w", err)
	}
	type letter struct {
		Redriven
		payload, meta []byte
	}
	letters, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (letter, error) {
		var l letter
		err := r.Scan(&l.ID, &l.Topic, &l.Group, &l.MessageUUID, &l.payload, &l.meta)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("choose dead letters: %w", err)
	}
	var out []Redriven
	topics := map[string]bool{}
	for _, l := range letters {
		msg, err := redrivenMessage(l.MessageUUID, l.Group, l.payload, l.meta)
		if err != nil {
			return nil, fmt.Errorf("dead letter %d: %w", l.ID, err)
		}
		msg.SetContext(ctx)
		queue, err := isQueue(ctx, tx, l.Topic)
		if err != nil {
			return nil, err
		}
		var schema wsql.SchemaAdapter = wsql.DefaultPostgreSQLSchema{}
		if queue {
			schema = wsql.PostgreSQLQueueSchema{}
		}
		pub, err := wsql.NewPublisher(wsql.TxFromPgx(tx), wsql.PublisherConfig{SchemaAdapter: schema}, nil)
		if err != nil {
			return nil, err
		}
		if err := pub.Publish(l.Topic, msg); err != nil {
			return nil, fmt.Errorf("re-publish dead letter %d to %s: %w", l.ID, l.Topic, err)
		}
		topics[l.Topic] = true
		out = append(out, l.Redriven)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit re-drive: %w", err)
	}
	for topic := range topics {
		// A hint only: consumers also poll, so a lost one costs at most a poll interval.
		_ = wakeTopic(ctx, db, topic)
	}
	return out, nil
}

// wakeTopic tells every process's consumers of topic that it has news.
func wakeTopic(ctx context.Context, db TxBeginner, topic string) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, wakeChannel(topic), wakePayload(topic, "", ""))
		return err
	})
}

// redrivenMessage rebuilds a dead letter's message, for group only. The payload comes back
// as the JSON it was stored as (a payload that was not JSON, or held \u0000, was stored as
// a JSON string of its text, and comes back as that text).
func redrivenMessage(uuid, group string, payload, meta []byte) (*message.Message, error) {
	md := message.Metadata{}
	if len(meta) > 0 {
		if err := json.Unmarshal(meta, &md); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
	}
	delete(md, topicKey)
	delete(md, attemptKey) // a delayed message's count: the redriven one has its retries again
	md.Set(redriveForKey, group)
	if len(payload) == 0 || string(payload) == "null" {
		payload = []byte("null")
	}
	var text string
	if json.Unmarshal(payload, &text) == nil && (!json.Valid([]byte(text)) || strings.Contains(text, string(nulEscape))) {
		payload = []byte(text)
	}
	msg := message.NewMessage(uuid, payload)
	msg.Metadata = md
	return msg, nil
}

// isQueue reports whether topic is a delayed queue (watermill-sql's queue layout, no
// consumer-group offsets) rather than a log topic.
func isQueue(ctx context.Context, tx pgx.Tx, topic string) (bool, error) {
	var offsets *string
	err := tx.QueryRow(ctx, `SELECT to_regclass($1)::text`, logOffsets.MessagesOffsetsTable(topic)).Scan(&offsets)
	if err != nil {
		return false, fmt.Errorf("look up topic %s: %w", topic, err)
	}
	return offsets == nil, nil
}

// DeadLetter is one stored dead letter, for listing (its message is the dashboard's to
// show).
type DeadLetter struct {
	ID          int64
	Topic       string
	Group       string
	MessageUUID string
	Error       string
	FailedAt    time.Time
	RedrivenAt  *time.Time
	RedrivenBy  *string
}

// DeadLetters lists dead letters, newest first, at most limit of them; open only leaves
// out the ones already re-driven, topic (if not empty) keeps one topic's (a partitioned
// topic's, such as order_events, are those of its partitions: PhysicalTopics).
func DeadLetters(ctx context.Context, q Querier, topic string, open bool, limit int) ([]DeadLetter, error) {
	rows, err := q.Query(ctx, `
		SELECT id, topic, consumer_group, message_uuid, error, failed_at, redriven_at, redriven_by
		FROM dead_letters
		WHERE (cardinality($1::text[]) = 0 OR topic = ANY($1)) AND (NOT $2 OR redriven_at IS NULL)
		ORDER BY failed_at DESC, id DESC LIMIT $3`, PhysicalTopics(topic), open, limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetter])
}

// PhysicalTopics is the topics a dead letter of topic may name: a partitioned topic's
// partitions (order_events is order_events.0 … .3, which its dead letters name: an
// operator asking for order_events was told it had none open), and the topic itself (a
// partition, or a letter from before the topic was partitioned). None for "": any topic.
func PhysicalTopics(topic string) []string {
	if topic == "" {
		return []string{}
	}
	topics := Partitions(topic)
	if topics[0] != topic {
		topics = append(topics, topic)
	}
	return topics
}
