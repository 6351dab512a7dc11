package sagas

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/logging"
)

// errSagaFailed marks a failure of RunNow's saga part, as opposed to its recorder's.
var errSagaFailed = errors.New("the saga failed")

// RunNow runs, in a transaction of pool that it commits: before's statements, which
// go with the saga's lock and reads in the transaction's first round trip (an idempotency
// key, an inbox row, a count the recorder needs: before fills b, and its callbacks have
// run when record does), then record, then the flow on what record recorded, as the
// saga's consumers would once the log delivered it. The order's saga lock is taken before
// record runs, so the lock order is the saga's own, and what record publishes carries
// HandledBy, so the consumers skip it (a recorder may also keep it out of the log: see
// Recorder). An order approved or paid then reaches its next wait, or its next service,
// with this commit, and every write of record and of the saga goes with the COMMIT in one
// round trip: no trip through the log, no batch transaction of the saga's own.
//
// Calls that arrive while the runner's lanes are busy share a transaction (gatherNow):
// their statements go in the same two round trips and commit with one WAL flush, and each
// call returns once that commit is done, so a 2xx still means committed. A shared run
// that fails before its commit, or whose commit Postgres refuses, is rolled back whole
// and each of its calls is done again alone, as below; an error of one call's own (a
// refusal, a key used before) thereby reaches that call only.
//
// If the saga fails while deciding (a bug), or Postgres refuses any write of the
// transaction at the commit (a writer of the stream without the saga's lock, such as a
// manager's note, came first), the transaction is rolled back whole and done again,
// before and record included, without the saga: record runs without HandledBy,
// publishing all it records, and the saga's consumers take the message from the log,
// with their retries and dead letters. What record returns as its own error (a
// refusal, or a read of its that failed) is returned, and so is a commit whose outcome
// is unknown (the connection lost, the backend terminated): that is never done again.
func (r *Runner) RunNow(ctx context.Context, pool *pgxpool.Pool, orderID string, before func(b *pgx.Batch), record Recorder) error {
	return r.runNow(&nowCall{ctx: ctx, pool: pool, orderID: orderID, before: before, record: record})
}

// Place is RunNow for the placement of order orderID by customerID: one customer's
// placements take turns. Each holds the customer's lock from its transaction's first
// statement to its commit, and one run takes at most one placement of a customer, so
// the count of the customer's recent orders that before asks for (QueueRecentOrders)
// sees every placement of the customer's that came before it. Risk scoring weighs that
// count (order velocity): a burst of orders placed all at once would otherwise each count
// none of the others, and pass as so many first orders. The locks are taken before
// anything else a transaction locks, by no one but placements, and all of a run's in one
// statement in key order: they cannot deadlock. key is the placement's idempotency key
// ("" for none): one run takes at most one placement of a key too, since the second would
// find the key used and roll back every call of its transaction, each then run again
// alone (a client's double submit cost a run of up to 64 calls: a probe).
func (r *Runner) Place(ctx context.Context, pool *pgxpool.Pool, orderID, customerID, key string, before func(b *pgx.Batch), record Recorder) error {
	return r.runNow(&nowCall{ctx: ctx, pool: pool, orderID: orderID, customer: customerID, key: key, before: before, record: record})
}

func (r *Runner) runNow(c *nowCall) error {
	c.done = make(chan error, 1)
	if err := r.gatherNow(c); !errors.Is(err, errAlone) {
		return err
	}
	return r.runAlone(c)
}

// nowLanes is how many RunNow transactions run at once. A call that finds them all busy
// waits for the next one to start, with every other call waiting: on two cores, a few
// transactions of many calls each cost less than many of one each (docs/BENCHMARKS.md).
const nowLanes = 2

// maxNowBatch bounds the calls one transaction takes.
const maxNowBatch = 64

// maxNowWaiting bounds the calls waiting for a lane. Past it the service is past what it
// can do, and a call is refused at once (errBusy: 503 with Retry-After) rather than queued
// behind the others. Unbounded, 400 placements a second against about 200 queued every
// write for up to 30 s, held 900 MB of waiting requests in the orders process, and
// placed orders for clients that had given up (a probe). At the rate of the benchmarks
// (about 600 calls a second) 1,024 calls are under 2 s of work.
const maxNowWaiting = 1024

// errBusy refuses a call when maxNowWaiting wait.
var errBusy = apperr.Errorf(apperr.CodeUnavailable, "too many requests are waiting for the database (%d); retry", maxNowWaiting)

// errAlone tells a call that the transaction it shared was rolled back before it
// committed: it runs again on its own.
var errAlone = errors.New("the shared run was rolled back; run alone")

// nowCall is one RunNow call waiting for, or in, a lane.
type nowCall struct {
	ctx      context.Context
	pool     *pgxpool.Pool
	orderID  string
	customer string // the customer placing the order (Place), "" for other calls
	key      string // the placement's idempotency key (Place), "" for none
	before   func(b *pgx.Batch)
	record   Recorder
	done     chan error // its outcome; errAlone: run alone
}

// nowQueue is the RunNow calls waiting for a lane.
type nowQueue struct {
	mu      sync.Mutex
	waiting []*nowCall
	busy    int // lanes running
}

// gatherNow queues c and starts a lane if one is free; it returns c's outcome. It refuses
// c when maxNowWaiting calls wait already (errBusy), and gives c up when its context ends
// while it waits (its client left): a call not yet taken is withdrawn and never runs.
func (r *Runner) gatherNow(c *nowCall) error {
	q := &r.nowQueue
	q.mu.Lock()
	if len(q.waiting) >= maxNowWaiting {
		q.mu.Unlock()
		r.ranNow.WithLabelValues(ranNowBusy).Inc()
		return errBusy
	}
	q.waiting = append(q.waiting, c)
	var calls []*nowCall
	if q.busy < nowLanes {
		// A lane is busy only with calls to run: takeLocked answers a call whose client
		// left at once, and leaves nothing to run when c was the only one waiting.
		if calls = q.takeLocked(); len(calls) > 0 {
			q.busy++
			go r.lane(calls)
		}
	}
	q.mu.Unlock()
	select {
	case err := <-c.done:
		return err
	case <-c.ctx.Done():
		if q.withdraw(c) {
			return c.ctx.Err()
		}
		return <-c.done // taken: its run has its outcome
	}
}

// len is how many calls wait.
func (q *nowQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// withdraw takes c out of the waiting calls; false when a lane took it already.
func (q *nowQueue) withdraw(c *nowCall) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := slices.Index(q.waiting, c)
	if i < 0 {
		return false
	}
	q.waiting = slices.Delete(q.waiting, i, i+1)
	return true
}

// takeLocked takes the calls of the next run: the waiting calls of the first one's pool,
// in arrival order, at most one per order (the saga decides an order's messages one after
// another on the order as it stands: a second call for it waits for the next run), one
// placement per customer and one per idempotency key (Place), and at most maxNowBatch. A
// call whose context ended while it waited is answered at once.
func (q *nowQueue) takeLocked() []*nowCall {
	var calls, left []*nowCall
	orders, customers, keys := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, c := range q.waiting {
		switch {
		case c.ctx.Err() != nil:
			c.done <- c.ctx.Err()
		case len(calls) < maxNowBatch && !orders[c.orderID] && (c.customer == "" || !customers[c.customer]) &&
			(c.key == "" || !keys[c.key]) && (len(calls) == 0 || c.pool == calls[0].pool):
			orders[c.orderID] = true
			if c.customer != "" {
				customers[c.customer] = true
			}
			if c.key != "" {
				keys[c.key] = true
			}
			calls = append(calls, c)
		default:
			left = append(left, c)
		}
	}
	q.waiting = left
	return calls
}

// lane runs calls, then whatever waits, until nothing does.
func (r *Runner) lane(calls []*nowCall) {
	q := &r.nowQueue
	for len(calls) > 0 {
		r.shared.Observe(float64(len(calls)))
		if len(calls) == 1 {
			calls[0].done <- r.runLone(calls[0])
		} else {
			r.runShared(calls)
		}
		q.mu.Lock()
		calls = q.takeLocked()
		if len(calls) == 0 {
			q.busy--
		}
		q.mu.Unlock()
	}
}

// runLone runs c alone in the lane. A panic (a bug in a recorder or in the flow) rolls
// the transaction back and sends c back to its caller (errAlone), which runs it again in
// its own goroutine, where the panic is the request's as it was before the lanes, and
// the lane goes on.
func (r *Runner) runLone(c *nowCall) (err error) {
	defer func() {
		if recover() != nil {
			err = errAlone
		}
	}()
	return r.runAlone(c)
}

// runShared runs calls (each for a different order) in one transaction, with the saga,
// and answers each: nil once committed, errAlone when the transaction was rolled back, or
// the commit's error when its outcome is unknown. The transaction runs in the first
// call's context, without its cancellation: it carries the others too. What each call
// records and the saga does for it is published in that call's own context, so its
// request wakes the consumers of its topics once it answers, as on its own; without its
// cancellation too: a client that leaves once its call is taken would otherwise fail the
// statements the call sends, and with them every call of the run, each then done again
// alone. A call taken runs to its outcome, as a lone request's does once committed.
func (r *Runner) runShared(calls []*nowCall) {
	ctx := context.WithoutCancel(calls[0].ctx)
	ctxs := make([]context.Context, len(calls))
	keeps := make([]func(), len(calls))
	for i, c := range calls {
		ctxs[i], keeps[i] = eventstore.SavepointScope(context.WithoutCancel(c.ctx))
	}
	var ran []bool
	committing := false
	err := eventstore.BeginPipelinedFunc(ctx, calls[0].pool, func(p *eventstore.Pipeline) (err error) {
		defer func() {
			// A panic (a bug in a recorder or in the flow) rolls back like an error: every
			// call runs again alone, and the one at fault panics in its own request.
			if v := recover(); v != nil {
				err = fmt.Errorf("a shared RunNow panicked: %v", v)
			}
		}()
		ran, err = r.runCalls(ctx, p, calls, ctxs, true)
		committing = err == nil
		return err
	})
	for i, c := range calls {
		switch {
		case err == nil:
			keeps[i]()
			if ran[i] {
				r.ranNow.WithLabelValues(ranNowHandled).Inc()
			}
			c.done <- nil
		case committing && !refused(err):
			c.done <- err
		default:
			c.done <- errAlone
		}
	}
	if err != nil && !committing || refused(err) {
		r.logger.DebugContext(ctx, "a shared RunNow transaction was rolled back; its calls run alone", "calls", len(calls), "err", err)
	}
}

// runAlone is RunNow for one call, in a transaction of its own.
func (r *Runner) runAlone(c *nowCall) error {
	ctx, pool, orderID, call := c.ctx, c.pool, c.orderID, []*nowCall{c}
	var err error
	for _, withSaga := range []bool{true, false} {
		actx, keep := eventstore.SavepointScope(ctx)
		committing, ran := false, false
		err = eventstore.BeginPipelinedFunc(actx, pool, func(p *eventstore.Pipeline) error {
			handled, err := r.runCalls(actx, p, call, []context.Context{actx}, withSaga)
			ran, committing = slices.Contains(handled, true), err == nil
			return err
		})
		if err == nil {
			keep()
			switch {
			case !withSaga:
				r.ranNow.WithLabelValues(ranNowLeftToLog).Inc()
			case ran:
				r.ranNow.WithLabelValues(ranNowHandled).Inc()
			}
			return nil
		}
		if !withSaga || ctx.Err() != nil || !(errors.Is(err, errSagaFailed) || committing && refused(err)) {
			return err
		}
		r.logger.WarnContext(ctx, "the saga takes this from the log: running it at once failed", append(logging.Order(orderID), "err", err)...)
	}
	return err
}

// refused reports whether err is Postgres's refusal of a statement (an ERROR, such as a
// version conflict's unique or check violation): the transaction was rolled back, so
// doing it again cannot do anything twice. Anything else may come after the COMMIT took
// effect: the server going away (class 57: shut down, or the backend terminated; class
// 08: the connection), a FATAL or PANIC, an error of the client's own.
func refused(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	severity := pgErr.SeverityUnlocalized
	if severity == "" {
		severity = pgErr.Severity
	}
	return severity == "ERROR" && !strings.HasPrefix(pgErr.Code, "57") && !strings.HasPrefix(pgErr.Code, "08")
}

// runCalls is one attempt of calls (each for a different order) in transaction p, with
// the saga or without it: their first statements (with PlanByKey, as in the consumers'
// batches: every statement of the run finds its rows by key, and the reads over an array
// of ids were otherwise planned anew at every webhook), the locks and reads of all their
// orders in one round trip, each recorder in its call's context ctxs[i], then the saga on
// what they recorded. It reports for each call whether the saga ran on anything of it.
func (r *Runner) runCalls(ctx context.Context, p *eventstore.Pipeline, calls []*nowCall, ctxs []context.Context, withSaga bool) ([]bool, error) {
	b := &pgx.Batch{}
	b.Queue(eventstore.PlanByKey)
	queueLockCustomers(b, calls)
	ids := make([]string, len(calls))
	for i, c := range calls {
		if c.before != nil {
			c.before(b)
		}
		ids[i] = c.orderID
	}
	p.QueueBatch(b)
	slices.Sort(ids)
	states, orders, err := lockAndLoad(ctx, p, ids)
	if err != nil {
		return nil, err
	}
	handledBy := ""
	if withSaga {
		handledBy = ConsumerGroup
	}
	ran := make([]bool, len(calls))
	var jobs []job
	for i, c := range calls {
		cur := orders[c.orderID]
		if cur.Order == nil {
			cur.Order = &order.Order{}
		}
		was := cur.Order.Status.Phase().Wait
		msgs, err := c.record(ctxs[i], p, cur.Order, handledBy)
		if err != nil {
			return nil, err
		}
		if err := endedWait(ctxs[i], p, cur.Order, was); err != nil {
			return nil, err
		}
		orders[c.orderID] = cur
		for _, m := range msgs {
			if withSaga && r.names[m.Name] {
				jobs = append(jobs, newJob(ctxs[i], c.orderID, m))
				ran[i] = true
			}
		}
	}
	if len(jobs) == 0 {
		return ran, nil
	}
	if err := r.decideAll(ctx, p, jobs, orders, states); err != nil {
		return nil, fmt.Errorf("%w: %w", errSagaFailed, err)
	}
	return ran, nil
}

// queueLockCustomers queues on b the locks of the customers placing orders among calls
// (Place), held until the commit.
func queueLockCustomers(b *pgx.Batch, calls []*nowCall) {
	var customers []string
	for _, c := range calls {
		if c.customer != "" {
			customers = append(customers, c.customer)
		}
	}
	if len(customers) > 0 {
		queueLocks(b, "sagas.customer:", customers)
	}
}
