package eventstore

import (
	"context"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5"
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

// wakes collects the topics a transaction published to.
type wakes interface{ add(topic string) }

// WithWakeups returns ctx carrying l's waker: messages published through a context
// derived from it wake their consumers at once, here and in other processes, possibly
// before their transaction commits (a consumer that finds nothing yet looks again
// shortly). For work whose commit is known, CollectWakeups is exact.
func (l *Log) WithWakeups(ctx context.Context) context.Context {
	return context.WithValue(ctx, wakeKey{}, l.waker)
}

// CollectWakeups returns ctx collecting the topics published through it, and flush, which
// wakes their consumers: call it once the work's transaction has committed. The host
// wraps every HTTP request in it, and a consumer every batch.
func (l *Log) CollectWakeups(ctx context.Context) (context.Context, func()) {
	b := &batchWakes{}
	return context.WithValue(ctx, wakeKey{}, b), func() {
		b.mu.Lock()
		topics := b.topics
		b.mu.Unlock()
		for _, t := range topics {
			l.waker.add(t)
		}
	}
}

// markPublished records that topic received messages through ctx's transaction.
func markPublished(ctx context.Context, topic string) {
	if w, ok := ctx.Value(wakeKey{}).(wakes); ok {
		w.add(topic)
	}
}

// batchWakes holds a consumer batch's topics until it commits.
type batchWakes struct {
	mu     sync.Mutex
	topics []string
}

func (b *batchWakes) add(topic string) {
	b.mu.Lock()
	b.topics = append(b.topics, topic)
	b.mu.Unlock()
}

// waker sends the wake-ups of one process: at once to its own consumers, and, coalesced,
// as one NOTIFY statement in autocommit to every process listening.
type waker struct {
	log *Log

	mu    sync.Mutex
	dirty map[string]bool
	kick  chan struct{}
}

func newWaker(l *Log) *waker {
	return &waker{log: l, dirty: map[string]bool{}, kick: make(chan struct{}, 1)}
}

func (w *waker) add(topic string) {
	w.mu.Lock()
	w.dirty[topic] = true
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
		w.mu.Lock()
		topics := make([]string, 0, len(w.dirty))
		for t := range w.dirty {
			topics = append(topics, t)
		}
		clear(w.dirty)
		w.mu.Unlock()
		for _, t := range topics {
			w.log.wake(t)
		}
		if err := w.notify(ctx, topics); err != nil && ctx.Err() == nil {
			w.log.logger.Error("sending wake-ups failed; consumers fall back to polling", err, watermill.LogFields{"topics": topics})
		}
	}
}

// notify sends one NOTIFY per topic in a transaction of its own that commits without
// waiting for its WAL flush. A NOTIFY takes a transaction id, and its commit holds the
// database-wide notification lock: with a synchronous commit every wake-up would wait for
// a flush under that lock and hold back the log's visibility horizon meanwhile. A lost
// wake-up is harmless (consumers poll), so there is nothing to make durable.
func (w *waker) notify(ctx context.Context, topics []string) error {
	tx, err := w.log.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL synchronous_commit = off"})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_notify('watermill', t) FROM unnest($1::text[]) AS t`, topics); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
