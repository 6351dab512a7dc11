package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/projections/ordergen"
	"github.com/ordermill/ordermill/sagas"
)

// A rebuild of every read model runs while customers keep placing orders. The log must not
// stall: orders placed after the rebuild began complete before it ends (the rebuild waits,
// between two chunks, until some have; a rebuild in one long transaction never would). Afterwards no event is missing or applied twice: every order
// is in the read models as it is in the log, and verify finds them equal.
func TestRebuildWhileOrdersFlow(t *testing.T) {
	s := start(t, defaultOptions())
	ctx := context.Background()
	s.writeHistory(t, 30_000)

	var (
		rebuilding atomic.Bool
		duringRuns atomic.Int64          // orders placed and completed while the rebuild ran
		flowed     = make(chan struct{}) // closed once three have
		stop       = make(chan struct{})
		wg         sync.WaitGroup
		mu         sync.Mutex
		errs       []error
		placed     atomic.Int64
	)
	const customers = 8
	for c := range customers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				began := rebuilding.Load()
				if err := s.driveOrder(t.Context(), c*10_000+i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				placed.Add(1)
				if began && rebuilding.Load() && duringRuns.Add(1) == 3 {
					close(flowed)
				}
			}
		})
	}

	waited := false
	rebuilding.Store(true)
	res, err := projections.Rebuild(ctx, s.db, projections.Options{Progress: func(done, total int64) {
		if waited || done >= total {
			return
		}
		waited = true
		// Between two chunks, partway through the log: orders must flow meanwhile.
		select {
		case <-flowed:
		case <-time.After(60 * time.Second):
		}
	}})
	rebuilding.Store(false)
	require.NoError(t, err)
	assert.True(t, waited, "the rebuild reported its progress")
	assert.GreaterOrEqual(t, duringRuns.Load(), int64(3), "orders completed while the rebuild ran")
	assert.Greater(t, res.Events, int64(30_000))

	close(stop)
	wg.Wait()
	require.Empty(t, errs)
	require.Positive(t, placed.Load())

	d, _, err := projections.Verify(ctx, s.db, projections.Options{}, 20)
	require.NoError(t, err)
	assert.True(t, d.Equal(), "%+v", d)
	assert.Zero(t, d.Changing, "nothing moves once the customers have stopped")

	var completed int64
	require.NoError(t, s.db.QueryRow(ctx, `SELECT count(*) FROM orders.order_summaries
		WHERE order_id NOT LIKE 'past-%' AND status = 'completed'`).Scan(&completed))
	assert.Equal(t, placed.Load(), completed, "every order the customers drove is in the read model, completed")
	var deadLetters int
	require.NoError(t, s.db.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&deadLetters))
	assert.Zero(t, deadLetters)
	behind, err := projections.Statuses(ctx, s.db)
	require.NoError(t, err)
	assert.Zero(t, behind[0].Behind, fmt.Sprint(behind))
}

// verifyRebuild checks the replay tool's promise on the system's log as the test left it:
// once every service has handled what it was sent, a build of every read model from the
// log equals the live read models, and the build read every order event the log holds.
func (s *system) verifyRebuild(t *testing.T) {
	t.Helper()
	for service, base := range map[string]string{"payments": s.payments, "warehouse": s.warehouse, "delivery": s.delivery, "orders": s.orders} {
		s.waitLag(t, service, base)
	}
	d, res, err := projections.Verify(t.Context(), s.db, projections.Options{}, 20)
	require.NoError(t, err)
	assert.True(t, d.Equal(), "the rebuilt read models differ from the live ones: %+v", d)
	assert.Zero(t, d.Changing, "nothing moves once every service has caught up")
	assert.Empty(t, res.Unknown, "every order event is one this release reads")
	assert.Positive(t, res.Events)
}

// writeHistory stores a realistic history of finished and unfinished orders, as if the
// system had run for a while: enough for a rebuild to take many chunks. The workflow and
// the read models have consumed it already (ordergen.Consumed), so only a rebuild brings
// it into the read models.
func (s *system) writeHistory(t *testing.T, events int) {
	t.Helper()
	_, err := ordergen.Consumed(context.Background(), s.db, ordergen.Options{Events: events, Seed: 11, Prefix: "past-"},
		sagas.ConsumerGroup, projections.ConsumerGroup)
	require.NoError(t, err)
}
