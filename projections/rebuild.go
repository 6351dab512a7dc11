package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// A rebuild reads the log the way the projections' consumer group does (each partition in
// delivery order, only messages no older transaction can still precede) and folds it in
// memory, a chunk of messages at a time: every order's state is carried from event to
// event, and each chunk's rows are written in one short transaction with a statement or
// two per table. Short transactions matter: a consumer of the log is handed a message only
// once every older transaction in the cluster has ended, so one long write would stall the
// whole workflow. Reads take no transaction id and hold nothing back.

// chunkSize is how many messages a rebuild reads and writes per transaction.
const chunkSize = 5000

// stateCacheSize bounds how many orders a rebuild keeps in memory; an order that falls out
// and has later events is folded again from the event store.
const stateCacheSize = 20_000

// Options choose what a build replays and how it reports.
type Options struct {
	// Projections are the read models to build (nil: all of them).
	Projections []Projection
	// Until, when not zero, stops the log at that position: the read models as they were
	// when the event at that position was the newest (BuildInto only).
	Until int64
	// UntilTime, when not zero, leaves out every event recorded after it (BuildInto only).
	// Positions and times need not grow together (bin/history appends a past after live
	// orders), so a time is not a position: with Until alone, -until TIME kept orders
	// recorded long after it (found by a probe).
	UntilTime time.Time
	// Progress, when set, hears after every chunk how many messages were read of how many.
	Progress func(done, total int64)
}

// Result says what a build replayed.
type Result struct {
	// Messages is how many messages of the log were read; Events how many of the events
	// this release reads were folded.
	Messages, Events int64
	// Unknown counts, by name, the order events this release does not read
	// (order.Known), which were stepped over as the live read models step over them
	// (counted towards their order's version and position, nothing else): one such event
	// (a newer release's) failed every rebuild and verify, while the live read models went
	// on past it (found by a probe).
	Unknown map[string]int64
}

// rebuildLock is the advisory lock that keeps two rebuilds from swapping at once.
const rebuildLock = 0x7265706c6179 // "replay"

// Rebuild builds the read models of opts.Projections afresh from the log, beside the live
// ones, and swaps them in, atomically: the services read the old tables until then, and
// the new ones afterwards. In the swap's transaction the projections' consumer group is
// paused (its offset rows are locked) and the new tables are brought up to exactly the
// group's position, so the group goes on with the next message and no event is missed or
// applied twice. When every projection is rebuilt, the new tables reach the head of the
// log and the group is moved there; a rebuild of only some of them follows the group's
// position instead, since the others stay where they are. A cancelled or failed rebuild
// leaves the live tables as they were.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, opts Options) (Result, error) {
	if opts.Until != 0 || !opts.UntilTime.IsZero() {
		return Result{}, errors.New("a rebuild swapped in must reach the head of the log: build up to a position into a schema of its own")
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, rebuildLock).Scan(&locked); err != nil {
		return Result{}, err
	}
	if !locked {
		return Result{}, errors.New("another rebuild is running")
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, rebuildLock) }()
	b, err := newWorkingBuilder(ctx, pool, buildPrefix, opts)
	if err != nil {
		return Result{}, err
	}
	defer b.drop(ctx)
	if err := eventstore.PrepareGroup(ctx, pool, ConsumerGroup, b.topics...); err != nil {
		return b.result(), err
	}
	// Only a rebuild of every projection may move the group past where the others stand.
	whole := len(b.ps) == len(All())
	bound := func() (map[string]eventstore.Offset, error) {
		if whole {
			return nil, nil
		}
		return eventstore.GroupOffsets(ctx, pool, ConsumerGroup, b.topics, false)
	}
	catchUp := func() (int64, error) {
		until, err := bound()
		if err != nil {
			return 0, err
		}
		return b.catchUp(ctx, until)
	}
	if whole {
		err = b.reachHead(ctx)
	} else {
		_, err = catchUp()
	}
	if err != nil {
		return b.result(), err
	}
	if err := b.finish(ctx); err != nil {
		return b.result(), err
	}

	// Catch up with what arrived meanwhile until little is left for the swap to do.
	for {
		n, err := catchUp()
		if err != nil {
			return b.result(), err
		}
		if n < chunkSize {
			break
		}
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		group, err := eventstore.GroupOffsets(ctx, tx, ConsumerGroup, b.topics, true)
		if err != nil {
			return err
		}
		if whole {
			group = nil
		}
		if err := b.catchUpIn(ctx, tx, group); err != nil {
			return err
		}
		if err := swapTables(ctx, tx, b.schema, b.ps); err != nil {
			return err
		}
		if whole {
			for topic, at := range b.cursor() {
				if err := eventstore.SetGroupOffset(ctx, tx, ConsumerGroup, topic, at); err != nil {
					return err
				}
			}
		}
		if slices.ContainsFunc(b.ps, func(p Projection) bool { return p.Name == PendingApprovals.Name }) {
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, DashboardChannel, PendingChanged)
		}
		return err
	})
	return b.result(), err
}

// BuildInto builds the read models of opts.Projections from the log into schema, which
// must not exist yet, and keeps them there for inspection: with opts.Until, as they were
// when the event at that position was the newest. The live read models are not touched.
// The build runs in a working schema, renamed schema once whole: a build killed half-way
// left schema with a part of its rows, looking whole, and the next run refused for it (a
// probe); a working schema left behind is swept by the next build.
func BuildInto(ctx context.Context, pool *pgxpool.Pool, schema string, opts Options) (Result, error) {
	if strings.HasPrefix(schema, buildPrefix) || strings.HasPrefix(schema, verifyPrefix) {
		return Result{}, fmt.Errorf("schema %s: names beginning %s or %s are the working schemas of rebuilds and verifies, which the next one sweeps away: choose another", schema, buildPrefix, verifyPrefix)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return Result{}, err
	}
	if exists {
		return Result{}, fmt.Errorf("schema %s exists already: choose another, or drop it first (DROP SCHEMA %s CASCADE)", schema, pgx.Identifier{schema}.Sanitize())
	}
	b, err := newWorkingBuilder(ctx, pool, buildPrefix, opts)
	if err != nil {
		return Result{}, err
	}
	if err = b.reachHead(ctx); err == nil {
		err = b.finish(ctx)
	}
	if err == nil {
		_, err = pool.Exec(ctx, "ALTER SCHEMA "+pgx.Identifier{b.schema}.Sanitize()+" RENAME TO "+pgx.Identifier{schema}.Sanitize())
	}
	if err != nil {
		b.drop(ctx)
		return b.result(), err
	}
	b.release()
	return b.result(), nil
}

// builder carries a build from chunk to chunk. Every topic (a partition of the order
// events) has a worker of its own: a stream's events all travel on one partition, so each
// worker folds its orders alone, and the workers read, decode and write side by side.
type builder struct {
	pool       *pgxpool.Pool
	schema     string
	ps         []Projection
	needsState bool
	topics     []string
	workers    []*worker // one per topic, in the order of topics
	until      int64
	untilTime  time.Time
	// triggered is set once the shadow tables have their triggers: the counters' trigger
	// updates rows every chunk shares, which chunks written side by side would take in
	// different orders and deadlock on, so from then on the workers write one at a time.
	triggered bool

	// release lets go of a working schema's lock (newWorkingBuilder).
	release func()

	mu       sync.Mutex
	read     int64
	total    int64
	progress func(done, total int64)
}

// worker builds from one topic: where it stands, the orders it folds and the rows
// collected for its next write.
type worker struct {
	b      *builder
	topic  string
	cursor eventstore.Offset
	rows   []rows // one per projection
	states stateCache
	res    Result
	// past holds the orders that have an event recorded after the build's UntilTime: their
	// later events are left out too, so each order is a prefix of its stream.
	past map[string]bool
}

// The working schemas of rebuilds and verifies are named by these prefixes and a random
// suffix; BuildInto refuses a schema of such a name, which the next sweep would drop.
const (
	buildPrefix  = "replay_build_"
	verifyPrefix = "replay_verify_"
)

// schemaLockClass is the first key of the advisory lock a working schema's build holds
// while it runs (the second is the hash of its name).
const schemaLockClass = 0x7265 // "re"

// newWorkingBuilder sweeps the working schemas builds left behind (killed, or cut off from
// the database: a verify's was kept for good), then starts a build in a fresh working
// schema of prefix, marked in use by a session lock on its name while the build runs;
// the build's drop lets it go. A working schema whose lock can be taken is one no build
// is using.
func newWorkingBuilder(ctx context.Context, pool *pgxpool.Pool, prefix string, opts Options) (*builder, error) {
	stale, err := queryStrings(ctx, pool, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'replay\_build\_%' OR nspname LIKE 'replay\_verify\_%'`)
	if err != nil {
		return nil, err
	}
	for _, schema := range stale {
		release, taken, err := lockSchema(ctx, pool, schema, false)
		if err != nil {
			return nil, err
		}
		if taken {
			err = dropSchema(ctx, pool, schema)
			release()
			if err != nil {
				return nil, err
			}
		}
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	schema := prefix + hex.EncodeToString(suffix)
	release, _, err := lockSchema(ctx, pool, schema, true)
	if err != nil {
		return nil, err
	}
	b, err := newBuilder(ctx, pool, schema, opts)
	if err != nil {
		release()
		return nil, err
	}
	b.release = release
	return b, nil
}

// lockSchema takes the session lock of schema on a connection of its own, waiting for it
// when wait, and says whether it has it; release lets it go and gives the connection back.
func lockSchema(ctx context.Context, pool *pgxpool.Pool, schema string, wait bool) (release func(), taken bool, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	if wait {
		_, err = conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, schemaLockClass, schema)
		taken = err == nil
	} else {
		err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, schemaLockClass, schema).Scan(&taken)
	}
	if err != nil || !taken {
		conn.Release()
		return func() {}, false, err
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, hashtext($2))`, schemaLockClass, schema)
		conn.Release()
	}, true, nil
}

// newBuilder creates the build's tables in schema and counts the messages it is going to
// read.
func newBuilder(ctx context.Context, pool *pgxpool.Pool, schema string, opts Options) (*builder, error) {
	ps := opts.Projections
	if ps == nil {
		ps = All()
	}
	b := &builder{pool: pool, schema: schema, ps: ps, topics: topics(ps), until: opts.Until, untilTime: opts.UntilTime, progress: opts.Progress}
	for _, p := range ps {
		b.needsState = b.needsState || p.needsState
	}
	for _, topic := range b.topics {
		w := &worker{b: b, topic: topic, states: newStateCache(stateCacheSize / len(b.topics))}
		for _, p := range ps {
			w.rows = append(w.rows, p.rows())
		}
		b.workers = append(b.workers, w)
		if b.progress != nil {
			n, err := eventstore.Backlog(ctx, pool, topic, eventstore.Offset{})
			if err != nil {
				return nil, err
			}
			b.total += n
		}
	}
	return b, createTables(ctx, pool, schema, ps)
}

// result sums up what the workers replayed.
func (b *builder) result() Result {
	var r Result
	for _, w := range b.workers {
		r.Messages += w.res.Messages
		r.Events += w.res.Events
		for name, n := range w.res.Unknown {
			if r.Unknown == nil {
				r.Unknown = map[string]int64{}
			}
			r.Unknown[name] += n
		}
	}
	return r
}

// cursor is where the build stands in each topic.
func (b *builder) cursor() map[string]eventstore.Offset {
	out := map[string]eventstore.Offset{}
	for _, w := range b.workers {
		out[w.topic] = w.cursor
	}
	return out
}

// drop removes the build's schema, even when ctx is cancelled.
func (b *builder) drop(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_ = dropSchema(ctx, b.pool, b.schema)
	b.release()
}

// finish gives the shadow tables their indexes, counters and triggers; from then on the
// workers write one at a time (see triggered).
func (b *builder) finish(ctx context.Context) error {
	if err := finishTables(ctx, b.pool, b.schema, b.ps); err != nil {
		return err
	}
	b.triggered = true
	return nil
}

// catchUp has every worker read its topic from where it stands to what is readable now,
// or only up to until[topic] when until is given, side by side, one short transaction per
// chunk; it reports how many messages they read.
func (b *builder) catchUp(ctx context.Context, until map[string]eventstore.Offset) (int64, error) {
	g, ctx := errgroup.WithContext(ctx)
	if b.triggered {
		g.SetLimit(1)
	} else {
		g.SetLimit(runtime.GOMAXPROCS(0))
	}
	read := make([]int64, len(b.workers))
	for i, w := range b.workers {
		g.Go(func() (err error) {
			read[i], err = w.catchUp(ctx, b.pool, until)
			return err
		})
	}
	err := g.Wait()
	var n int64
	for _, r := range read {
		n += r
	}
	return n, err
}

// catchUpIn is catchUp inside tx, one worker after the other, a savepoint per chunk.
func (b *builder) catchUpIn(ctx context.Context, tx pgx.Tx, until map[string]eventstore.Offset) error {
	for _, w := range b.workers {
		if _, err := w.catchUp(ctx, tx, until); err != nil {
			return err
		}
	}
	return nil
}

// headPoll is how often a build looks again at a topic whose newest messages are not
// readable yet, because an older transaction is still open somewhere in the cluster.
const headPoll = 20 * time.Millisecond

// reachHead catches up with every message committed before it was called: what a
// consumer may not take yet (an older transaction is still open) it waits for.
func (b *builder) reachHead(ctx context.Context) error {
	heads := map[string]eventstore.Offset{}
	for _, topic := range b.topics {
		head, err := eventstore.Head(ctx, b.pool, topic)
		if err != nil {
			return err
		}
		heads[topic] = head
	}
	for {
		n, err := b.catchUp(ctx, nil)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(b.workers, func(w *worker) bool { return w.cursor.Less(heads[w.topic]) }) {
			return nil
		}
		if n == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(headPoll):
			}
		}
	}
}

// report tells the progress callback about n more messages read.
func (b *builder) report(n int) {
	if b.progress == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read += int64(n)
	b.total = max(b.total, b.read)
	b.progress(b.read, b.total)
}

// db is where a worker reads and writes: the pool, one short transaction per chunk, or
// the swap's transaction, one savepoint per chunk.
type db interface {
	eventstore.Querier
	Begin(ctx context.Context) (pgx.Tx, error)
}

// catchUp reads the worker's topic from its cursor to what is readable now (or up to
// until[topic]), a chunk at a time, and reports how many messages it read.
func (w *worker) catchUp(ctx context.Context, d db, until map[string]eventstore.Offset) (int64, error) {
	var end eventstore.Offset
	if until != nil {
		end = until[w.topic]
		if !w.cursor.Less(end) {
			return 0, nil
		}
	}
	var read int64
	for {
		var last eventstore.Offset
		n, err := eventstore.ReadLog(ctx, d, w.topic, w.cursor, end, chunkSize, func(at eventstore.Offset, payload []byte) error {
			last = at
			if payload == nil {
				return nil // a re-driven copy of a message already read
			}
			return w.fold(ctx, payload)
		})
		if err != nil {
			return read, err
		}
		if n > 0 {
			if err := pgx.BeginFunc(ctx, d, func(tx pgx.Tx) error { return w.write(ctx, tx) }); err != nil {
				return read, err
			}
			w.cursor = last
			w.states.age()
			read += int64(n)
			w.b.report(n)
		}
		if n < chunkSize {
			return read, nil
		}
	}
}

// fold decodes one message of the log and hands it to every projection that wants it.
func (w *worker) fold(ctx context.Context, payload []byte) error {
	w.res.Messages++
	var r eventstore.Recorded
	if err := jsonv2.Unmarshal(payload, &r); err != nil {
		return fmt.Errorf("decode event envelope: %w", err)
	}
	if w.b.until > 0 && r.Position > w.b.until || r.StreamType != orderstream.StreamType || w.after(r) {
		return nil
	}
	if order.Known(r.Name) {
		w.res.Events++
	} else {
		// A newer release's: folded as a step of its order (orderstream.DecodeOrUnknown),
		// which only the order summaries read, every event being theirs.
		if w.res.Unknown == nil {
			w.res.Unknown = map[string]int64{}
		}
		w.res.Unknown[r.Name]++
	}
	r, err := orderstream.Upcast(r)
	if err != nil {
		return err
	}
	if !w.b.needsState && !slices.ContainsFunc(w.b.ps, func(p Projection) bool { return p.wants(r) }) {
		return nil // nobody reads it: not even decoded
	}
	e, err := orderstream.DecodeOrUnknown(r)
	if err != nil {
		return err
	}
	var o *OrderAt
	if w.b.needsState {
		if o, err = w.stateAt(ctx, r, e); err != nil {
			return err
		}
	}
	for i, p := range w.b.ps {
		if p.wants(r) {
			w.rows[i].add(r, e, o)
		}
	}
	return nil
}

// after reports whether r is past the build's UntilTime: recorded after it, or after an
// event of its order that was. An order's events are recorded in version order but for a
// transaction that began before the version under it committed (recorded_at is when a
// transaction began): its version stands after one recorded later (the review).
func (w *worker) after(r eventstore.Recorded) bool {
	switch {
	case w.b.untilTime.IsZero():
		return false
	case w.past[r.StreamID]:
		return true
	case r.RecordedAt.After(w.b.untilTime):
		if w.past == nil {
			w.past = map[string]bool{}
		}
		w.past[r.StreamID] = true
		return true
	}
	return false
}

// stateAt returns r's order as of r. The log hands a stream's events over in order, so
// the state in memory is normally one version behind; an order that fell out of memory,
// or whose events came out of order (two transactions committing the other way round),
// is folded from the event store up to r instead.
func (w *worker) stateAt(ctx context.Context, r eventstore.Recorded, e order.Event) (*OrderAt, error) {
	o := w.states.get(r.StreamID)
	switch {
	case o != nil && r.Version == o.Version+1, o == nil && r.Version == 1:
		if o == nil {
			o = &OrderAt{}
			w.states.put(r.StreamID, o)
		}
		o.Apply(r, e)
		return o, nil
	case o != nil && r.Version <= o.Version:
		return o, nil // folded already, from the event store
	}
	o, err := foldOrder(ctx, w.b.pool, r.StreamID, r.Version)
	if err != nil {
		return nil, err
	}
	w.states.put(r.StreamID, o)
	return o, nil
}

// write stores the rows collected since the last write; they are new to the build's
// tables.
func (w *worker) write(ctx context.Context, tx pgx.Tx) error {
	for _, r := range w.rows {
		if err := r.write(ctx, tx, w.b.schema, true); err != nil {
			return err
		}
	}
	return nil
}

// stateCache keeps the orders a worker folds, at most about max of them: the orders used
// least recently are forgotten a generation at a time.
type stateCache struct {
	cur, old map[string]*OrderAt
	max      int
}

func newStateCache(max int) stateCache {
	return stateCache{cur: map[string]*OrderAt{}, old: map[string]*OrderAt{}, max: max}
}

func (c *stateCache) get(id string) *OrderAt {
	if o := c.cur[id]; o != nil {
		return o
	}
	o := c.old[id]
	if o != nil {
		c.cur[id] = o
		delete(c.old, id)
	}
	return o
}

func (c *stateCache) put(id string, o *OrderAt) { c.cur[id] = o }

// age starts a new generation when the current one is full.
func (c *stateCache) age() {
	if len(c.cur) >= c.max/2 {
		c.old, c.cur = c.cur, make(map[string]*OrderAt, len(c.cur))
	}
}
