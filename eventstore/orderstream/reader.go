package orderstream

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
)

// Reader loads single orders for many concurrent callers (the API's status polls) and
// coalesces them: while a query is in flight, the reads that arrive queue, and the next
// query takes them all, so a thousand polls a second cost a few dozen round trips instead
// of a thousand. It adds no wait when idle: a read that finds a free query slot runs at
// once.
//
// It never serves a stale order. Every read is answered by a query that started after
// the read was asked, so it sees every commit that finished before (read-your-writes),
// whichever process wrote it; or, while this process holds the read lease, from its
// Memory, which is as fresh. The reader remembers the newest state it has read of each
// order, and the query names the position it holds: Postgres sends the snapshot only
// when the order has moved since. Most polls find their order where it was, and then
// cost neither the snapshot's bytes nor its decoding.
type Reader struct {
	q        DB
	mem      *Memory // answers first, when it may; nil: every read asks Postgres
	slots    int     // queries in flight at most
	maxIDs   int     // orders per query at most
	timeout  time.Duration
	maxKnown int // orders remembered at most

	mu      sync.Mutex
	pending []*read
	running int
	known   map[string]Current // the newest state read of each order
}

type read struct {
	id   string
	done chan struct{}
	o    *order.Order
	err  error
}

// DB is what a Reader reads through: a pool.
type DB interface {
	eventstore.Querier
	eventstore.Batcher
}

// NewReader returns a Reader over q (a pool) running at most slots queries at once,
// answering from mem first when it is not nil.
func NewReader(q DB, slots int, mem *Memory) *Reader {
	return &Reader{q: q, mem: mem, slots: max(slots, 1), maxIDs: 256, timeout: 10 * time.Second, maxKnown: 10000, known: map[string]Current{}}
}

// Load returns the order's current state, as Load does. Reads of one order answered by
// the same query, or from memory, share the returned Order: callers must not change it.
func (r *Reader) Load(ctx context.Context, id string) (*order.Order, error) {
	if r.mem != nil {
		if o, ok := r.mem.lookup(id); ok {
			return o, nil
		}
	}
	rd := &read{id: id, done: make(chan struct{})}
	r.mu.Lock()
	r.pending = append(r.pending, rd)
	start := r.running < r.slots
	if start {
		r.running++
	}
	r.mu.Unlock()
	if start {
		r.serve()
	}
	select {
	case <-rd.done:
		return rd.o, rd.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// serve runs one query for the reads pending now. If more arrived meanwhile, it hands its
// slot to a new goroutine rather than keep its caller, whose own read is answered, from
// responding.
func (r *Reader) serve() {
	r.mu.Lock()
	batch := r.pending[:min(len(r.pending), r.maxIDs)]
	r.pending = append([]*read(nil), r.pending[len(batch):]...)
	r.mu.Unlock()
	if len(batch) > 0 {
		r.query(batch)
	}
	r.mu.Lock()
	more := len(r.pending) > 0
	if !more {
		r.running--
	}
	r.mu.Unlock()
	if more {
		go r.serve()
	}
}

// query answers batch with one query. The query is shared, so no single caller's
// context may cancel it; it has a timeout of its own instead.
func (r *Reader) query(batch []*read) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	ids := make([]string, 0, len(batch))
	r.mu.Lock()
	held := make(map[string]Current, len(batch))
	for _, rd := range batch {
		if _, dup := held[rd.id]; !dup {
			ids = append(ids, rd.id)
			held[rd.id] = r.known[rd.id]
		}
	}
	r.mu.Unlock()
	var c *capture
	var xids []uint64
	if r.mem != nil {
		c = r.mem.capture(ids)
	}
	if c != nil {
		xids = c.xids
	}
	orders, refused, ended, err := loadChanged(ctx, r.q, ids, held, xids)
	if err == nil {
		r.remember(orders)
		if c != nil {
			r.mem.settle(c, ended, orders)
		}
	}
	for _, rd := range batch {
		switch c, ok := orders[rd.id]; {
		case err != nil:
			rd.err = err
		case refused[rd.id].Err != nil:
			// Its own reads only: the others the query answers have their orders.
			rd.err = refused[rd.id].Err
		case !ok:
			rd.err = apperr.Errorf(apperr.CodeNotFound, "order %s not found", apperr.Excerpt(rd.id))
		default:
			rd.o = c.Order
		}
		close(rd.done)
	}
}

// remember keeps the orders read, each unless a newer state is known already, and forgets
// about a tenth of what it knows, chosen at random, when it knows too much.
func (r *Reader) remember(orders map[string]Current) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range orders {
		if k, ok := r.known[id]; !ok || k.Position < c.Position {
			r.known[id] = c
		}
	}
	if len(r.known) > r.maxKnown {
		forget := r.maxKnown / 10
		for id := range r.known {
			if forget--; forget < 0 {
				break
			}
			delete(r.known, id)
		}
	}
}

// loadChanged is LoadMany for orders of which held has a state (a zero Current when not):
// a snapshot is read and decoded only when its position is not the one held, and an order
// that has not moved is answered with the state held. It also says which of the
// transactions xids had ended before it read (for Memory.settle): asked first, in the same
// round trip, so that the snapshots, read by a later statement, see their commits. The
// orders it cannot fold (loadMissing) are refused, each with why.
func loadChanged(ctx context.Context, q DB, ids []string, held map[string]Current, xids []uint64) (orders map[string]Current, refused map[string]Refusal, ended map[uint64]bool, err error) {
	positions := make([]int64, len(ids))
	for i, id := range ids {
		positions[i] = held[id].Position
	}
	// One round trip, planned once as a lookup by key (PlanByKey): planned for every
	// call, as Postgres chose to, this read spent as long in the planner as in execution.
	b := &pgx.Batch{}
	ended = make(map[uint64]bool, len(xids))
	if len(xids) > 0 {
		b.Queue(endedSQL, xids)
	}
	b.Queue(eventstore.PlanByKey)
	b.Queue(changedSnapshotsSQL, ids, positions, snapshotSchema)
	orders = make(map[string]Current, len(ids))
	err = func() error {
		br := q.SendBatch(ctx, b)
		defer br.Close()
		if len(xids) > 0 {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			var xid uint64
			if _, err := pgx.ForEachRow(rows, []any{&xid}, func() error {
				ended[xid] = true
				return nil
			}); err != nil {
				return err
			}
		}
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if err := readSnapshots(rows, held, orders); err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load snapshots: %w", err)
	}
	refused, err = loadMissing(ctx, q, ids, orders)
	return orders, refused, ended, err
}

// endedSQL lists the transactions of $1 that have ended, committed or aborted, or are too
// old for Postgres to say (null): pg_xact_status says "in progress" until a transaction
// has left the running set, so a snapshot taken after it sees its commit.
const endedSQL = `SELECT x FROM unnest($1::bigint[]) AS x
	WHERE pg_xact_status(x::text::xid8) IS DISTINCT FROM 'in progress'`

// changedSnapshotsSQL reads, for each order of $1 that has a snapshot in the current
// layout ($3), its position, and its state only when the position is not the one held
// ($2). An inner join, it is planned as one probe of the snapshots' primary key per order
// on every store tried (TestSnapshotReadsAreLookupsByKeyWhateverTheTablesHold); written
// as the saga's load is (queuedSnapshotsSQL), it read the same pages in the same time.
const changedSnapshotsSQL = `
	SELECT s.stream_id, s.position, CASE WHEN s.position <> k.position THEN s.state END AS state
	FROM unnest($1::text[], $2::bigint[]) AS k(id, position)
	JOIN snapshots s ON s.stream_id = k.id AND s.schema = $3`
