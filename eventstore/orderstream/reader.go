package orderstream

import (
	"context"
	"sync"
	"time"

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
// whichever process wrote it. There is no cache to invalidate.
type Reader struct {
	q       eventstore.Querier
	slots   int // queries in flight at most
	maxIDs  int // orders per query at most
	timeout time.Duration

	mu      sync.Mutex
	pending []*read
	running int
}

type read struct {
	id   string
	done chan struct{}
	o    *order.Order
	err  error
}

// NewReader returns a Reader over q (a pool) running at most slots queries at once.
func NewReader(q eventstore.Querier, slots int) *Reader {
	return &Reader{q: q, slots: max(slots, 1), maxIDs: 256, timeout: 10 * time.Second}
}

// Load returns the order's current state, as Load does. Reads of one order answered by
// the same query share the returned Order: callers must not change it.
func (r *Reader) Load(ctx context.Context, id string) (*order.Order, error) {
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

// query answers batch with one LoadMany. The query is shared, so no single caller's
// context may cancel it; it has a timeout of its own instead.
func (r *Reader) query(batch []*read) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	ids := make([]string, 0, len(batch))
	for _, rd := range batch {
		ids = append(ids, rd.id)
	}
	orders, err := LoadMany(ctx, r.q, ids)
	for _, rd := range batch {
		switch c, ok := orders[rd.id]; {
		case err != nil:
			rd.err = err
		case !ok:
			rd.err = apperr.Errorf(apperr.CodeNotFound, "order %s not found", rd.id)
		default:
			rd.o = c.Order
		}
		close(rd.done)
	}
}
