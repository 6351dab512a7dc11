package orderstream

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sys/unix"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
)

// Memory lets one process answer reads of orders without asking Postgres, and never
// stale: a read answered from memory shows every commit to the order that finished before
// it was asked (docs/ARCHITECTURE.md, "Reads from memory").
//
// It may only while it holds the read lease (Lease, and the guard of
// sql/00081_read_lease.sql and sql/00082_guard_snapshots_only.sql): no other process can
// then commit a change to an order's snapshot, which is what every read returns, so every
// such commit is this process's own, made under the lease's token. It keeps only states
// read from snapshots, or written to them, never one folded from events (Current.Folded),
// whose writes no guard holds. Each append it makes to an order takes the order's state
// out of memory at once, and the order is read from Postgres until its outcome is known,
// in one of two ways:
//   - Postgres answers the append's COMMIT (eventstore.AfterCommit: a transaction begun by
//     eventstore.BeginFunc or a batch consumer). If no other append to the order has begun
//     since or is still open, the snapshot it wrote is the order's state: memory takes it.
//   - A read asks Postgres whether the append's transaction has ended (pg_xact_status)
//     before it takes its snapshot, in the same round trip, and only a read that finds
//     every such transaction ended, with no new append begun meanwhile, puts the order's
//     state back in memory.
//
// So memory never holds a state older than a commit this process knows of, however its
// transactions end (a consumer's, an HTTP request's, the delayed queue's, rolled back
// or cut off): what it cannot see end stays read from Postgres.
type Memory struct {
	mu       sync.Mutex
	mode     leaseMode
	token    string        // the lease's token, while holding
	tenure   uint64        // counts the leases held; an append knows the one it began in
	claimed  chan struct{} // closed when a claim ends
	serving  bool          // memory is filled and may answer
	deadline time.Duration // boottime until which the lease holds, as this process counts
	seq      uint64        // counts appends begun, tenures and evictions
	evicted  uint64        // the seq of the last eviction
	fill     uint64        // the seq at which serving began; reads captured before it fill nothing
	orders   map[string]*remembered
	max      int // orders remembered at most
	answered atomic.Uint64
}

type leaseMode int

const (
	writing  leaseMode = iota // no lease: appends written as any writer's, memory unused
	claiming                  // taking the lease: appends wait until it is taken or not
	holding                   // holding the lease: appends carry its token
)

// remembered is what Memory knows of one order.
type remembered struct {
	state   *order.Order // answers reads while not nil
	begun   uint64       // the seq of the last append begun
	unknown int          // appends begun whose statement has not run yet
	pending []uint64     // transactions of appends whose end no read has seen yet
}

// NewMemory returns a Memory that answers nothing until Lease.Run takes the lease.
func NewMemory() *Memory {
	return &Memory{orders: map[string]*remembered{}, max: 10000, claimed: make(chan struct{})}
}

// WithMemory returns ctx whose appends to order streams go through m: under its lease
// while it holds one, and known to it.
func WithMemory(ctx context.Context, m *Memory) context.Context {
	return context.WithValue(ctx, memoryKey{}, m)
}

type memoryKey struct{}

// underLease returns ctx for an append to order id: carrying the lease's token and
// telling m how the append went, while m holds the lease, with the append as m knows it;
// nil when m holds no lease. While m is taking it, it waits.
func underLease(ctx context.Context, id string) (context.Context, *leasedAppend, error) {
	m, ok := ctx.Value(memoryKey{}).(*Memory)
	if !ok {
		return ctx, nil, nil
	}
	a, err := m.lease(ctx, id)
	if err != nil || a == nil {
		return ctx, nil, err
	}
	return eventstore.WithWriteLease(ctx, eventstore.WriteLease{Token: a.token, Landed: a.landed}), a, nil
}

// leasedAppend is an append to an order begun under m's lease.
type leasedAppend struct {
	m      *Memory
	token  string
	tenure uint64 // the lease it began in
	id     string
	seq    uint64 // m.seq when it began
	xid    uint64 // its transaction, once its statement has run
}

// lease begins an append to order id under m's lease, if m holds one (nil if not).
func (m *Memory) lease(ctx context.Context, id string) (*leasedAppend, error) {
	for {
		m.mu.Lock()
		switch m.mode {
		case writing:
			m.mu.Unlock()
			return nil, nil
		case claiming:
			wait := m.claimed
			m.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		m.seq++
		r := m.remember(id)
		r.state, r.begun = nil, m.seq
		r.unknown++
		a := &leasedAppend{m: m, token: m.token, tenure: m.tenure, id: id, seq: m.seq}
		m.mu.Unlock()
		return a, nil
	}
}

// landed records how a went: Postgres refused its statement, so its transaction cannot
// commit, or it ran in transaction xid, whose end a read, or its commit, must show.
// Any other error (the request's context ended, the connection broke) leaves the outcome
// unknown: the statement, and its COMMIT sent with it, may still run and commit. The
// order then stays out of memory until the lease is next taken, whose fence waits for
// that transaction.
func (a *leasedAppend) landed(xid uint64, err error) {
	m := a.m
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.orders[a.id]
	if a.tenure != m.tenure || !ok {
		return // a lease since ended: its memory is gone
	}
	var refused *pgconn.PgError
	switch {
	case err == nil:
		a.xid = xid
		r.pending = append(r.pending, xid)
	case !errors.As(err, &refused):
		return
	}
	r.unknown--
}

// committed takes a's commit, once Postgres has answered it (eventstore.AfterCommit):
// its transaction has ended, and state, the snapshot a wrote, is the order's state now,
// unless another append to the order has begun since or has not ended yet. (Every write
// of an order's snapshot in this process is an append that goes through lease; one that
// did not, later in the same transaction, would not be seen here.) Memory then
// answers the order at once: the first read after the commit need not ask Postgres
// whether the transaction ended. Only an append begun while memory was serving counts:
// one begun before the fence may have been overtaken by an older lease's append still in
// flight then.
func (a *leasedAppend) committed(state []byte) {
	m := a.m
	m.mu.Lock()
	r, ok := m.afterCommit(a)
	m.mu.Unlock()
	if !ok {
		return
	}
	o, err := decodeSnapshot(a.id, state)
	if err != nil {
		return // a read will decode it again, and say so
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.installable(a, r) && (r.state == nil || r.state.Version <= o.Version) {
		r.state = o
	}
}

// afterCommit forgets a's transaction among its order's pending ones, under m.mu, and
// returns the order if a's state may be installed.
func (m *Memory) afterCommit(a *leasedAppend) (*remembered, bool) {
	r, ok := m.orders[a.id]
	if a.tenure != m.tenure || !ok || a.xid == 0 {
		return nil, false
	}
	// A copy: a read captured before holds the slice it saw (capture.settle).
	r.pending = slices.DeleteFunc(slices.Clone(r.pending), func(x uint64) bool { return x == a.xid })
	return r, m.installable(a, r)
}

// installable reports, under m.mu, whether r may take the state a committed: r is still
// what m knows of a's order in a's lease, a was its last append begun, while memory was
// serving, and every append to it has ended.
func (m *Memory) installable(a *leasedAppend, r *remembered) bool {
	return a.tenure == m.tenure && m.serving && a.seq >= m.fill && m.orders[a.id] == r &&
		r.begun == a.seq && r.unknown == 0 && len(r.pending) == 0
}

// remember returns what m knows of order id, making room when it knows too much.
func (m *Memory) remember(id string) *remembered {
	if r, ok := m.orders[id]; ok {
		return r
	}
	if len(m.orders) >= m.max {
		m.seq++
		m.evicted = m.seq
		forget := m.max / 10
		for k, r := range m.orders {
			if forget <= 0 {
				break
			}
			if r.unknown == 0 && len(r.pending) == 0 {
				delete(m.orders, k)
				forget--
			}
		}
	}
	r := &remembered{}
	m.orders[id] = r
	return r
}

// lookup returns order id's state from memory, if m may answer it now. The clock, a
// system call, is read only for an order memory could answer.
func (m *Memory) lookup(id string) (*order.Order, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.orders[id]
	if !ok || r.state == nil || !m.servingAt(boottime()) {
		return nil, false
	}
	m.answered.Add(1)
	return r.state, true
}

// Answered counts the reads m has answered.
func (m *Memory) Answered() uint64 { return m.answered.Load() }

// Serving reports whether m may answer reads now: it holds the lease, and its memory is
// fresh.
func (m *Memory) Serving() bool {
	now := boottime()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.servingAt(now)
}

// servingAt reports whether m may answer at now (boottime), under m.mu.
func (m *Memory) servingAt(now time.Duration) bool { return m.serving && now < m.deadline }

// capture is what m knew of some orders when a read of them was about to be sent.
type capture struct {
	tenure, seq uint64
	serving     bool
	settle      map[string][]uint64 // the orders the read may settle, with their appends' transactions
	xids        []uint64            // all of them
}

// capture notes what m knows of ids before a read of them from Postgres, or returns nil
// while m holds no lease: nothing it knows is then of use (the next lease starts empty).
// An order with an append whose statement has not run yet cannot be settled by this read.
func (m *Memory) capture(ids []string) *capture {
	now := boottime()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mode != holding {
		return nil
	}
	c := &capture{tenure: m.tenure, seq: m.seq, serving: m.servingAt(now), settle: make(map[string][]uint64, len(ids))}
	for _, id := range ids {
		r, ok := m.orders[id]
		switch {
		case !ok:
			c.settle[id] = nil
		case r.unknown == 0:
			c.settle[id] = r.pending
			c.xids = append(c.xids, r.pending...)
		}
	}
	return c
}

// settle takes what a read found: ended, the transactions that had ended before its
// snapshot, and orders, the states it read. An order whose every append the read saw end,
// with none begun since c, has the state read, and may be answered from memory, if m was
// serving when c was taken and still is in the same lease.
func (m *Memory) settle(c *capture, ended map[uint64]bool, orders map[string]Current) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.tenure != m.tenure {
		return
	}
	fill := c.serving && c.seq >= m.fill
	for id, xids := range c.settle {
		if !allEnded(xids, ended) {
			continue
		}
		r, ok := m.orders[id]
		if ok && r.begun > c.seq || !ok && m.evicted > c.seq {
			continue // appended since, or forgotten since: the read may predate a commit
		}
		if ok && len(xids) > 0 {
			r.pending = nil // every append since c, and c's own, have ended
		}
		cur, found := orders[id]
		if !fill || !found || cur.Folded {
			continue // a state folded from events: no guard holds writes to them
		}
		if !ok {
			r = m.remember(id)
		}
		if r.state == nil || r.state.Version <= cur.Order.Version {
			r.state = cur.Order
		}
	}
}

func allEnded(xids []uint64, ended map[uint64]bool) bool {
	for _, x := range xids {
		if !ended[x] {
			return false
		}
	}
	return true
}

// boottime is the time since boot, counting time suspended (CLOCK_BOOTTIME): Go's
// monotonic clock stops while a VM is suspended, and the lease in Postgres does not.
func boottime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		panic("CLOCK_BOOTTIME: " + err.Error()) // Linux has had it since 2.6.39
	}
	return time.Duration(ts.Nano())
}
