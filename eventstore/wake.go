package eventstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"strings"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
)

// Wake-ups. A consumer sleeps until told that its topic has news, then queries. Postgres
// could tell it with a NOTIFY in the publishing transaction (a trigger on each topic
// did), but a transaction that has sent a NOTIFY takes one database-wide lock at commit
// and holds it through its WAL flush: every writer in the system then commits one after
// another, which was the ceiling of the whole workflow (docs/BENCHMARKS.md). So the
// publishing side remembers which topics it wrote and, once its transaction is over,
// wakes this process's consumers directly and the other processes with a NOTIFY sent
// outside any writing transaction, committed without waiting for a WAL flush.
// A wake-up is only a hint: a consumer that finds nothing yet looks again shortly, and
// every consumer polls anyway (MaxPollInterval) in case a hint is lost.

type wakeKey struct{}

// CollectWakeups returns ctx collecting the topics published through it and the functions
// given to OnCommit, and flush, which wakes the topics' consumers and runs the functions:
// call it once the work's transaction has committed. The host wraps every HTTP request in
// it (flushed when the handler returns), a consumer every batch (flushed after its
// commit), and the delayed queue every message (flushed when its handler succeeds, just
// before watermill-sql commits).
func (l *Log) CollectWakeups(ctx context.Context) (context.Context, func()) {
	b := &afterCommit{}
	return context.WithValue(ctx, wakeKey{}, b), func() {
		b.mu.Lock()
		topics, hooks := b.topics, b.hooks
		b.mu.Unlock()
		for _, t := range topics {
			l.waker.add(t.topic, t.except)
		}
		for _, fn := range hooks {
			fn()
		}
	}
}

// OnCommit runs fn once the work whose context ctx is has committed (see CollectWakeups),
// and never if it rolls back: for counting what a transaction did, once. Outside such work
// (a rebuild, a tool) fn is dropped.
func OnCommit(ctx context.Context, fn func()) {
	if b, ok := ctx.Value(wakeKey{}).(*afterCommit); ok {
		b.mu.Lock()
		b.hooks = append(b.hooks, fn)
		b.mu.Unlock()
	}
}

// markPublished records that topic received messages through ctx's transaction, all of
// them already handled by consumer group except if it is not empty (Metadata.HandledBy):
// that group's consumers need not be woken for them.
func markPublished(ctx context.Context, topic, except string) {
	if b, ok := ctx.Value(wakeKey{}).(*afterCommit); ok {
		b.mu.Lock()
		b.topics = append(b.topics, published{topic, except})
		b.mu.Unlock()
	}
}

// published is a topic that received messages, and the group that needs no wake-up for
// them, if any.
type published struct {
	topic, except string
}

// A wake-up goes on its topic's own channel, so a process hears only the topics it
// consumes: on one shared channel every process woke for every commit of every topic
// (the warehouse for each order event, the orders process for each shipment command),
// and a listener delivering ten notifications it has no use for delays the one it has.
// A channel name is an identifier of at most 63 bytes; a longer topic's channel is named
// by a hash of it (two topics sharing one then only wake each other's consumers in vain).
func wakeChannel(topic string) string {
	const prefix, maxLen = "watermill:", 63
	if len(prefix)+len(topic) <= maxLen {
		return prefix + topic
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(topic))
	return fmt.Sprintf("%s%x", prefix, h.Sum64())
}

// A wake-up's NOTIFY payload is "topic|group|sender": the group it need not wake (empty:
// none) and the Log that sent it. A Log ignores its own wake-ups when they come back
// through LISTEN: it woke its consumers directly already, and waking them twice cost a
// round of peeks at every one of their topics for each commit.
const wakeSep = "|"

func wakePayload(topic, except, sender string) string {
	return topic + wakeSep + except + wakeSep + sender
}

// parseWakePayload reads a wake-up's payload; an older process's "topic|group" or bare
// "topic" has no sender.
func parseWakePayload(payload string) (topic, except, sender string) {
	topic, rest, _ := strings.Cut(payload, wakeSep)
	except, sender, _ = strings.Cut(rest, wakeSep)
	return topic, except, sender
}

// SavepointScope returns ctx collecting on its own what is published and registered
// through it inside a savepoint, or in one attempt of a transaction that may be done
// again (sagas.Runner.RunNow), and keep, which hands that to the enclosing work once the
// savepoint is released or the attempt committed: work rolled back then wakes and counts
// nothing.
func SavepointScope(ctx context.Context) (context.Context, func()) {
	outer, ok := ctx.Value(wakeKey{}).(*afterCommit)
	if !ok {
		return ctx, func() {}
	}
	inner := &afterCommit{}
	return context.WithValue(ctx, wakeKey{}, inner), func() {
		inner.mu.Lock()
		topics, hooks := inner.topics, inner.hooks
		inner.mu.Unlock()
		outer.mu.Lock()
		outer.topics = append(outer.topics, topics...)
		outer.hooks = append(outer.hooks, hooks...)
		outer.mu.Unlock()
	}
}

// afterCommit holds a unit of work's topics and commit hooks until it commits.
type afterCommit struct {
	mu     sync.Mutex
	topics []published
	hooks  []func()
}

// waker sends the wake-ups of one process: at once to its own consumers, and, coalesced,
// as one NOTIFY statement in autocommit to every process listening.
type waker struct {
	log *Log

	mu    sync.Mutex
	dirty map[string]string // topic → the group it need not wake ("": wake every group)
	kick  chan struct{}
}

func newWaker(l *Log) *waker {
	return &waker{log: l, dirty: map[string]string{}, kick: make(chan struct{}, 1)}
}

func (w *waker) add(topic, except string) {
	w.mu.Lock()
	if prev, ok := w.dirty[topic]; ok && prev != except {
		except = "" // news for that group too
	}
	w.dirty[topic] = except
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// run sends pending wake-ups until ctx ends.
func (w *waker) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		w.send(ctx)
	}
}

// send wakes this process's consumers of the topics pending and tells the other
// processes, in one transaction; nothing when no topic is pending, which is what a kick
// finds when the run before it already took its news (two adds, one run): that empty
// transaction was about one an order at 60 orders/s (docs/BENCHMARKS.md, twenty-second
// session).
func (w *waker) send(ctx context.Context) {
	w.mu.Lock()
	dirty := maps.Clone(w.dirty)
	clear(w.dirty)
	w.mu.Unlock()
	if len(dirty) == 0 {
		return
	}
	news := make([]published, 0, len(dirty))
	for t, except := range dirty {
		w.log.wake(t, except)
		news = append(news, published{t, except})
	}
	if err := w.notify(ctx, news); err != nil && ctx.Err() == nil {
		w.log.logger.Error("sending wake-ups failed; consumers fall back to polling", err, watermill.LogFields{"topics": len(news)})
	}
}

// notify sends one NOTIFY per topic, on the topic's own channel, in a transaction of its
// own that commits without waiting for its WAL flush. A NOTIFY takes a transaction id, and its commit holds the
// database-wide notification lock: with a synchronous commit every wake-up would wait for
// a flush under that lock and hold back the log's visibility horizon meanwhile. A lost
// wake-up is harmless (consumers poll), so there is nothing to make durable. The whole
// transaction is one simple-protocol message, one round trip instead of three.
func (w *waker) notify(ctx context.Context, news []published) error {
	var sql strings.Builder
	sql.WriteString("BEGIN; SELECT set_config('synchronous_commit', 'off', true)")
	for _, p := range news {
		sql.WriteString(", pg_notify(" + quoteLiteral(wakeChannel(p.topic)) + ", " + quoteLiteral(wakePayload(p.topic, p.except, w.log.id)) + ")")
	}
	sql.WriteString("; COMMIT")
	conn, err := w.log.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	_, err = conn.Conn().PgConn().Exec(ctx, sql.String()).ReadAll()
	return err
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings, the
// default since PostgreSQL 9.1: only quotes are doubled).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
