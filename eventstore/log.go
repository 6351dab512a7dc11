package eventstore

import (
	"context"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LogConfig tunes how consumers read the log.
type LogConfig struct {
	// MaxPollInterval bounds how long an idle consumer waits when no NOTIFY wakes it.
	MaxPollInterval time.Duration
	// BatchSize is how many messages one consumer transaction takes at once.
	BatchSize int
	// DuePollInterval is how often a delayed queue looks for messages whose time has come:
	// the resolution of durable deadlines.
	DuePollInterval time.Duration
	// DrainTimeout bounds how long a stopping consumer may take to finish the batch it is
	// handling; past it the batch is cut off (rolled back, so redelivered later).
	DrainTimeout time.Duration
	// RetryBackoff is how long a consumer waits before it tries a failed message again,
	// doubled after each further failure up to MaxRetryBackoff; the same backoff spaces
	// out its attempts while the database does not answer.
	RetryBackoff time.Duration
	// MaxRetryBackoff bounds RetryBackoff's doubling.
	MaxRetryBackoff time.Duration
	// OutageRetryFor is how long a consumer keeps trying a message whose handler failed
	// with an Outage (an outside service down) before it dead-letters it.
	OutageRetryFor time.Duration
}

func (c *LogConfig) setDefaults() {
	if c.MaxPollInterval == 0 {
		c.MaxPollInterval = time.Second
	}
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	if c.DuePollInterval == 0 {
		c.DuePollInterval = 250 * time.Millisecond
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 200 * time.Millisecond
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = 5 * time.Second
	}
	if c.OutageRetryFor == 0 {
		c.OutageRetryFor = time.Hour
	}
}

// Log hands out consumers of the Postgres log and wakes them through LISTEN/NOTIFY when a
// topic receives messages, so a hop costs milliseconds, not a poll.
type Log struct {
	pool   *pgxpool.Pool
	logger watermill.LoggerAdapter
	cfg    LogConfig

	metrics logMetrics
	id      string // names this Log's wake-ups, so that it ignores them when they come back

	mu      sync.Mutex
	waiters map[string][]waiter
	added   chan struct{} // closed (and replaced) when a topic is registered, for the listener
	waker   *waker
	groups  []groupTopic          // the topics this process's consumer groups read, for their lag
	queues  []groupTopic          // the delayed queues it consumes
	running []*consumerSubscriber // its batch consumers, for readiness
}

// NewLog prepares subscribers over pool; call Listen to receive wake-ups.
func NewLog(pool *pgxpool.Pool, logger watermill.LoggerAdapter, cfg LogConfig) *Log {
	cfg.setDefaults()
	l := &Log{pool: pool, logger: logger, cfg: cfg, metrics: newLogMetrics(), id: NewID(), waiters: map[string][]waiter{}, added: make(chan struct{})}
	l.waker = newWaker(l)
	return l
}

// Listen holds one connection listening on the wake-up channel of every topic this
// process consumes, including topics registered later, and fans notifications out to the
// subscribers of each topic until ctx ends, and sends this process's wake-ups (see
// wake.go). On a lost connection it reconnects; consumers meanwhile fall back to polling.
func (l *Log) Listen(ctx context.Context) error {
	go l.waker.run(ctx)
	for ctx.Err() == nil {
		if err := l.listenOnce(ctx); err != nil && ctx.Err() == nil {
			l.logger.Error("log listener lost its connection; retrying", err, nil)
			l.wakeAll()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// unlistenTimeout bounds the UNLISTEN that hands the listener's connection back.
const unlistenTimeout = time.Second

func (l *Log) listenOnce(ctx context.Context) error {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	defer func() {
		// Bounded: on a database that stopped answering, an unbounded UNLISTEN held the
		// process's stop past its SHUTDOWN_TIMEOUT (40 s, a probe). A connection it times out
		// on is closed, not handed back to the pool still listening.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlistenTimeout)
		defer cancel()
		_, _ = conn.Exec(uctx, "UNLISTEN *")
	}()
	heard := map[string]bool{} // the channels this connection listens on
	for {
		channels, added := l.unheard(heard)
		if len(channels) > 0 {
			var sql strings.Builder
			for _, ch := range channels {
				sql.WriteString("LISTEN " + pgx.Identifier{ch}.Sanitize() + ";")
				heard[ch] = true
			}
			if _, err := conn.Exec(ctx, sql.String()); err != nil {
				return err
			}
			l.wakeAll() // anything published before LISTEN took effect
		}
		if err := l.relay(ctx, conn.Conn(), added); err != nil {
			return err
		}
	}
}

// unheard returns the wake-up channels of the registered topics that are not in heard,
// and a channel closed when a topic is next registered.
func (l *Log) unheard(heard map[string]bool) ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var channels []string
	for t := range l.waiters {
		if ch := wakeChannel(t); !heard[ch] {
			channels = append(channels, ch)
		}
	}
	return channels, l.added
}

// relay wakes this process's consumers for each notification until a topic is registered
// (added closes: it returns nil, the connection still listening) or ctx ends.
func (l *Log) relay(ctx context.Context, conn *pgx.Conn, added <-chan struct{}) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-added:
			cancel()
		case <-wctx.Done():
		}
	}()
	for {
		n, err := conn.WaitForNotification(wctx)
		if err != nil {
			// A cancelled wait times the socket out, which leaves the connection open.
			if ctx.Err() == nil && wctx.Err() != nil && !conn.IsClosed() {
				return nil
			}
			return err
		}
		if topic, except, sender := parseWakePayload(n.Payload); sender != l.id {
			l.wake(topic, except)
		}
	}
}

// waiter is a consumer's wake-up, signalled when one of its topics has news.
type waiter struct {
	group string
	w     *wakeup
}

// wakeup tells a consumer which of its topics have news: wake records the topic and
// signals ch, and the consumer takes the topics recorded since it last looked. A consumer
// of several topics (the projections read every partition of the order events) then
// looks at the topic that has news, not at all of them.
type wakeup struct {
	ch chan struct{}

	mu     sync.Mutex
	topics map[string]bool
}

func newWakeup() *wakeup {
	return &wakeup{ch: make(chan struct{}, 1), topics: map[string]bool{}}
}

func (w *wakeup) wake(topic string) {
	w.mu.Lock()
	w.topics[topic] = true
	w.mu.Unlock()
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// take adds to due the topics woken since the last take, and forgets them.
func (w *wakeup) take(due map[string]bool) {
	w.mu.Lock()
	maps.Copy(due, w.topics)
	clear(w.topics)
	w.mu.Unlock()
}

// register returns the wake-up of a consumer of group reading topics.
func (l *Log) register(group string, topics ...string) *wakeup {
	w := newWakeup()
	l.mu.Lock()
	for _, topic := range topics {
		l.waiters[topic] = append(l.waiters[topic], waiter{group, w})
	}
	close(l.added) // the listener has channels to add
	l.added = make(chan struct{})
	l.mu.Unlock()
	return w
}

// wake signals the consumers of topic, except those of group except (see
// Metadata.HandledBy): a group is not woken for messages it has already handled.
func (l *Log) wake(topic, except string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.waiters[topic] {
		if except != "" && w.group == except {
			continue
		}
		w.w.wake(topic)
	}
}

func (l *Log) wakeAll() {
	l.mu.Lock()
	topics := make([]string, 0, len(l.waiters))
	for t := range l.waiters {
		topics = append(topics, t)
	}
	l.mu.Unlock()
	for _, t := range topics {
		l.wake(t, "")
	}
}

// minRecheck is the first wait of a consumer that found a committed message not yet
// visible.
const minRecheck = 2 * time.Millisecond

// ConsumeOption tunes one consumer.
type ConsumeOption func(*consumeOptions)

type consumeOptions struct {
	batchSize   int
	names       map[string]bool
	queueWrites bool
	pace        time.Duration
}

// OnlyNames makes the consumer acknowledge messages of any other name without running its
// handler: a projection that folds three kinds of event out of twenty then pays for three.
func OnlyNames(names ...string) ConsumeOption {
	return func(o *consumeOptions) {
		o.names = map[string]bool{}
		for _, n := range names {
			o.names[n] = true
		}
	}
}

// QueueWrites hands the handler its transaction as a Pipeline: its writes (Exec, appends)
// are queued and go to Postgres with the batch's offset and COMMIT, in one round trip.
// An Exec's command tag is then empty: a handler that reads one must ask Queues first
// and rest its check on a write that fails instead. A queued write that fails fails the
// batch at its commit, and the batch is retried message by message, not pipelined.
func QueueWrites() ConsumeOption {
	return func(o *consumeOptions) { o.queueWrites = true }
}

// Pace makes the consumer start a round at most every d while it keeps finding messages
// (a round takes a batch of each topic due), unless a batch came back full: a consumer
// off the orders' path (the projections) then takes what a busy log gathered meanwhile
// in one batch, and writes a row that several events move once, instead of a batch and
// a write for every wake-up. An idle consumer still takes the first message it is woken
// for at once, so a quiet shop sees no lag and a busy one at most d.
func Pace(d time.Duration) ConsumeOption {
	return func(o *consumeOptions) { o.pace = d }
}

// OneAtATime makes each message its own transaction.
func OneAtATime() ConsumeOption {
	return func(o *consumeOptions) { o.batchSize = 1 }
}

// Consume registers h to process every partition of topic as consumerGroup, in batches,
// transactionally and with dead-lettering (see consumer).
func (l *Log) Consume(router *message.Router, consumerGroup, topic string, h Handler, opts ...ConsumeOption) error {
	return l.ConsumeBatches(router, consumerGroup, Partitions(topic), PerMessage(consumerGroup, h), opts...)
}

// ConsumeBatches registers h to process the given physical topics (see Partitions) as
// consumerGroup: one goroutine reads them in turn, a batch per transaction, so this
// consumer's transactions never run at the same time (another consumer registered under
// the same group name runs beside it).
func (l *Log) ConsumeBatches(router *message.Router, consumerGroup string, topics []string, h BatchHandler, opts ...ConsumeOption) error {
	o := consumeOptions{batchSize: l.cfg.BatchSize}
	for _, opt := range opts {
		opt(&o)
	}
	c := &consumer{
		log: l, group: consumerGroup, topics: topics, handle: h, opts: o,
		schema:       wsql.DefaultPostgreSQLSchema{SubscribeBatchSize: o.batchSize},
		offsets:      unlockedOffsets{},
		maxAttempts:  DefaultMaxAttempts,
		attempts:     map[string]failures{},
		retryAt:      map[string]time.Time{},
		isolate:      map[string]bool{},
		visibleAfter: map[string]bool{},
	}
	sub := &consumerSubscriber{c: c, wake: l.register(consumerGroup, topics...)}
	l.mu.Lock()
	for _, t := range topics {
		l.groups = append(l.groups, groupTopic{consumerGroup, t})
	}
	l.running = append(l.running, sub)
	l.mu.Unlock()
	l.metrics.register(consumerGroup, topics...)
	router.AddConsumerHandler(consumerGroup+"/"+strings.Join(topics, ","), topics[0], sub, func(*message.Message) error { return nil })
	return nil
}

// backoff is the wait after the n-th failure in a row (of one message, of a consumer's
// batches, or of its start): RetryBackoff, doubled for each further failure, at most
// MaxRetryBackoff.
func (l *Log) backoff(n int) time.Duration {
	d := l.cfg.RetryBackoff
	for i := 1; i < n && d < l.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, l.cfg.MaxRetryBackoff)
}
