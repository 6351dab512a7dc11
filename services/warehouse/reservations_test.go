package warehouse_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/warehouse"
)

var meta = eventstore.Metadata{CorrelationID: "test", Actor: "test"}

func addStock(t *testing.T, pool *pgxpool.Pool, sku string, available int) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `INSERT INTO warehouse.stock (sku, name, available) VALUES ($1, $1, $2)`, sku, available)
	require.NoError(t, err)
}

// stockOf returns a SKU's available and reserved counts.
func stockOf(t *testing.T, pool *pgxpool.Pool, sku string) (available, reserved int) {
	t.Helper()
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT available, reserved FROM warehouse.stock WHERE sku = $1`, sku).Scan(&available, &reserved))
	return available, reserved
}

func reserve(ctx context.Context, pool *pgxpool.Pool, orderID string, lines ...inventory.Line) (r warehouse.Reservation, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		r, _, err = warehouse.Reserve(ctx, tx, meta, orderID, lines)
		return err
	})
	return r, err
}

func release(ctx context.Context, pool *pgxpool.Pool, orderID string) (released bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		released, err = warehouse.Release(ctx, tx, meta, orderID, "test")
		return err
	})
	return released, err
}

func eventNames(t *testing.T, pool *pgxpool.Pool, orderID string) []string {
	t.Helper()
	events, err := eventstore.Load(context.Background(), pool, inventory.StreamID(orderID))
	require.NoError(t, err)
	names := make([]string, len(events))
	for i, e := range events {
		names[i] = e.Name
		assert.Equal(t, inventory.StreamType, e.StreamType)
	}
	return names
}

func TestConcurrentReservationsNeverOversell(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	addStock(t, pool, "MUG", 20)

	const buyers = 50
	statuses := make([]inventory.Status, buyers)
	errs := make([]error, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() {
			r, err := reserve(ctx, pool, fmt.Sprintf("order-%d", i), inventory.Line{SKU: "MUG", Quantity: 1})
			statuses[i], errs[i] = r.Status, err
		})
	}
	wg.Wait()

	count := map[inventory.Status]int{}
	for i := range buyers {
		require.NoError(t, errs[i])
		count[statuses[i]]++
	}
	assert.Equal(t, 20, count[inventory.StatusReserved])
	assert.Equal(t, 30, count[inventory.StatusFailed])
	available, reserved := stockOf(t, pool, "MUG")
	assert.Equal(t, 0, available)
	assert.Equal(t, 20, reserved)

	var reservedEvents, failedEvents int
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE event_name = $1), count(*) FILTER (WHERE event_name = $2) FROM events`,
		inventory.ReservedName, inventory.ReservationFailedName).Scan(&reservedEvents, &failedEvents))
	assert.Equal(t, 20, reservedEvents)
	assert.Equal(t, 30, failedEvents)
}

func TestSameOrderIsReservedAtMostOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	addStock(t, pool, "MUG", 10)
	line := inventory.Line{SKU: "MUG", Quantity: 3}

	first, err := reserve(ctx, pool, "order-1", line)
	require.NoError(t, err)
	assert.Equal(t, inventory.StatusReserved, first.Status)
	again, err := reserve(ctx, pool, "order-1", line)
	require.NoError(t, err)
	assert.Equal(t, first.ReservationID, again.ReservationID)

	// Concurrent duplicates: the advisory lock makes each wait and then see the first outcome.
	const dupes = 10
	ids := make([]string, dupes)
	errs := make([]error, dupes)
	var wg sync.WaitGroup
	for i := range dupes {
		wg.Go(func() {
			r, err := reserve(ctx, pool, "order-2", line)
			ids[i], errs[i] = r.ReservationID, err
		})
	}
	wg.Wait()
	for i := range dupes {
		require.NoError(t, errs[i])
		assert.Equal(t, ids[0], ids[i], "every duplicate must see the same reservation")
	}

	available, reserved := stockOf(t, pool, "MUG")
	assert.Equal(t, 4, available, "each order decrements stock once")
	assert.Equal(t, 6, reserved)
	assert.Equal(t, []string{inventory.ReservedName}, eventNames(t, pool, "order-1"))
	assert.Equal(t, []string{inventory.ReservedName}, eventNames(t, pool, "order-2"))
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM warehouse.reservations`).Scan(&rows))
	assert.Equal(t, 2, rows)
}

func TestMultiLineReservationIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	addStock(t, pool, "A", 10)
	addStock(t, pool, "B", 1)

	r, err := reserve(ctx, pool, "order-1", inventory.Line{SKU: "A", Quantity: 5}, inventory.Line{SKU: "B", Quantity: 2})
	require.NoError(t, err)
	assert.Equal(t, inventory.StatusFailed, r.Status)
	assert.Equal(t, "B", r.SKU)
	assert.Contains(t, r.Reason, "insufficient stock for B")

	for sku, want := range map[string]int{"A": 10, "B": 1} {
		available, reserved := stockOf(t, pool, sku)
		assert.Equal(t, want, available, "nothing of %s may be held", sku)
		assert.Zero(t, reserved)
	}
	events, err := eventstore.Load(ctx, pool, inventory.StreamID("order-1"))
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, inventory.ReservationFailedName, events[0].Name)
	assert.JSONEq(t, `{"orderId":"order-1","reason":"insufficient stock for B: requested 2, available 1","sku":"B"}`, string(events[0].Payload))

	// An unknown SKU fails the same way, naming that SKU.
	r, err = reserve(ctx, pool, "order-2", inventory.Line{SKU: "A", Quantity: 1}, inventory.Line{SKU: "NOPE", Quantity: 1})
	require.NoError(t, err)
	assert.Equal(t, inventory.StatusFailed, r.Status)
	assert.Equal(t, "NOPE", r.SKU)
	available, _ := stockOf(t, pool, "A")
	assert.Equal(t, 10, available)

	// The failure is the order's outcome: asking again does not retry it, even with stock now there.
	_, err = pool.Exec(ctx, `UPDATE warehouse.stock SET available = 10 WHERE sku = 'B'`)
	require.NoError(t, err)
	r, err = reserve(ctx, pool, "order-1", inventory.Line{SKU: "A", Quantity: 5}, inventory.Line{SKU: "B", Quantity: 2})
	require.NoError(t, err)
	assert.Equal(t, inventory.StatusFailed, r.Status)
	assert.Len(t, eventNames(t, pool, "order-1"), 1)
}

func TestRepeatedSKULinesAreHeldAsTheirSum(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	addStock(t, pool, "A", 3)
	r, err := reserve(ctx, pool, "order-1", inventory.Line{SKU: "A", Quantity: 2}, inventory.Line{SKU: "A", Quantity: 2})
	require.NoError(t, err)
	assert.Equal(t, inventory.StatusFailed, r.Status, "2+2 of a SKU with 3 must not pass line by line")
	r, err = reserve(ctx, pool, "order-2", inventory.Line{SKU: "A", Quantity: 1}, inventory.Line{SKU: "A", Quantity: 2})
	require.NoError(t, err)
	assert.Equal(t, inventory.StatusReserved, r.Status)
	assert.Equal(t, []inventory.Line{{SKU: "A", Quantity: 3}}, r.Lines)
}

func TestReleaseReturnsStockExactlyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	addStock(t, pool, "A", 10)
	addStock(t, pool, "B", 4)
	_, err := reserve(ctx, pool, "order-1", inventory.Line{SKU: "B", Quantity: 4}, inventory.Line{SKU: "A", Quantity: 3})
	require.NoError(t, err)

	released, err := release(ctx, pool, "order-1")
	require.NoError(t, err)
	assert.True(t, released)
	released, err = release(ctx, pool, "order-1")
	require.NoError(t, err)
	assert.False(t, released, "a second release is a no-op")

	for sku, want := range map[string]int{"A": 10, "B": 4} {
		available, reserved := stockOf(t, pool, sku)
		assert.Equal(t, want, available, sku)
		assert.Zero(t, reserved, sku)
	}
	assert.Equal(t, []string{inventory.ReservedName, inventory.ReleasedName}, eventNames(t, pool, "order-1"))
	r, err := warehouse.GetReservation(ctx, pool, "order-1")
	require.NoError(t, err)
	assert.Equal(t, inventory.StatusReleased, r.Status)
	assert.NotNil(t, r.ReleasedAt)

	// A released order is not reserved again: at most once means once.
	r, err = reserve(ctx, pool, "order-1", inventory.Line{SKU: "A", Quantity: 3}, inventory.Line{SKU: "B", Quantity: 4})
	require.NoError(t, err)
	assert.Equal(t, inventory.StatusReleased, r.Status)
	available, _ := stockOf(t, pool, "A")
	assert.Equal(t, 10, available)
}

func TestReleasingNothingIsANoOp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	addStock(t, pool, "A", 1)

	released, err := release(ctx, pool, "never-reserved")
	require.NoError(t, err)
	assert.False(t, released)

	_, err = reserve(ctx, pool, "failed", inventory.Line{SKU: "A", Quantity: 2})
	require.NoError(t, err)
	released, err = release(ctx, pool, "failed")
	require.NoError(t, err)
	assert.False(t, released)
	available, reserved := stockOf(t, pool, "A")
	assert.Equal(t, 1, available, "a failed reservation held nothing to give back")
	assert.Zero(t, reserved)
	assert.Equal(t, []string{inventory.ReservationFailedName}, eventNames(t, pool, "failed"))
	assert.Empty(t, eventNames(t, pool, "never-reserved"))

	_, err = release(ctx, pool, "")
	assert.Equal(t, "orderId", apperr.ErrorField(err))
}

func TestReserveRefusesBadInputWithoutRecordingIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := reserve(ctx, pool, "order-1", inventory.Line{SKU: "A", Quantity: 0})
	assert.Equal(t, "lines[0].quantity", apperr.ErrorField(err))
	_, err = warehouse.GetReservation(ctx, pool, "order-1")
	assert.Equal(t, apperr.CodeNotFound, apperr.ErrorCode(err))
}

func TestCheckAvailability(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	addStock(t, pool, "A", 3)
	got, err := warehouse.CheckAvailability(ctx, pool, []inventory.Line{{SKU: "A", Quantity: 3}, {SKU: "Z", Quantity: 1}})
	require.NoError(t, err)
	assert.Equal(t, []inventory.Availability{
		{SKU: "A", Requested: 3, Available: 3, OK: true},
		{SKU: "Z", Requested: 1, Available: 0, OK: false},
	}, got)
	_, err = warehouse.CheckAvailability(ctx, pool, nil)
	assert.Equal(t, "lines", apperr.ErrorField(err))
}

func TestSeedIsIdempotentAndKeepsMovedStock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	require.NoError(t, warehouse.Seed(ctx, pool))
	r, err := reserve(ctx, pool, "order-1", inventory.Line{SKU: "SKU-LIMITED", Quantity: 2})
	require.NoError(t, err)
	require.Equal(t, inventory.StatusReserved, r.Status)
	require.NoError(t, warehouse.Seed(ctx, pool))

	items, err := warehouse.ListStock(ctx, pool)
	require.NoError(t, err)
	assert.Len(t, items, 32)
	skus := map[string]warehouse.StockItem{}
	for _, it := range items {
		skus[it.SKU] = it
		assert.NotEmpty(t, it.Name)
	}
	for _, sku := range []string{"SKU-001", "SKU-002", "SKU-003", "SKU-030"} {
		assert.GreaterOrEqual(t, skus[sku].Available, 100, sku)
		assert.LessOrEqual(t, skus[sku].Available, 1000, sku)
	}
	assert.Equal(t, warehouse.StockItem{SKU: "SKU-LIMITED", Name: "Limited Edition Mug (signed)", Available: 3, Reserved: 2},
		skus["SKU-LIMITED"], "re-seeding must not reset stock orders have moved")
}

// On a pipeline (the command consumer's queued writes) a reservation costs one round trip:
// its locks and reads carry the previous reservation's writes, and the last one's go with
// the commit. A reservation queued behind another still sees it: the same order asked
// twice in one batch is held once.
func TestReservationsOnAPipelineCostOneRoundTripEach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	addStock(t, pool, "MUG", 100)
	counted, trips := pgtest.CountingPool(t, pool)
	line := inventory.Line{SKU: "MUG", Quantity: 1}
	batch := func(orders ...string) {
		t.Helper()
		require.NoError(t, pgx.BeginFunc(ctx, counted, func(tx pgx.Tx) error {
			p := eventstore.Pipelined(tx)
			for _, o := range orders {
				if _, _, err := warehouse.Reserve(ctx, p, meta, o, []inventory.Line{line}); err != nil {
					return err
				}
			}
			return p.Flush(ctx)
		}))
	}
	batch("warm-1", "warm-2") // statements prepared
	trips.Reset()
	batch("o-1", "o-2", "o-3", "o-2")
	// BEGIN, four reservations (the repeated one writes nothing), COMMIT.
	assert.EqualValues(t, 1+4+1, trips.Count())
	available, reserved := stockOf(t, pool, "MUG")
	assert.Equal(t, 95, available)
	assert.Equal(t, 5, reserved)
	assert.Equal(t, []string{inventory.ReservedName}, eventNames(t, pool, "o-2"))
}
