package sagas_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/sagas"
)

// A wait's deadline is armed after the event that begins the wait, and the saga reacts
// to its own events after the step that recorded them: a step that begins a wait and
// ends it (here a hold, then a cancellation) has the deadline armed when the wait has
// already ended, and ended before the deadline was there to cancel. It is not armed: it
// would stay in the queue until it fell due, only to find nothing to do.
func TestADeadlineIsNotArmedForAWaitAlreadyEnded(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	flow := sagas.Flow{
		sagas.After[order.OrderPlaced](func(in sagas.Input) ([]sagas.Effect, error) {
			return []sagas.Effect{
				sagas.AssessRisk{Score: 90, Threshold: 70, Deadline: in.Now.Add(time.Hour)},
				sagas.Cancel{Reason: order.ReasonTimedOut, Detail: "held and cancelled in one step"},
			}, nil
		}),
		sagas.After[order.HeldForApproval](func(in sagas.Input) ([]sagas.Effect, error) {
			return []sagas.Effect{sagas.ScheduleDeadline{Wait: order.WaitApproval, At: in.Now.Add(time.Hour)}}, nil
		}),
	}
	runner := nowRunner(flow, slog.New(slog.DiscardHandler))
	placed := placeOrder(t, pool, "ord-held-cancelled", 1_000, nowAt)
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return runner.Handle(ctx, tx, "ord-held-cancelled", placed, eventstore.Metadata{CorrelationID: "ord-held-cancelled", Actor: "saga"})
	}))
	var status string
	var deadlines int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM watermill_order_deadlines),
		(SELECT event_name FROM events WHERE stream_id = 'ord-held-cancelled' ORDER BY position DESC LIMIT 1)`).Scan(&deadlines, &status))
	require.Equal(t, order.NameOrderCancelled, status, "the step held and cancelled the order")
	assert.Zero(t, deadlines)
}
