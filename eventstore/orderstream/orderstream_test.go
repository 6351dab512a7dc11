package orderstream_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

var at = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func held(t *testing.T, ctx context.Context, tx pgx.Tx) *order.Order {
	o := &order.Order{}
	events, err := o.Place(order.PlaceOrder{OrderID: "o-1", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 100, At: at})
	require.NoError(t, err)
	o.ID = "o-1"
	require.NoError(t, orderstream.Append(ctx, tx, o, eventstore.Metadata{}, events...))
	events, err = o.AssessRisk(90, nil, 70, at.Add(time.Hour), at)
	require.NoError(t, err)
	require.NoError(t, orderstream.Append(ctx, tx, o, eventstore.Metadata{}, events...))
	return o
}

// A decision taken on a stale copy is not appended: the order is read again and the
// decision retaken on the latest state, which here refuses it.
func TestUpdateLoadedDecidesAgainOnTheLatestState(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	stale := held(t, ctx, tx)
	fresh, err := orderstream.Load(ctx, tx, "o-1")
	require.NoError(t, err)
	// Another writer approves first.
	approved, err := orderstream.UpdateLoaded(ctx, tx, fresh, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
		return o.Approve("ann", "ok", at)
	})
	require.NoError(t, err)
	assert.Equal(t, order.StatusReserving, fresh.Status, "the caller's copy follows its own append")
	require.Len(t, approved, 1, "the events as recorded")
	assert.Equal(t, fresh.Version, approved[0].Version)

	decisions := 0
	_, err = orderstream.UpdateLoaded(ctx, tx, stale, eventstore.Metadata{}, func(o *order.Order) ([]order.Event, error) {
		decisions++
		return o.Reject("bob", "no", at)
	})
	assert.Equal(t, apperr.CodeConflict, apperr.ErrorCode(err))
	assert.False(t, eventstore.IsVersionConflict(err), "the final refusal is the domain's, not a version clash")
	assert.Equal(t, 2, decisions, "decided on the stale copy, then again on the latest state")

	latest, err := orderstream.Load(ctx, tx, "o-1")
	require.NoError(t, err)
	assert.Equal(t, order.StatusReserving, latest.Status)
	assert.Equal(t, "ann", latest.DecidedBy)
}

// The snapshot every append stores must be exactly the order its events fold into, at
// every step of a life that touches every field (addresses, prices, risk factors,
// approval, payment, shipment, delivery, tickets), or a poll, a saga step and a read model
// would each see a different order.
func TestSnapshotEqualsRehydratedStream(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	price := order.Cents(2500)
	local := time.FixedZone("CET", 3600)
	addr := &order.Address{Name: "Ana", Line1: "Rua 1", City: "Lisboa", PostalCode: "1000", Country: "PT"}
	steps := []func(o *order.Order) ([]order.Event, error){
		func(o *order.Order) ([]order.Event, error) {
			return o.Place(order.PlaceOrder{OrderID: "o-snap", CustomerID: "c-1", CustomerEmail: "ana@example.com", NewCustomer: true,
				Items: []order.Item{{SKU: "A", Quantity: 2, UnitPrice: &price}}, Total: 5000, Currency: "EUR",
				ShippingAddress: addr, BillingAddress: addr, At: at.In(local).Add(123456 * time.Nanosecond)})
		},
		func(o *order.Order) ([]order.Event, error) {
			return o.AssessRisk(85, []order.RiskFactor{{Code: "new_customer", Description: "new", Points: 25}}, 70, at.Add(24*time.Hour), at)
		},
		func(o *order.Order) ([]order.Event, error) { return o.Approve("ann@example.com", "called", at) },
		func(o *order.Order) ([]order.Event, error) { return o.ReserveInventory("r-1", at) },
		func(o *order.Order) ([]order.Event, error) {
			return o.RecordPaymentSession(order.PaymentSession{ID: "s-1", URL: "http://pay/s-1", Amount: o.Total, Currency: o.Currency, Deadline: at.Add(time.Hour)}, at)
		},
		func(o *order.Order) ([]order.Event, error) {
			return o.CompletePayment("pi-1", order.Charge{SessionID: o.PaymentSessionID, Amount: o.Total, Currency: o.Currency}, at)
		},
		func(o *order.Order) ([]order.Event, error) { return o.CreateShipment("sh-1", "acme", "T-1", at) },
		func(o *order.Order) ([]order.Event, error) { return o.UpdateDelivery("in_transit", "", at) },
		func(o *order.Order) ([]order.Event, error) {
			return o.OpenSupportTicket("delivery_overdue", "late", at)
		},
		func(o *order.Order) ([]order.Event, error) {
			return o.CommentTicket("delivery_overdue", "ann@example.com", "called the courier", at)
		},
		func(o *order.Order) ([]order.Event, error) {
			return o.CommentTicket("delivery_overdue", "ann@example.com", "late", at)
		},
		func(o *order.Order) ([]order.Event, error) { return o.UpdateDelivery("delivered", "", at) },
		func(o *order.Order) ([]order.Event, error) { return o.Complete(at) },
	}
	o := &order.Order{ID: "o-snap"}
	for i, step := range steps {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := orderstream.UpdateLoaded(ctx, tx, o, eventstore.Metadata{}, step)
			return err
		}), "step %d", i)
		fromSnapshot, err := orderstream.Load(ctx, pool, "o-snap")
		require.NoError(t, err)
		fromEvents, err := orderstream.LoadHistory(ctx, pool, "o-snap")
		require.NoError(t, err)
		require.Equal(t, fromEvents.Order, fromSnapshot, "after step %d", i)
		require.Equal(t, o.Version, fromSnapshot.Version)
	}
	assert.Equal(t, order.StatusCompleted, o.Status)

	// A snapshot in a layout this binary does not know is ignored: the events decide.
	_, err := pool.Exec(ctx, `UPDATE snapshots SET schema = 0, state = '{"status":"placed"}' WHERE stream_id = 'o-snap'`)
	require.NoError(t, err)
	stale, err := orderstream.Load(ctx, pool, "o-snap")
	require.NoError(t, err)
	assert.Equal(t, order.StatusCompleted, stale.Status)
}

// An order's tickets say what they say in its events only: the order, held in memory and
// stored whole as its snapshot with each of its events, keeps a digest of each text, so
// a ticket's comments of up to 1,000 characters each do not make every later write and
// read of the order longer. What the tickets say is still known (TicketSays), from the
// snapshot as from the events.
func TestASnapshotKeepsNoTicketsText(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	o := &order.Order{ID: "o-1"}
	write := func(step func(o *order.Order) ([]order.Event, error)) int {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := orderstream.UpdateLoaded(ctx, tx, o, eventstore.Metadata{}, step)
			return err
		}))
		var state string
		require.NoError(t, pool.QueryRow(ctx, `SELECT state::text FROM snapshots WHERE stream_id = 'o-1'`).Scan(&state))
		for _, text := range []string{"lost by the courier", "comment"} {
			require.NotContains(t, state, text, "the snapshot")
		}
		return len(state)
	}
	write(func(o *order.Order) ([]order.Event, error) {
		return o.Place(order.PlaceOrder{OrderID: "o-1", Items: []order.Item{{SKU: "A", Quantity: 1}}, Total: 100, At: at})
	})
	opened := write(func(o *order.Order) ([]order.Event, error) {
		return o.OpenSupportTicket("delivery_failed", "lost by the courier", at)
	})
	long := strings.Repeat("comment ", 125)[:998] // 1,000 characters as "%d %s"
	var commented int
	for i := range 10 {
		commented = write(func(o *order.Order) ([]order.Event, error) {
			return o.CommentTicket("delivery_failed", "ann@example.com", fmt.Sprintf("%d %s", i, long), at)
		})
	}
	assert.Less(t, commented-opened, 10*40, "ten comments of 1,000 characters add to the snapshot")

	loaded, err := orderstream.Load(ctx, pool, "o-1")
	require.NoError(t, err)
	assert.True(t, loaded.TicketSays("delivery_failed", "lost by the courier"))
	assert.True(t, loaded.TicketSays("delivery_failed", "9 "+long))
	assert.False(t, loaded.TicketSays("delivery_failed", "10 "+long))
}

// countingQuerier counts the statements sent through it.
type countingQuerier struct {
	eventstore.Querier
	n int
}

func (c *countingQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.n++
	return c.Querier.Query(ctx, sql, args...)
}

func (c *countingQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.n++
	return c.Querier.QueryRow(ctx, sql, args...)
}

// The saga's queued load tells, in its one statement, an order that does not exist yet
// (a placement's) from one whose events lack a snapshot: only the latter costs a further
// read, and both loads give what LoadMany gives.
func TestQueueLoadManyReadsEventsOnlyOfOrdersWithoutSnapshot(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	held(t, ctx, tx)

	load := func(ids ...string) (map[string]orderstream.Current, int) {
		b := &pgx.Batch{}
		loading := orderstream.QueueLoadMany(b, ids)
		require.NoError(t, tx.SendBatch(ctx, b).Close())
		q := &countingQuerier{Querier: tx}
		orders, err := loading.Loaded(ctx, q)
		require.NoError(t, err)
		want, err := orderstream.LoadMany(ctx, tx, ids)
		require.NoError(t, err)
		assert.Equal(t, want, orders)
		return orders, q.n
	}
	orders, reads := load("o-1", "o-new")
	assert.Equal(t, 0, reads, "a snapshot and an order without events: nothing more to read")
	require.Contains(t, orders, "o-1")
	assert.NotContains(t, orders, "o-new")
	assert.Equal(t, order.StatusAwaitingApproval, orders["o-1"].Order.Status)

	// A snapshot in a layout this binary does not know: the events are folded instead.
	_, err = tx.Exec(ctx, `UPDATE snapshots SET schema = 0 WHERE stream_id = 'o-1'`)
	require.NoError(t, err)
	orders, reads = load("o-1", "o-new")
	assert.Equal(t, 1, reads, "the order without a snapshot, and only it, is read from its events")
	require.Contains(t, orders, "o-1")
	assert.Equal(t, order.StatusAwaitingApproval, orders["o-1"].Order.Status)
}
