package orderstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// testLease is a short lease, so that the tests' waits for it are short.
var testLease = LeaseConfig{Term: time.Second, Renew: 200 * time.Millisecond, Check: 50 * time.Millisecond, Margin: 100 * time.Millisecond, Retry: 200 * time.Millisecond}

// leased is one process's memory and reader, holding the read lease when it can.
type leased struct {
	mem    *Memory
	reader *Reader
	ctx    context.Context // its appends go through mem
	stop   func()
}

func startLeased(t *testing.T, pool *pgxpool.Pool) *leased {
	ctx, cancel := context.WithCancel(context.Background())
	mem := NewMemory()
	done := make(chan struct{})
	connect := func(ctx context.Context) (*pgx.Conn, error) {
		return pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	}
	go func() {
		defer close(done)
		mem.Run(ctx, connect, testLease, slog.New(slog.DiscardHandler))
	}()
	l := &leased{mem: mem, reader: NewReader(pool, 2, mem), ctx: WithMemory(context.Background(), mem)}
	var once sync.Once
	l.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(l.stop)
	return l
}

func (l *leased) serving() bool { return l.mem.Serving() }

// soleWriter places n orders and starts a process holding the lease, the only writer.
func soleWriter(t *testing.T, n int) (*pgxpool.Pool, []string, *leased) {
	pool := pgtest.Pool(t)
	ids := placeOrders(t, pool, n)
	l := startLeased(t, pool)
	waitUntil(t, "the only writer holds the lease", l.serving)
	return pool, ids, l
}

// waitUntil polls cond until it holds, failing the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// note appends a note to order id through ctx, in a transaction of its own, and returns
// the order's new version.
func note(t *testing.T, ctx context.Context, pool *pgxpool.Pool, id string) int {
	t.Helper()
	var version int
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		o, err := Update(ctx, tx, id, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
			return o.AddNote("test", "a note", time.Now())
		})
		if err == nil {
			version = o.Version
		}
		return err
	})
	require.NoError(t, err)
	return version
}

// fromMemory reads order id through l's reader, and reports whether memory answered.
func (l *leased) fromMemory(t *testing.T, id string) (*order.Order, bool) {
	t.Helper()
	if o, ok := l.mem.lookup(id); ok {
		return o, true
	}
	o, err := l.reader.Load(context.Background(), id)
	require.NoError(t, err)
	return o, false
}

// answering reads order id through l until memory answers it: the first read fills
// memory, and the second is answered from it.
func (l *leased) answering(t *testing.T, id string) {
	t.Helper()
	_, _ = l.fromMemory(t, id)
	_, answered := l.fromMemory(t, id)
	require.True(t, answered, "memory answers the second read")
}

// The only writer holds the lease and answers from memory; every read after a commit,
// its own or rolled back, shows exactly what was committed, and memory answers again once
// a read has seen the write end.
func TestMemoryAnswersReadsAndNeverMissesACommit(t *testing.T) {
	ctx := context.Background()
	pool, ids, l := soleWriter(t, 1)
	id := ids[0]

	o, answered := l.fromMemory(t, id)
	assert.False(t, answered, "nothing is in memory before a read")
	assert.Equal(t, 1, o.Version)
	o, answered = l.fromMemory(t, id)
	assert.True(t, answered, "an order read while serving is answered from memory")
	assert.Equal(t, 1, o.Version)

	for want := 2; want <= 6; want++ {
		assert.Equal(t, want, note(t, l.ctx, pool, id))
		o, answered := l.fromMemory(t, id)
		assert.False(t, answered, "the first read after a write asks Postgres")
		assert.Equal(t, want, o.Version, "a read after a commit sees it")
		o, answered = l.fromMemory(t, id)
		assert.True(t, answered, "once a read saw the write end, memory answers")
		assert.Equal(t, want, o.Version)
	}

	// A write rolled back is never shown, and does not keep memory from answering.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = Update(l.ctx, tx, id, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
		return o.AddNote("test", "never", time.Now())
	})
	require.NoError(t, err)
	o, answered = l.fromMemory(t, id)
	assert.False(t, answered, "a write in flight sends reads to Postgres")
	assert.Equal(t, 6, o.Version)
	require.NoError(t, tx.Rollback(ctx))
	o, answered = l.fromMemory(t, id)
	assert.False(t, answered)
	assert.Equal(t, 6, o.Version)
	o, answered = l.fromMemory(t, id)
	assert.True(t, answered, "the rolled-back write, seen to end, no longer holds memory back")
	assert.Equal(t, 6, o.Version)

	// An order placed after it was read as missing is found.
	_, err = l.reader.Load(ctx, "o-later")
	require.Error(t, err)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		o := &order.Order{}
		events, err := o.Place(order.PlaceOrder{OrderID: "o-later", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 100, At: time.Now()})
		if err != nil {
			return err
		}
		o.ID = "o-later"
		return Append(l.ctx, tx, o, eventstore.Metadata{}, events...)
	})
	require.NoError(t, err)
	o, _ = l.fromMemory(t, "o-later")
	assert.Equal(t, 1, o.Version)
}

// Another writer of orders, without the lease (a second replica), waits in
// Postgres until the holder has stopped answering from memory and let it in; the holder
// takes the lease again once it is gone, and never shows a state older than its write.
func TestAnotherWriterIsLetInAndSeen(t *testing.T) {
	ctx := context.Background()
	pool, ids, l := soleWriter(t, 1)
	id := ids[0]
	l.answering(t, id)

	version := note(t, ctx, pool, id) // no memory in ctx: written as any other writer
	o, _ := l.fromMemory(t, id)
	assert.Equal(t, version, o.Version, "the holder's reader sees another process's write")

	waitUntil(t, "the lease is taken again", l.serving)
	o, _ = l.fromMemory(t, id)
	assert.Equal(t, version, o.Version)
	o, answered := l.fromMemory(t, id)
	assert.True(t, answered)
	assert.Equal(t, version, o.Version)
}

// A change to an order's snapshot made outside the application (a script, psql), which
// calls no guard of its own, is held by the snapshots' trigger until the holder has
// stopped answering from memory and let it in; the next read shows it.
func TestASnapshotChangedOutsideTheApplicationIsSeen(t *testing.T) {
	ctx := context.Background()
	pool, ids, l := soleWriter(t, 1)
	id := ids[0]
	l.answering(t, id)

	// A new position, as a writer that moved the order would give it.
	_, err := pool.Exec(ctx, `UPDATE snapshots SET position = position + 1000000,
		state = (state::jsonb || '{"status": "cancelled"}')::json WHERE stream_id = $1`, id)
	require.NoError(t, err)
	o, _ := l.fromMemory(t, id)
	assert.Equal(t, order.StatusCancelled, o.Status)
}

// An order without a snapshot in the current layout is folded from its events, and no
// guard holds writes to events: memory never answers such an order, so an event written
// outside the application is seen by the next read.
func TestAnOrderWithoutASnapshotIsNeverAnsweredFromMemory(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	id := placeOrders(t, pool, 1)[0]
	_, err := pool.Exec(ctx, `DELETE FROM snapshots WHERE stream_id = $1`, id)
	require.NoError(t, err)
	l := startLeased(t, pool)
	waitUntil(t, "the only writer holds the lease", l.serving)
	placed, _ := l.fromMemory(t, id)
	_, answered := l.fromMemory(t, id)
	assert.False(t, answered, "a state folded from events is not kept")

	_, err = pool.Exec(ctx, `INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_name, payload)
		VALUES (gen_random_uuid(), $1, $2, $3, $4, $5)`, id, StreamType, placed.Version+1, order.NameNoteAdded,
		`{"by": "psql", "text": "written outside the application", "at": "2026-12-05T12:00:00Z"}`)
	require.NoError(t, err)
	o, answered := l.fromMemory(t, id)
	assert.False(t, answered)
	assert.Equal(t, placed.Version+1, o.Version, "the read shows the event written outside")
}

// A holder whose lock connection is cut loses its lock at once but may believe in its
// lease until it lapses: another writer's commit waits until then.
func TestALeaseLostUnseenIsWaitedOut(t *testing.T) {
	ctx := context.Background()
	pool, ids, l := soleWriter(t, 1)
	id := ids[0]

	var killed bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = 76431 AND objid = 1 AND mode = 'ExclusiveLock' AND granted`).Scan(&killed))
	require.True(t, killed)
	l.mem.mu.Lock()
	believed := l.mem.deadline // no renewal succeeds from now on
	l.mem.mu.Unlock()

	note(t, ctx, pool, id)
	assert.GreaterOrEqual(t, boottime(), believed, "the writer committed only after the holder's lease had lapsed")
}

// A new holder answers from memory only once every write made under an older lease has
// ended: a write that passed the guard under the old lease holds the new holder's fence.
func TestANewHolderWaitsForTheOldLeasesWrites(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	id := placeOrders(t, pool, 1)[0]
	a := startLeased(t, pool)
	waitUntil(t, "a holds the lease", a.serving)

	held, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = held.Rollback(ctx) }()
	o, err := Update(a.ctx, held, id, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
		return o.AddNote("test", "slow", time.Now())
	})
	require.NoError(t, err, "the write passed the guard under a's lease")

	a.stop() // a's lease ends with its connection, and lapses
	b := startLeased(t, pool)
	waitUntil(t, "b waits at the fence", func() bool {
		var waiting bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
			AND classid = 76431 AND objid = 2 AND NOT granted)`).Scan(&waiting))
		return waiting
	})
	assert.False(t, b.serving(), "b does not answer while a write under the old lease may still commit")
	require.NoError(t, held.Commit(ctx))
	waitUntil(t, "b holds the lease", b.serving)
	got, _ := b.fromMemory(t, id)
	assert.Equal(t, o.Version, got.Version)
}

// Two replicas hand the lease over while both write and read: no read, from memory or
// not, ever shows an order older than a write acknowledged before it was asked. Orders 0
// and 2 are written in transactions whose commit memory hears of (eventstore.BeginFunc),
// 1 and 3 in pgx's, whose commits only reads settle.
func TestHandOverUnderLoadNeverShowsAStaleOrder(t *testing.T) {
	pool := pgtest.Pool(t)
	ids := placeOrders(t, pool, 4)
	a := startLeased(t, pool)
	waitUntil(t, "a holds the lease", a.serving)

	var acked [4]atomic.Int64
	for i := range acked {
		acked[i].Store(1)
	}
	var fromMemory atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(fn func()) { repeat(&wg, stop, fn) }
	write := func(l *leased, i int) func() {
		return func() {
			var version int
			begin := func(ctx context.Context, fn func(pgx.Tx) error) error { return pgx.BeginFunc(ctx, pool, fn) }
			if i%2 == 0 {
				begin = func(ctx context.Context, fn func(pgx.Tx) error) error { return eventstore.BeginFunc(ctx, pool, fn) }
			}
			err := begin(l.ctx, func(tx pgx.Tx) error {
				o, err := Update(l.ctx, tx, ids[i], eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
					return o.AddNote("test", "a note", time.Now())
				})
				if err == nil {
					version = o.Version
				}
				return err
			})
			if assert.NoError(t, err) {
				acked[i].Store(int64(version)) // committed: acknowledged
			}
		}
	}
	for i, id := range ids {
		loop(func() {
			want := acked[i].Load()
			o, err := a.reader.Load(context.Background(), id)
			if !assert.NoError(t, err) {
				return
			}
			if _, ok := a.mem.lookup(id); ok {
				fromMemory.Add(1)
			}
			if o.Version < int(want) {
				t.Errorf("order %s read at version %d after version %d was acknowledged", id, o.Version, want)
			}
		})
	}
	loop(write(a, 0))
	loop(write(a, 1))
	waitUntil(t, "a answers from memory under load", func() bool { return fromMemory.Load() > 0 })
	b := startLeased(t, pool)
	loop(write(b, 2))
	loop(write(b, 3))
	waitUntil(t, "a lets b in", func() bool { return !a.serving() })
	// Both write now, so neither may hold the lease.
	for range 10 {
		for i := range ids {
			v := acked[i].Load()
			waitUntil(t, fmt.Sprintf("order %d moves", i), func() bool { return acked[i].Load() > v })
		}
		assert.False(t, a.serving() || b.serving(), "no lease while two processes write")
	}
	close(stop)
	wg.Wait()
	b.stop()
	waitUntil(t, "a takes the lease again", a.serving)
}

// An append whose result the client never got (its context ended, its connection broke)
// may still commit: its order is not answered from memory again in this lease. One that
// Postgres refused cannot commit, and memory answers again once a read has seen it end.
func TestAnAppendOfUnknownOutcomeKeepsItsOrderOutOfMemory(t *testing.T) {
	_, ids, l := soleWriter(t, 2)
	for _, c := range []struct {
		id      string
		err     error
		answers bool
	}{
		{ids[0], context.DeadlineExceeded, false},
		{ids[1], &pgconn.PgError{Code: "23505"}, true},
	} {
		l.fromMemory(t, c.id)
		_, answered := l.fromMemory(t, c.id)
		require.True(t, answered)
		a, err := l.mem.lease(context.Background(), c.id)
		require.NoError(t, err)
		require.NotNil(t, a, "held")
		a.landed(0, c.err)
		l.fromMemory(t, c.id)
		_, answered = l.fromMemory(t, c.id)
		assert.Equal(t, c.answers, answered, "after %v", c.err)
	}
}

// A writer under REPEATABLE READ, whose snapshot predates the lease's last renewal, does
// not take the lease it saw then for the lease now: it fails, or waits the lease out.
func TestARepeatableReadWriterDoesNotMisreadTheLease(t *testing.T) {
	ctx := context.Background()
	pool, ids, l := soleWriter(t, 1)
	id := ids[0]
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	o, err := Load(ctx, tx, id) // the snapshot is taken
	require.NoError(t, err)
	var seen time.Time
	require.NoError(t, tx.QueryRow(ctx, `SELECT until FROM read_lease`).Scan(&seen))
	waitUntil(t, "the lease the snapshot shows has lapsed, renewed since", func() bool {
		var lapsed bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT clock_timestamp() > $1`, seen).Scan(&lapsed))
		return lapsed
	})
	require.True(t, l.serving())
	var killed bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = 76431 AND objid = 1 AND mode = 'ExclusiveLock' AND granted`).Scan(&killed))
	require.True(t, killed)
	l.mem.mu.Lock()
	believed := l.mem.deadline
	l.mem.mu.Unlock()
	_, err = UpdateLoaded(ctx, tx, o, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
		return o.AddNote("test", "from an old snapshot", time.Now())
	})
	if err == nil {
		err = tx.Commit(ctx)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		assert.Equal(t, "40001", pgErr.Code, "%v", err)
		return
	}
	require.NoError(t, err)
	assert.GreaterOrEqual(t, boottime(), believed, "the writer committed only after the holder's lease had lapsed")
}

// A write this process commits in a transaction whose COMMIT Postgres answers
// (eventstore.BeginFunc, a consumer's batch) is answered from memory at once, exactly as
// Postgres holds it: no read needs to ask Postgres whether it ended. One rolled back,
// wholly or in a savepoint, is not, nor one committed while another append to the order
// has not landed.
func TestACommitPostgresAnsweredIsAnsweredFromMemoryAtOnce(t *testing.T) {
	ctx := context.Background()
	pool, ids, l := soleWriter(t, 1)
	id := ids[0]
	l.answering(t, id)
	version := 1
	addNote := func(tx pgx.Tx) error {
		_, err := Update(l.ctx, tx, id, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
			return o.AddNote("test", "a note", time.Now())
		})
		return err
	}
	failed := errors.New("the request failed")
	for _, c := range []struct {
		name    string
		write   func() error
		commits bool
		answers bool
	}{
		{"committed", func() error { return eventstore.BeginFunc(ctx, pool, addNote) }, true, true},
		{"committed, pipelined", func() error {
			return eventstore.BeginPipelinedFunc(ctx, pool, func(p *eventstore.Pipeline) error { return addNote(p) })
		}, true, true},
		{"rolled back", func() error {
			return eventstore.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return errors.Join(addNote(tx), failed) })
		}, false, false},
		{"rolled back in a savepoint of a transaction committed", func() error {
			return eventstore.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error { return errors.Join(addNote(sp), failed) })
				require.ErrorIs(t, err, failed)
				return nil
			})
		}, false, false},
		{"committed while another append has not landed", func() error {
			other, err := l.mem.lease(ctx, id)
			require.NoError(t, err)
			require.NotNil(t, other)
			defer other.landed(0, &pgconn.PgError{Code: "23505"}) // refused, in the end
			return eventstore.BeginFunc(ctx, pool, addNote)
		}, true, false},
	} {
		err := c.write()
		if c.commits {
			require.NoError(t, err, c.name)
			version++
		}
		o, answered := l.fromMemory(t, id)
		assert.Equal(t, c.answers, answered, "%s: answered from memory", c.name)
		assert.Equal(t, version, o.Version, c.name)
		stored, err := Load(ctx, pool, id)
		require.NoError(t, err)
		assert.Equal(t, stored, o, "%s: memory answers what Postgres holds", c.name)
		l.answering(t, id)
	}

	// As the saga writes: two appends queued on the pipeline, joined into one statement,
	// sent with the COMMIT.
	require.NoError(t, eventstore.BeginPipelinedFunc(ctx, pool, func(p *eventstore.Pipeline) error {
		o, err := Load(ctx, p, id)
		if err != nil {
			return err
		}
		for range 2 {
			if _, err := DecideAndAppend(l.ctx, p, o, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
				return o.AddNote("test", "a queued note", time.Now())
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	o, answered := l.fromMemory(t, id)
	assert.True(t, answered, "queued appends: answered from memory")
	assert.Equal(t, version+2, o.Version)
	stored, err := Load(ctx, pool, id)
	require.NoError(t, err)
	assert.Equal(t, stored, o, "queued appends: memory answers what Postgres holds")
}

// An append's commit puts the state it wrote in memory only as the order's last append
// begun, with every other append to the order known to have ended, and begun while memory
// was serving. Each rule taken out, memory would answer a state Postgres no longer holds.
func TestACommitFillsMemoryOnlyAsTheOrdersLastAppend(t *testing.T) {
	ctx := context.Background()
	pool, ids, l := soleWriter(t, 1)
	id := ids[0]
	l.answering(t, id)
	first, err := Load(ctx, pool, id)
	require.NoError(t, err)
	stale, err := json.Marshal(first)
	require.NoError(t, err)
	begin := func() *leasedAppend {
		a, err := l.mem.lease(ctx, id)
		require.NoError(t, err)
		require.NotNil(t, a, "held")
		return a
	}
	commitNote := func() {
		require.NoError(t, eventstore.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := Update(l.ctx, tx, id, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
				return o.AddNote("test", "a note", time.Now())
			})
			return err
		}))
	}
	inMemory := func() bool { _, ok := l.mem.lookup(id); return ok } // no read that could settle

	// Another append ran in a transaction memory has not seen end: a commit meanwhile
	// does not fill memory.
	other := begin()
	other.landed(1, nil)
	commitNote()
	assert.False(t, inMemory(), "another append's transaction may still commit")
	// That other append's commit comes last: it is not the order's last append begun,
	// and its state is older than the one committed since.
	other.committed(stale)
	assert.False(t, inMemory(), "an append followed by another does not fill memory")

	// An append begun before memory began serving (here, before a second start) may have
	// been overtaken by an older lease's append still in flight then.
	early := begin()
	early.landed(2, nil)
	l.mem.startServing()
	early.committed(stale)
	assert.False(t, inMemory(), "an append begun before serving does not fill memory")

	commitNote()
	o, ok := l.mem.lookup(id)
	require.True(t, ok, "the order's last append, alone, fills memory")
	stored, err := Load(ctx, pool, id)
	require.NoError(t, err)
	assert.Equal(t, stored, o)
}
