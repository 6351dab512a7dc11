package orderstream

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// gatedQuerier is the real pool with a count of queries, whose first query waits for the
// gate to open.
type gatedQuerier struct {
	DB
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
	queries atomic.Int32
}

func (g *gatedQuerier) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	g.queries.Add(1)
	g.once.Do(func() { close(g.entered); <-g.gate })
	return g.DB.SendBatch(ctx, b)
}

func placeOrders(t *testing.T, q eventstore.Querier, n int) []string {
	ctx := context.Background()
	pool := q.(interface {
		Begin(context.Context) (pgx.Tx, error)
	})
	var ids []string
	for i := range n {
		id := fmt.Sprintf("o-read-%03d", i)
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		o := &order.Order{}
		events, err := o.Place(order.PlaceOrder{OrderID: id, Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: order.Cents(100 + i), At: time.Now()})
		require.NoError(t, err)
		o.ID = id
		require.NoError(t, Append(ctx, tx, o, eventstore.Metadata{}, events...))
		require.NoError(t, tx.Commit(ctx))
		ids = append(ids, id)
	}
	return ids
}

// Reads that arrive while a query is in flight are answered together by the next one,
// each with its own order.
func TestReaderCoalescesConcurrentReads(t *testing.T) {
	pool := pgtest.Pool(t)
	ids := placeOrders(t, pool, 50)
	q := &gatedQuerier{DB: pool, gate: make(chan struct{}), entered: make(chan struct{})}
	r := NewReader(q, 1, nil)

	type result struct {
		want string
		o    *order.Order
		err  error
	}
	results := make(chan result, 200)
	read := func(id string) {
		o, err := r.Load(context.Background(), id)
		results <- result{id, o, err}
	}
	go read(ids[0])
	<-q.entered // the one slot is taken, its query held at the gate
	for i := 1; i < 200; i++ {
		go read(ids[i%len(ids)])
	}
	for {
		r.mu.Lock()
		n := len(r.pending)
		r.mu.Unlock()
		if n == 199 {
			break
		}
		runtime.Gosched()
	}
	close(q.gate)
	for range 200 {
		res := <-results
		require.NoError(t, res.err)
		assert.Equal(t, res.want, res.o.ID)
		assert.Equal(t, order.StatusPlaced, res.o.Status)
	}
	assert.Equal(t, int32(2), q.queries.Load(), "the first read's query, then one for the 199 that queued behind it")
}

// A read asked after a commit sees it, while other reads keep the reader busy; a missing
// order is not found.
func TestReaderReadsItsWrites(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	ids := placeOrders(t, pool, 20)
	r := NewReader(pool, 2, nil)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		repeat(&wg, stop, func() {
			_, err := r.Load(ctx, ids[w])
			assert.NoError(t, err)
		})
	}
	for _, id := range ids {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := UpdateLoaded(ctx, tx, mustLoad(t, tx, id), eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
				return o.AssessRisk(90, nil, 70, time.Now().Add(time.Hour), time.Now())
			})
			return err
		})
		require.NoError(t, err)
		o, err := r.Load(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, order.StatusAwaitingApproval, o.Status, "order %s read after its commit", id)
	}
	close(stop)
	wg.Wait()

	_, err := r.Load(ctx, "o-missing")
	assert.Equal(t, apperr.CodeNotFound, apperr.ErrorCode(err))
}

// repeat runs fn in a goroutine of wg, again and again, until stop is closed.
func repeat(wg *sync.WaitGroup, stop <-chan struct{}, fn func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				fn()
			}
		}
	}()
}

func mustLoad(t *testing.T, q eventstore.Querier, id string) *order.Order {
	o, err := Load(context.Background(), q, id)
	require.NoError(t, err)
	return o
}

// An order that has not moved since the reader last read it is answered from what the
// reader holds: Postgres does not send (and the reader does not decode) its snapshot
// again. Once it moves, the new state is read.
func TestReaderReadsASnapshotOnlyWhenTheOrderMoved(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	id := placeOrders(t, pool, 1)[0]
	r := NewReader(pool, 1, nil)
	first, err := r.Load(ctx, id)
	require.NoError(t, err)

	// Spoil the stored state without moving the order: only a reader that reads it fails.
	_, err = pool.Exec(ctx, `UPDATE snapshots SET state = '{"id": 42}' WHERE stream_id = $1`, id)
	require.NoError(t, err)
	_, err = NewReader(pool, 1, nil).Load(ctx, id)
	require.Error(t, err, "a reader that holds nothing decodes the snapshot")
	again, err := r.Load(ctx, id)
	require.NoError(t, err)
	assert.Same(t, first, again, "an order that has not moved is answered with the state held")

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		h, err := LoadHistory(ctx, tx, id)
		if err != nil {
			return err
		}
		_, err = UpdateLoaded(ctx, tx, h.Order, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
			return o.AssessRisk(90, nil, 70, time.Now().Add(time.Hour), time.Now())
		})
		return err
	})
	require.NoError(t, err)
	moved, err := r.Load(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, order.StatusAwaitingApproval, moved.Status, "the order moved: its new state is read")
}
