package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/eventstore/logging"
)

// Handler processes one message inside its transaction.
type Handler func(ctx context.Context, tx pgx.Tx, msg *message.Message) error

// DefaultMaxAttempts is how often a failing message is tried before it becomes a dead letter.
const DefaultMaxAttempts = 5

// transactional adapts h to Watermill for a delayed queue: each attempt runs in a
// savepoint of the subscriber's transaction (a failed attempt leaves no writes behind).
// A failed attempt is retried with backoff: the message is scheduled again on its queue,
// due after the log's backoff for its attempt (counted in its metadata, so restarts do
// not reset it), in the transaction that acks the failed copy. After maxAttempts failures
// it is stored in dead_letters and acked, so one poison message cannot stall its queue
// forever and is never silently dropped; a panic in h is such a failure. What h
// publishes wakes its consumers, and what it gives OnCommit runs, once watermill-sql has
// committed the transaction h ran in (they ran as h returned, before: a consumer woken
// then found nothing yet, and a commit that failed had been counted; a review).
func (l *Log) transactional(consumerGroup, topic string, maxAttempts int, h Handler) message.NoPublishHandlerFunc {
	var mu sync.Mutex
	attempts := map[string]int{}
	return func(msg *message.Message) error {
		started := time.Now()
		ctx, span := startHandlerSpan(msg.Context(), consumerGroup, topic, msg)
		ctx, flush := l.CollectWakeups(ctx)
		var err error
		defer func() { endSpan(span, err) }()
		guard, err := consumerTx(ctx)
		if err != nil {
			return err
		}
		err = guard.withPgx(func(outer pgx.Tx) error {
			if !guard.async {
				if err := asyncCommit(ctx, outer); err != nil {
					return err
				}
				guard.async = true
			}
			return inSavepoint(ctx, outer, func(tx pgx.Tx) error {
				return l.safely(consumerGroup, func() error { return h(ctx, tx, msg) })
			})
		})
		m := l.metrics
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			delete(attempts, msg.UUID)
			// Counted once committed, as a batch consumer counts its messages: a commit that
			// failed had counted a deadline that fired again at its redelivery (a probe).
			took := time.Since(started).Seconds()
			guard.afterCommit(func() {
				flush()
				m.handled.WithLabelValues(consumerGroup, topic, outcomeHandled).Inc()
				m.deadlines.WithLabelValues(topic, msg.Metadata.Get("name")).Inc()
				m.duration.WithLabelValues(consumerGroup, topic).Observe(took)
			})
			return nil
		}
		m.handled.WithLabelValues(consumerGroup, topic, outcomeFailed).Inc()
		attempts[msg.UUID]++
		attempt := max(attempts[msg.UUID], attemptOf(msg)+1)
		if attempt < maxAttempts {
			if ctx.Err() != nil {
				return err // stopping: the message is simply delivered again later
			}
			rerr := guard.withPgx(func(outer pgx.Tx) error {
				return reschedule(ctx, outer, topic, msg, attempt, time.Now().Add(l.backoff(attempt)))
			})
			if rerr != nil {
				return errors.Join(err, rerr) // not rescheduled: Watermill delivers it again
			}
			delete(attempts, msg.UUID)
			l.logger.Error("deadline failed; retrying after a backoff", err, messageFields(consumerGroup, topic, msg).Add(watermill.LogFields{"attempt": attempt}))
			return nil
		}
		delete(attempts, msg.UUID)
		cause := err
		err = guard.withPgx(func(outer pgx.Tx) error {
			return deadLetter(ctx, outer, consumerGroup, topic, msg, cause)
		})
		if err == nil {
			// Counted and told once stored: its line, as the batch consumers write one for
			// each of theirs (a deadline's dead letter was stored and counted, and named in
			// no line: the review), once watermill-sql has committed it.
			guard.afterCommit(func() {
				m.handled.WithLabelValues(consumerGroup, topic, outcomeDeadLettered).Inc()
				m.deadLetters.WithLabelValues(consumerGroup, topic).Inc()
				l.logger.Error(logging.DeadLettered, cause, messageFields(consumerGroup, topic, msg))
			})
		}
		return err
	}
}

// asyncCommit lets the consumer transaction commit without waiting for its WAL flush.
// This is safe here and only here: the message's offset and every effect of its handler
// commit in the same transaction, so a database crash can only lose the transaction as a
// whole, and the message is then delivered again. Requests answered to a client (HTTP)
// keep synchronous commits. Measured in docs/BENCHMARKS.md.
func asyncCommit(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off")
	return err
}

func inSavepoint(ctx context.Context, outer pgx.Tx, fn func(pgx.Tx) error) error {
	sp, err := outer.Begin(ctx)
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(sp); err != nil {
		// The rollback must happen even when ctx was cancelled mid-handler.
		if rbErr := sp.Rollback(context.WithoutCancel(ctx)); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		return err
	}
	return sp.Commit(ctx)
}

func deadLetter(ctx context.Context, tx pgx.Tx, group, topic string, msg *message.Message, cause error) error {
	meta, err := json.Marshal(msg.Metadata)
	if err != nil {
		return err
	}
	payload := msg.Payload
	if !json.Valid(payload) || bytes.Contains(payload, nulEscape) {
		// Stored as a JSON string of its text (redrivenMessage turns it back): jsonb
		// refuses \u0000, which the log's json column keeps, and a dead letter that cannot
		// be stored stalls its topic, the message tried again and again (a review).
		payload, _ = json.Marshal(string(msg.Payload))
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		topic, group, msg.UUID, payload, meta, storableText(cause.Error()))
	if err != nil {
		return fmt.Errorf("store dead letter: %w", err)
	}
	return nil
}

// nulEscape is JSON's escape of the NUL character, which jsonb refuses.
var nulEscape = []byte(`\u0000`)

// storableText is s as a text column takes it: valid UTF-8, without NUL bytes (an error
// can quote what a client sent, which a JSON string may carry as \u0000).
func storableText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", `\0`), "\uFFFD")
}

func consumerTx(ctx context.Context) (*guardedTx, error) {
	tx, ok := wsql.TxFromContext(ctx)
	if !ok {
		return nil, errors.New("message carries no transaction")
	}
	g, ok := tx.(*guardedTx)
	if !ok {
		return nil, fmt.Errorf("consumer transaction is %T, not from Log's subscriber", tx)
	}
	return g, nil
}

func pgxOf(tx wsql.Tx) (pgx.Tx, error) {
	switch t := tx.(type) {
	case *wsql.PgxTx:
		return t.Tx, nil
	case wsql.PgxTx:
		return t.Tx, nil
	}
	return nil, fmt.Errorf("consumer transaction is %T, not pgx", tx)
}

// attemptKey is the metadata key of a rescheduled delayed message: how many attempts at it
// have failed.
const attemptKey = "_ordermill_attempt"

func attemptOf(msg *message.Message) int {
	n, _ := strconv.Atoi(msg.Metadata.Get(attemptKey))
	return n
}

// reschedule publishes a copy of msg (same uuid, payload and metadata) on the delayed
// queue topic, due at at, with its failed attempts counted.
func reschedule(ctx context.Context, tx pgx.Tx, topic string, msg *message.Message, attempts int, at time.Time) error {
	m := msg.Copy()
	m.Metadata.Set(attemptKey, strconv.Itoa(attempts))
	return publishDue(ctx, tx, topic, m, at)
}
