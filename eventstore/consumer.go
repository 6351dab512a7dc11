package eventstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/eventstore/logging"
)

// BatchHandler handles a batch of messages, in log order, inside the consumer's
// transaction: a handler that folds many messages into one statement (a projection
// upserting a hundred rows at once, the saga locking all of a batch's orders in one
// query) pays one round trip for the lot instead of one per message.
type BatchHandler func(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error

// PerMessage adapts a handler of one message to a BatchHandler: each message gets its own
// consumer span, continuing the trace it carries.
func PerMessage(group string, h Handler) BatchHandler {
	return func(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
		for _, msg := range msgs {
			mctx, span := startHandlerSpan(ctx, group, msg.Metadata.Get(topicKey), msg)
			err := h(mctx, tx, msg)
			endSpan(span, err)
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// ReadFirst is PerMessage for handlers that each read rows before deciding: read takes
// the whole batch and reads, in one round trip, what all of its messages need; h then
// handles each message with it, and keeps it up to date as it writes. On a pipeline
// (QueueWrites) the batch is then BEGIN, that read and the writes with COMMIT, where a
// read of each message's own would flush the previous one's writes and cost two round
// trips a message. A message retried on its own after a failed batch gets a read of its
// own, as a batch of one.
func ReadFirst[K any](group string, read func(ctx context.Context, tx pgx.Tx, msgs []*message.Message) (K, error), h func(ctx context.Context, tx pgx.Tx, msg *message.Message, known K) error) BatchHandler {
	return func(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
		known, err := read(ctx, tx, msgs)
		if err != nil {
			return err
		}
		return PerMessage(group, func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
			return h(ctx, tx, msg, known)
		})(ctx, tx, msgs)
	}
}

// KeysOf returns key(c) for each message of msgs named name, decoded as a C: what a
// ReadFirst read looks up. A message that does not decode is left out, for its handler to
// report.
func KeysOf[C any](msgs []*message.Message, name string, key func(C) string) []string {
	var keys []string
	for _, msg := range msgs {
		var c C
		if msg.Metadata.Get("name") == name && Decode(msg, &c) == nil {
			keys = append(keys, key(c))
		}
	}
	return keys
}

// ReadByKey reads the rows of query (which must end where `WHERE <column> = ANY($1)` can
// follow) for keys, scanning each into a T through fields, and returns them by key(T);
// a key without a row maps to nil, so a caller can tell "read, none" from "not read"
// (absent). In the same round trip it reads the version each key's stream (stream(key))
// has reached, 0 for a stream without events: a command that records the first of its
// kind on a stream (a session, a shipment) appends after what the stream holds already,
// a refusal of an earlier command (AppendFirst), where at version 0 it met that refusal
// at every try. The versions are read first: a row a concurrent writer commits
// meanwhile is then found by the rows' read, or its event is past the version read, and
// the caller's append conflicts with it.
func ReadByKey[T any](ctx context.Context, q Batcher, query, column string, keys []string, fields func(*T) []any, key func(*T) string, stream func(key string) string) (map[string]*T, map[string]int, error) {
	found := make(map[string]*T, len(keys))
	versions := make(map[string]int, len(keys))
	if len(keys) == 0 {
		return found, versions, nil
	}
	streams := make([]string, len(keys))
	for i, k := range keys {
		found[k] = nil
		streams[i] = stream(k)
	}
	b := &pgx.Batch{}
	b.Queue(versionsSQL, keys, streams).Query(func(rows pgx.Rows) error {
		var k string
		var v int
		_, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error {
			versions[k] = v
			return nil
		})
		return err
	})
	b.Queue(query+` WHERE `+column+` = ANY($1)`, keys).Query(func(rows pgx.Rows) error {
		var row T
		_, err := pgx.ForEachRow(rows, fields(&row), func() error {
			r := row
			found[key(&r)] = &r
			return nil
		})
		return err
	})
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, err
	}
	return found, versions, nil
}

// versionsSQL is the version the stream $2[i] of each key $1[i] has reached, 0 for one
// without events: a probe of the events' (stream_id, stream_version) index a key.
const versionsSQL = `
	SELECT k.key, coalesce((SELECT max(e.stream_version) FROM events e WHERE e.stream_id = k.stream), 0)
	FROM unnest($1::text[], $2::text[]) AS k(key, stream)`

// topicKey is the metadata key under which a consumer records the physical topic a
// message was read from, for spans and dead letters.
const topicKey = "_ordermill_topic"

// consumer reads one or more topics (tables of the log) as one consumer group, one
// transaction per batch: select the batch after the group's offset (under the group's
// lock on the topic, so replicas take turns: see offsetLockSQL), hand it to the handler
// whole, store the new offset and commit. It is built from watermill-sql's own schema and
// offsets adapters, so the table layout, offsets and visibility rule (transaction_id below
// the snapshot's xmin) are exactly watermill-sql's; what it adds is handing the handler
// the whole batch.
//
// A failing batch is rolled back and its messages are retried one by one, each in its own
// savepoint: messages before a failing one are committed, the failing one is retried on
// the next round, and after maxAttempts it goes to the dead letters so it cannot stall
// the topic. The topics of one consumer are read in turn by one goroutine; consumers that
// share a group name (the saga's, one per topic it reads) run side by side, and what
// keeps their transactions from deadlocking is the order in which they take their locks
// (docs/ARCHITECTURE.md, "Deadlock-free by construction").
type consumer struct {
	log         *Log
	group       string
	topics      []string
	handle      BatchHandler
	opts        consumeOptions
	schema      wsql.DefaultPostgreSQLSchema
	offsets     unlockedOffsets
	maxAttempts int

	attempts map[string]failures // per message uuid, until it succeeds or is dead-lettered
	isolate  map[string]bool     // the topic's last batch failed: take its next one message by message
	dead     []string            // uuids dead-lettered in the batch being handled
	// deadLines are their log lines, written once the batch commits: a dead letter whose
	// row did not commit (its insert refused) was logged as stored, while no list, page
	// or metric showed one (a probe).
	deadLines []deadLine
	// retryAt holds back a topic whose first message failed until its backoff has passed;
	// the group's other topics go on meanwhile.
	retryAt map[string]time.Time
	// visibleAfter holds the topics whose last batch's commit found a message visible
	// after it: the next batch of such a topic needs no peek of its own.
	visibleAfter map[string]bool
	errors       int // batches failed in a row (the database not answering, say)
}

// nextRetry is how long until the first topic held back by a failed message may be tried
// again; 0 if none is held back.
func (c *consumer) nextRetry() time.Duration {
	var next time.Duration
	for _, at := range c.retryAt {
		if d := time.Until(at); d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	return max(next, 0)
}

// run consumes until stop ends, then returns once the batch in hand is done: a batch is
// handled with a context that outlives stop by the log's DrainTimeout, so a shutdown lets
// it commit instead of cutting it off (cut off, it would roll back and come again).
func (c *consumer) run(stop context.Context, wake *wakeup) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(stop))
	defer cancel()
	defer context.AfterFunc(stop, func() { time.AfterFunc(c.log.cfg.DrainTimeout, cancel) })()
	if err := c.prepare(stop); err != nil {
		return err
	}
	// A round looks at the topics due: those woken, those that gave a batch last round
	// (there may be more), and, when a wait runs out, those it was for. A topic with
	// nothing after the offset is not looked at again before its next wake-up (a message
	// brings its own) or the next poll, which looks at every topic in case a wake-up was
	// lost.
	due := c.allTopics()
	unseen := map[string]bool{} // committed messages not visible yet: look again soon
	var recheck time.Duration
	for stop.Err() == nil {
		select {
		case <-wake.ch: // news that came during the last round
		default:
		}
		wake.take(due)
		started := time.Now()
		progressed, failed, full := false, false, false
		for _, topic := range c.topics {
			if !due[topic] {
				continue
			}
			if stop.Err() != nil {
				return nil
			}
			n, next, err := c.batch(ctx, topic)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				c.log.logger.Error("consumer batch failed", err, watermill.LogFields{"consumer_group": c.group, "topic": topic})
				failed = true
			}
			progressed = progressed || n > 0
			full = full || n >= c.opts.batchSize
			if next != visible && err == nil {
				delete(due, topic)
			}
			delete(unseen, topic)
			if next == committedUnseen {
				unseen[topic] = true
			}
		}
		var wait time.Duration
		if failed {
			c.errors++
		} else {
			c.errors = 0
		}
		// When the wait runs out, the topics it was for are due.
		var then map[string]bool
		switch {
		case failed:
			// The database may be down or restarting: wait longer after each failure, and
			// carry on by itself once it answers.
			wait, recheck, then = c.log.backoff(c.errors), 0, c.allTopics()
		case progressed:
			recheck = 0
			maps.Copy(due, unseen)
			if rest := c.opts.pace - time.Since(started); rest > 0 && !full {
				select { // wake-ups meanwhile are taken at the next round's start
				case <-stop.Done():
				case <-time.After(rest):
				}
			}
			continue
		case len(unseen) > 0:
			// A message is committed but not yet visible (an older transaction is still
			// open): look again soon, a little later each time, up to the poll interval
			// (2, 4, … 512 ms).
			recheck = max(recheck, minRecheck)
			wait, then = recheck, unseen
			recheck = min(2*recheck, c.log.cfg.MaxPollInterval)
		default:
			wait, recheck, then = c.log.cfg.MaxPollInterval, 0, c.allTopics()
		}
		if next := c.nextRetry(); next > 0 && next < wait {
			wait, then = next, c.allTopics() // a held-back topic may be tried again
		}
		select {
		case <-stop.Done():
		case <-wake.ch:
			recheck = 0
			maps.Copy(due, unseen)
		case <-time.After(wait):
			maps.Copy(due, then)
		}
	}
	return nil
}

// allTopics is every topic of the consumer, as a set.
func (c *consumer) allTopics() map[string]bool {
	all := make(map[string]bool, len(c.topics))
	for _, t := range c.topics {
		all[t] = true
	}
	return all
}

// prepare creates the group's offset rows, as watermill-sql's subscriber does before it
// subscribes. It tries again until it succeeds or ctx ends: a database restarting just as
// the process starts would otherwise stop the consumer for good, and the process would
// never be ready (`make chaos` met it: a process killed, started again, and PostgreSQL
// restarted a few seconds later). Its attempts are spaced as a failed batch's are
// (Log.backoff).
func (c *consumer) prepare(ctx context.Context) error {
	for failures := 1; ; failures++ {
		err := PrepareGroup(ctx, c.log.pool, c.group, c.topics...)
		if err == nil || ctx.Err() != nil {
			return err
		}
		c.log.logger.Error("preparing the consumer failed; trying again", err, watermill.LogFields{"consumer_group": c.group})
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.log.backoff(failures)):
		}
	}
}

// batch handles at most one batch of topic and reports how many messages it consumed,
// and, when it found none to take, what the topic holds after the group's offset.
func (c *consumer) batch(ctx context.Context, topic string) (n int, next peeked, err error) {
	if at, ok := c.retryAt[topic]; ok {
		if time.Now().Before(at) {
			return 0, nothingNew, nil // a failed message's backoff has not passed yet
		}
		delete(c.retryAt, topic)
	}
	if c.visibleAfter[topic] {
		delete(c.visibleAfter, topic) // the last batch's commit looked
	} else if next, err = c.peek(ctx, topic); err != nil || next != visible {
		return 0, next, err
	}
	return c.take(ctx, topic)
}

// take handles the batch of topic that peek found visible, and reports what the topic
// holds after the batch, as a peek would: its commit round trip looks (afterwards), so
// the consumer's next round needs no peek of its own, either to find that nothing is
// left, which is what a batch leaves behind when the log is not busy, or to find more.
func (c *consumer) take(ctx context.Context, topic string) (n int, next peeked, err error) {
	// synchronous_commit = off is safe here and only here: the offset and every effect of
	// the batch commit together, so a database crash can only lose the batch as a whole,
	// which is then redelivered. Requests answered to a client (HTTP) keep synchronous
	// commits. Every statement a consumer runs finds its rows by key, so each is planned
	// once, as such (PlanByKey). BEGIN, these settings with the group's lock on the topic
	// (takeTurnSQL), and the batch's select go in one round trip.
	started := time.Now()
	q, err := c.schema.SelectQuery(wsql.SelectQueryParams{Topic: topic, ConsumerGroup: c.group, OffsetsAdapter: c.offsets})
	if err != nil {
		return 0, nothingNew, err
	}
	var rows []wsql.Row
	b := &pgx.Batch{}
	b.Queue(takeTurnSQL, offsetLockKey(topic, c.group))
	b.Queue(q.Query, q.Args...)
	tx, err := beginWith(ctx, c.log.pool, "BEGIN ISOLATION LEVEL READ COMMITTED", b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		rs, err := br.Query()
		if err != nil {
			return fmt.Errorf("select from %s: %w", topic, err)
		}
		rows, err = c.readBatch(ctx, topic, rs)
		return err
	})
	if err != nil {
		return 0, nothingNew, err
	}
	defer func() {
		if !tx.closed {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if len(rows) == 0 {
		return 0, nothingNew, nil
	}
	// A handler that queues its writes (QueueWrites) sends them with the offset and the
	// COMMIT, in one round trip; any other gets the transaction as it is, and the offset
	// and COMMIT travel together after it.
	var htx pgx.Tx = tx
	if c.opts.queueWrites {
		htx = Pipelined(tx)
	}
	wctx, flush := c.log.CollectWakeups(ctx)
	c.dead, c.deadLines = c.dead[:0], c.deadLines[:0]
	done, err := c.handleRows(wctx, htx, topic, rows)
	if err != nil {
		c.deadLettersLost(ctx, err)
	}
	if errors.Is(err, errIsolate) {
		// Logged as an error: a batch fails only on a poison message or a clash with
		// another writer, and a clash between the log's own consumers (a deadlock) is a bug.
		c.log.logger.Error("batch failed; retrying it message by message", err, watermill.LogFields{"consumer_group": c.group, "topic": topic})
		return 1, visible, nil // not done, but worth another round at once
	}
	if err != nil {
		return 0, nothingNew, err
	}
	if done == 0 {
		return 0, nothingNew, nil
	}
	ack, err := c.offsets.AckMessageQuery(wsql.AckMessageQueryParams{Topic: topic, LastRow: rows[done-1], Rows: rows[:done], ConsumerGroup: c.group})
	if err != nil {
		return 0, nothingNew, err
	}
	p := Pipelined(htx)
	_, _ = p.Exec(ctx, ack.Query, ack.Args...) // queued: its error comes with the commit
	// The peek after the offset just written (this transaction sees its own write), in
	// the commit's round trip. Inside the batch's transaction it counts the batch itself
	// as open, so a message committed by a later transaction, or published to this topic
	// by the handler, reads as held back: the next round, at once after a batch that
	// progressed, looks again on its own, as it always did.
	after := &pgx.Batch{}
	after.Queue(c.peekSQL(topic), c.group).QueryRow(func(row pgx.Row) (err error) {
		next, err = c.look(topic, row, lookInCommit)
		return err
	})
	p.QueueBatch(after)
	if err := p.Commit(ctx); err != nil {
		c.deadLettersLost(ctx, err)
		if c.opts.queueWrites && ctx.Err() == nil {
			// The handler's queued writes failed (an append that met a concurrent
			// writer): as a failed handler, the batch comes again one message at a time.
			c.isolate[topic] = true
			c.log.logger.Error("batch failed; retrying it message by message", err, watermill.LogFields{"consumer_group": c.group, "topic": topic})
			return 1, visible, nil
		}
		return 0, nothingNew, fmt.Errorf("commit %s on %s: %w", c.group, topic, err)
	}
	flush()
	for _, d := range c.deadLines {
		c.log.logger.Error(logging.DeadLettered, d.cause, d.fields)
	}
	c.count(topic, rows[:done], time.Since(started))
	if next == visible {
		c.visibleAfter[topic] = true
	}
	return done, next, nil
}

// takeTurnSQL starts a batch's transaction: its settings (synchronous_commit off, and
// PlanByKey's) and the group's lock on the topic (offsetLockSQL; $1 its key), in one
// statement, since each statement costs the server its own parse, bind and execution.
// The batch's select, the next statement, reads with a snapshot taken once the lock is
// held.
const takeTurnSQL = `SELECT set_config('synchronous_commit', 'off', true), ` + planByKeySettings + ` FROM ` + offsetLock

// count records a committed batch: each message's outcome and the batch's duration.
func (c *consumer) count(topic string, done []wsql.Row, took time.Duration) {
	m := c.log.metrics
	var handled, skipped int
	for _, r := range done {
		switch {
		case slices.Contains(c.dead, r.Msg.UUID):
		case c.wants(r.Msg):
			handled++
		default:
			skipped++
		}
	}
	m.handled.WithLabelValues(c.group, topic, outcomeHandled).Add(float64(handled))
	m.handled.WithLabelValues(c.group, topic, outcomeSkipped).Add(float64(skipped))
	m.handled.WithLabelValues(c.group, topic, outcomeDeadLettered).Add(float64(len(c.dead)))
	m.deadLetters.WithLabelValues(c.group, topic).Add(float64(len(c.dead)))
	m.duration.WithLabelValues(c.group, topic).Observe(took.Seconds())
}

// wants reports whether the consumer's handler takes msg: one of its names (see
// OnlyNames), not already handled by its group when it was recorded
// (Metadata.HandledBy), and, if it is a re-driven dead letter, re-driven for its group
// (see Redrive).
func (c *consumer) wants(msg *message.Message) bool {
	if msg.Metadata.Get(handledByKey) == c.group {
		return false
	}
	if g := msg.Metadata.Get(redriveForKey); g != "" && g != c.group {
		return false
	}
	return c.opts.names == nil || c.opts.names[msg.Metadata.Get("name")]
}

// handledByKey is the message metadata key of Metadata.HandledBy.
const handledByKey = "handled_by"

// peeked is what a topic holds after a group's offset.
type peeked int

const (
	nothingNew      peeked = iota // no message after the offset
	committedUnseen               // a committed message, not yet visible: an older transaction is open
	visible                       // a message the group's select would take
)

// String is the found label of ordermill_log_peeks_total.
func (p peeked) String() string {
	return [...]string{"nothing", "unseen", "visible"}[p]
}

// peek reports, in one autocommit statement, what topic holds after the group's offset:
// most wake-ups under load find nothing to take yet (a message is visible only once
// every older transaction has ended), and a peek costs one round trip where a begin, a
// locking select and a rollback cost three. It tells a message not yet visible, worth
// looking for again soon, from none at all, where a wake-up's message was already taken.
// It reads the same layout and visibility rule as watermill-sql's select: the first
// message after the offset has the oldest transaction id, so when it is not visible, no
// later one is.
func (c *consumer) peek(ctx context.Context, topic string) (peeked, error) {
	found, err := c.look(topic, c.log.pool.QueryRow(ctx, c.peekSQL(topic), c.group), lookOwn)
	if err != nil {
		return nothingNew, fmt.Errorf("peek at %s: %w", topic, err)
	}
	return found, nil
}

// peekSQL is the peek's statement ($1 the group): whether the first message after the
// group's offset is visible, and no row when there is none. Written as "the first message
// after the offset" so the planner walks the primary key from the offset on: asked as
// EXISTS over a join it scanned the whole table, 100 ms and more with a million messages
// behind the offset.
func (c *consumer) peekSQL(topic string) string {
	return `
		SELECT m.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		FROM ` + c.schema.MessagesTable(topic) + ` m
		WHERE (m.transaction_id, m."offset") > (
			SELECT last_processed_transaction_id, offset_acked FROM ` + c.offsets.MessagesOffsetsTable(topic) + `
			WHERE consumer_group = $1)
		ORDER BY m.transaction_id, m."offset" LIMIT 1`
}

// The look label of ordermill_log_peeks_total: a look costs a round trip of its own (a
// peek), or travels in a batch's commit round trip at no cost of its own. Under load
// most looks that find nothing are the latter.
const (
	lookOwn      = "own"
	lookInCommit = "commit"
)

// look reads and counts the answer of peekSQL's statement, a peek's (lookOwn) or the one a
// batch's commit carries (lookInCommit).
func (c *consumer) look(topic string, row pgx.Row, how string) (peeked, error) {
	var ready bool
	found := committedUnseen
	switch err := row.Scan(&ready); {
	case errors.Is(err, pgx.ErrNoRows):
		found = nothingNew
	case err != nil:
		return nothingNew, err
	case ready:
		found = visible
	}
	c.log.metrics.peeks.WithLabelValues(c.group, topic, found.String(), how).Inc()
	return found, nil
}

// readBatch reads the messages of a batch's select.
func (c *consumer) readBatch(ctx context.Context, topic string, rs pgx.Rows) ([]wsql.Row, error) {
	defer rs.Close()
	var rows []wsql.Row
	for rs.Next() {
		row, err := c.schema.UnmarshalMessage(wsql.UnmarshalMessageParams{Row: rs})
		if err != nil {
			return nil, fmt.Errorf("read message of %s: %w", topic, err)
		}
		row.Msg.Metadata.Set(topicKey, topic)
		row.Msg.SetContext(ctx)
		rows = append(rows, row)
	}
	return rows, rs.Err()
}

// errIsolate makes batch roll its transaction back and handle the same messages again, one
// by one, in a new one.
var errIsolate = errors.New("a batch failed: handling its messages one by one")

// handleRows runs the handler over rows and returns how many of them, from the start, are
// done (handled, skipped or dead-lettered) and may be acknowledged. A whole batch runs
// without a savepoint of its own: if it fails, the transaction is rolled back and the
// batch comes again, one message at a time (errIsolate), so the common case pays no
// savepoint round trips.
func (c *consumer) handleRows(ctx context.Context, tx pgx.Tx, topic string, rows []wsql.Row) (int, error) {
	var wanted []*message.Message
	for _, r := range rows {
		if c.wants(r.Msg) {
			wanted = append(wanted, r.Msg)
		}
	}
	if len(wanted) == 0 {
		return len(rows), nil
	}
	if c.isolate[topic] || c.knownFailing(wanted) {
		delete(c.isolate, topic)
		return c.oneByOne(ctx, tx, topic, rows, wanted)
	}
	if err := c.handleSafely(ctx, tx, wanted); err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		c.isolate[topic] = true
		return 0, fmt.Errorf("%w: %w", errIsolate, err)
	}
	return len(rows), nil
}

// handleSafely runs the handler over msgs. A panic (a bug meeting a message it cannot
// take) is its failure, retried and then dead-lettered like any other: it crashed the
// process at every delivery, and the service restarted into the same message again and
// again (a review).
func (c *consumer) handleSafely(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
	return c.log.safely(c.group, func() error { return c.handle(ctx, tx, msgs) })
}

// safely runs a handler of group, a panic in it returned as its error and logged with
// its stack.
func (l *Log) safely(group string, handle func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the handler panicked: %v", v)
			l.logger.Error("handler panicked", err, watermill.LogFields{"consumer_group": group, "stack": string(debug.Stack())})
		}
	}()
	return handle()
}

// knownFailing reports whether a message of the batch has failed before: the batch then
// goes one by one at once instead of failing as a whole again.
func (c *consumer) knownFailing(msgs []*message.Message) bool {
	for _, m := range msgs {
		if c.attempts[m.UUID].n > 0 {
			return true
		}
	}
	return false
}

// oneByOne handles a batch that failed, or holds a message that failed before, one
// message at a time, to find the failing one.
func (c *consumer) oneByOne(ctx context.Context, tx pgx.Tx, topic string, rows []wsql.Row, wanted []*message.Message) (int, error) {
	for _, m := range wanted {
		mctx, keep := SavepointScope(ctx)
		err := inSavepoint(mctx, tx, func(sp pgx.Tx) error { return c.handleSafely(mctx, sp, []*message.Message{m}) })
		if err == nil {
			keep()
			delete(c.attempts, m.UUID)
			continue
		}
		done, err := c.failed(ctx, tx, topic, rows, m, err)
		if err != nil || done == indexOf(rows, m) {
			return done, err // m is retried next round; what came before it commits now
		}
	}
	return len(rows), nil
}

// Permanent marks err as a failure no later attempt can mend (a reply about an order that
// does not exist): the consumer dead-letters the message at once, rather than after
// maxAttempts tries, each after a backoff, while the topic's later messages wait behind it
// (a run of such messages stalled a topic for minutes).
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// permanent reports whether no later attempt can mend cause: marked Permanent, or bad input
// (apperr.CodeInvalid, "retrying unchanged will not help"), such as a command that fails its
// validation, which held its topic up for its retries (a review).
func permanent(cause error) bool {
	return errors.As(cause, new(permanentError)) || apperr.ErrorCode(cause) == apperr.CodeInvalid
}

// Outage marks err as a failure of something outside the log that is down for now (the
// payment provider answering 5xx or not at all): the consumer keeps trying the message,
// MaxRetryBackoff apart once its backoff has grown, for LogConfig.OutageRetryFor after its
// first failure, not merely maxAttempts times (about 3 s). A refund or a payment session
// asked for during a provider's outage of minutes is then made when the provider is back,
// instead of becoming a dead letter for a person to re-drive. The messages behind it on
// its topic wait meanwhile; they would meet the same outage.
func Outage(err error) error { return outageError{err} }

type outageError struct{ error }

func (e outageError) Unwrap() error { return e.error }

// IsOutage reports whether err, or an error it wraps, was marked an Outage.
func IsOutage(err error) bool { return errors.As(err, new(outageError)) }

// failures counts the failed attempts at one message and says when the first was.
type failures struct {
	n     int
	since time.Time
}

// failed records a failed attempt at m. Before maxAttempts (or, when cause is an Outage,
// until OutageRetryFor has passed since m first failed) it returns the number of rows
// before m, so everything ahead of m commits and m is tried again next round; after
// that, or at once when cause is Permanent, m becomes a dead letter and counts as done.
func (c *consumer) failed(ctx context.Context, tx pgx.Tx, topic string, rows []wsql.Row, m *message.Message, cause error) (int, error) {
	if ctx.Err() != nil {
		return 0, ctx.Err() // stopping, not failing: nothing is counted and nothing commits
	}
	f := c.attempts[m.UUID]
	if f.n == 0 {
		f.since = time.Now()
	}
	f.n++
	c.attempts[m.UUID] = f
	c.log.metrics.handled.WithLabelValues(c.group, topic, outcomeFailed).Inc()
	outage := IsOutage(cause) && time.Since(f.since) < c.log.cfg.OutageRetryFor
	if (f.n >= c.maxAttempts && !outage) || permanent(cause) {
		delete(c.attempts, m.UUID)
		c.dead = append(c.dead, m.UUID)
		c.deadLines = append(c.deadLines, deadLine{cause: cause, fields: messageFields(c.group, topic, m)})
		if err := deadLetter(ctx, tx, c.group, topic, m, cause); err != nil {
			return 0, err
		}
		return indexOf(rows, m) + 1, nil
	}
	wait := c.log.backoff(f.n)
	c.retryAt[topic] = time.Now().Add(wait)
	fields := messageFields(c.group, topic, m)
	fields["retry_in"], fields["attempt"] = wait.String(), f.n
	c.log.logger.Error("message failed; retrying", cause, fields)
	return indexOf(rows, m), nil
}

// deadLine is the log line of a message dead-lettered in the batch being handled.
type deadLine struct {
	cause  error
	fields watermill.LogFields
}

// deadLettersLost logs the dead letters of a batch that failed with err: not stored,
// their messages come again and are tried anew. A process stopping says nothing of them.
func (c *consumer) deadLettersLost(ctx context.Context, err error) {
	for _, d := range c.deadLines {
		if ctx.Err() != nil {
			break
		}
		fields := watermill.LogFields{"dead_letter_cause": d.cause.Error()}
		for k, v := range d.fields {
			fields[k] = v
		}
		c.log.logger.Error("dead letter not stored; its message will be tried again", err, fields)
	}
	c.dead, c.deadLines = c.dead[:0], c.deadLines[:0]
}

// messageFields identify m in a log line: where it was read and the order it is about
// (its correlation id is the order's id).
func messageFields(group, topic string, m *message.Message) watermill.LogFields {
	f := watermill.LogFields{"consumer_group": group, "topic": topic, "message_uuid": m.UUID}
	if id := m.Metadata.Get("correlation_id"); id != "" {
		f["order_id"], f["correlation_id"] = id, id
	}
	return f
}

func indexOf(rows []wsql.Row, m *message.Message) int {
	for i, r := range rows {
		if r.Msg == m {
			return i
		}
	}
	return len(rows)
}

// consumerSubscriber runs a consumer as a Watermill subscriber whose channel never carries
// a message: the router starts it with Subscribe and stops it with Close, so a batch
// consumer starts and stops with the process's other handlers.
type consumerSubscriber struct {
	c    *consumer
	wake *wakeup

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *consumerSubscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return nil, errors.New("consumer already running")
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	out := make(chan *message.Message)
	go func() {
		defer close(s.done)
		defer close(out)
		if err := s.c.run(ctx, s.wake); err != nil {
			s.c.log.logger.Error("consumer stopped", err, watermill.LogFields{"consumer_group": s.c.group})
		}
	}()
	return out, nil
}

// running reports whether the consumer has been started and has not stopped.
func (s *consumerSubscriber) running() bool {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// NotRunning names this process's batch consumers that are not consuming: not started
// yet, or stopped (by a shutdown, or by an error they could not get past). A process is
// ready only when it returns none.
func (l *Log) NotRunning() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var names []string
	for _, s := range l.running {
		if !s.running() {
			names = append(names, s.c.group+" on "+strings.Join(s.c.topics, ","))
		}
	}
	return names
}

func (s *consumerSubscriber) Close() error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}
