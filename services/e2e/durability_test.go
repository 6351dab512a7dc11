package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
)

// A deadline armed before the orders service goes down fires after it comes back, even
// though it fell due while no orders process was running: the wait's timer is a row in
// Postgres, not a timer in a process.
func TestPaymentDeadlineSurvivesRestart(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.PaymentTimeout = waitingPaymentTimeout
	c := startCluster(t, opt)
	before := c.stock(t, "SKU-001")
	id := c.waitingForPayment(t)

	c.stop(t, "orders")
	due := c.deadlines(t, id, "payment")
	require.Len(t, due, 1, "stopping the service neither fires nor drops the deadline")
	require.True(t, due[0].After(c.dbNow(t)), "the deadline must still be ahead when the service stops")

	// Let the deadline fall due with no orders process running; nothing may act on it.
	c.eventually(t, "the deadline is due", func() bool { return c.dbNow(t).After(due[0]) })
	assert.Equal(t, order.StatusAwaitingPayment, c.storedOrder(t, id).Status)
	assert.Len(t, c.deadlines(t, id, "payment"), 1)

	c.start(t, "orders")
	o := c.waitStatus(t, id, "cancelled")
	assert.Equal(t, "timed_out", o.CancelReason)
	c.waitStock(t, "SKU-001", before)
	c.waitNotification(t, id, "order_cancelled")
	// The fired deadline left the queue, and so did the session close's question, asked
	// again ten minutes on had no answer come: the cancellation ended the wait.
	assert.Empty(t, c.deadlines(t, id, "payment"))
	assert.Equal(t, 1, c.countEvents(t, id, order.NameOrderCancelled))
	assert.Empty(t, c.deadLetters(t))
}

// A customer who pays in time while the orders service is down is not cancelled when it
// comes back after the deadline: the deadline closes the session first, the provider
// finds it paid, and the payment pays the order. The saga met the overdue deadline before
// the payment's webhook, the simulator's resending waiting a minute, and a probe's 40
// customers of 40 who had paid were cancelled and refunded.
func TestAPaymentMadeInTimeWhileOrdersIsDownPaysTheOrder(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.PaymentTimeout = waitingPaymentTimeout
	c := startCluster(t, opt)
	id := c.waitingForPayment(t)
	c.stop(t, "orders")
	due := c.deadlines(t, id, "payment")
	require.Len(t, due, 1)

	// Paid at the checkout, in time: the session is settled, and the webhook the orders
	// service could not take waits to be sent again (502).
	code := c.call(t, "POST", c.payments+"/api/payments/process", map[string]string{"orderId": id, "outcome": "completed"}, bearer(ordersServiceToken), nil)
	require.Equal(t, http.StatusBadGateway, code)
	c.eventually(t, "the deadline is due", func() bool { return c.dbNow(t).After(due[0]) })

	c.start(t, "orders")
	o := c.waitStatus(t, id, "awaiting_delivery")
	assert.Empty(t, o.CancelReason)
	assert.Zero(t, c.countEvents(t, id, order.NameOrderCancelled))
	assert.Zero(t, c.countEvents(t, id, order.NamePaymentRefunded), "nothing refunded")
	assert.Empty(t, c.deadLetters(t))
}

// waitingPaymentTimeout is the payment timeout of the tests that use waitingForPayment:
// it leaves the session time to be recorded before the deadline on a loaded machine (with
// 2 s a CI run once met the deadline first, and the order was cancelled; with 5 s too,
// once, on the two cores with a fuzzer running beside the CI).
const waitingPaymentTimeout = 10 * time.Second

// waitingForPayment places a low-risk order and returns it once it waits for its payment
// with its deadline armed and its session recorded: at a deadline that finds no session
// recorded, there is none to close, and the order is cancelled at once.
func (c *cluster) waitingForPayment(t *testing.T) string {
	t.Helper()
	id := c.placeOrder(t, lowRisk)
	c.waitStatus(t, id, "awaiting_payment")
	c.eventually(t, "the payment deadline is armed", func() bool { return len(c.deadlines(t, id, "payment")) == 1 })
	c.eventually(t, "the session is recorded on the order", func() bool { return c.storedOrder(t, id).PaymentSessionID != "" })
	return id
}

// The same, restarting before the deadline is due: the new process arms nothing twice and
// fires the old deadline on time.
func TestPaymentDeadlineFiresAfterEarlyRestart(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.PaymentTimeout = 2 * time.Second
	c := startCluster(t, opt)
	before := c.stock(t, "SKU-001")
	id := c.placeOrder(t, lowRisk)
	c.waitStatus(t, id, "awaiting_payment")
	c.eventually(t, "the payment deadline is armed", func() bool { return len(c.deadlines(t, id, "payment")) == 1 })
	c.stop(t, "orders")
	c.start(t, "orders")
	assert.Equal(t, "awaiting_payment", c.order(t, id).Status, "the restart alone changes nothing")

	o := c.waitStatus(t, id, "cancelled")
	assert.Equal(t, "timed_out", o.CancelReason)
	c.waitStock(t, "SKU-001", before)
	assert.Equal(t, 1, c.countEvents(t, id, order.NameOrderCancelled))
}

// Orders accepted just before the orders service crashes all finish their workflow once
// it is back: the saga resumes from the log, and nothing it did before the crash is done
// twice (one reservation, one payment deadline per order).
func TestCrashOfOrdersServiceLosesNothing(t *testing.T) {
	c := startCluster(t, defaultOptions())
	// With the warehouse away no order can get past its reservation, so every order is
	// mid-workflow when the orders service dies, however fast the machine: placed,
	// assessed, or with its reserve command sent. One order first has the catalog priced.
	c.waitStatus(t, c.placeOrder(t, `{"items":[{"sku":"SKU-001","quantity":1}],"customerId":"crash-first"}`), "awaiting_payment")
	before := c.stock(t, "SKU-001")
	c.stop(t, "warehouse")
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = c.placeOrder(t, fmt.Sprintf(`{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":50}],"total":100,"customerId":"crash-%d","customerEmail":"c%d@example.com"}`, i, i))
	}
	c.crash(t, "orders")

	inFlight := 0
	for _, id := range ids {
		if c.storedOrder(t, id).Status != order.StatusAwaitingPayment {
			inFlight++
		}
	}
	t.Logf("%d of %d orders were still mid-workflow at the crash", inFlight, n)
	require.Equal(t, n, inFlight, "an order got past its reservation with the warehouse away")

	c.start(t, "warehouse")
	c.start(t, "orders")
	for _, id := range ids {
		o := c.waitStatus(t, id, "awaiting_payment")
		assert.NotEmpty(t, o.ReservationID)
	}
	for _, id := range ids {
		c.eventually(t, "order "+id+" has its payment deadline", func() bool { return len(c.deadlines(t, id, "payment")) > 0 })
		assert.Len(t, c.deadlines(t, id, "payment"), 1, "order %s: one payment deadline", id)
		assert.Equal(t, 1, c.countEvents(t, id, inventory.ReservedName), "order %s: reserved once", id)
		assert.Equal(t, 1, c.countEvents(t, id, order.NameInventoryReserved), "order %s: reservation recorded once", id)
		c.waitNotification(t, id, "order_confirmed")
	}
	assert.Equal(t, stock{SKU: "SKU-001", Available: before.Available - 2*n, Reserved: before.Reserved + 2*n}, c.stock(t, "SKU-001"))
	assert.Empty(t, c.deadLetters(t))

	// The new process serves webhooks too: a payment moves an order on to shipping.
	body, header := c.signedProviderPayment(t, ids[0], "evt_after_crash", "completed", "pi_after_crash")
	require.Equal(t, http.StatusAccepted, c.postPayment(t, body, header).StatusCode())
	c.waitStatus(t, ids[0], "awaiting_delivery")
}

// While the warehouse is down, orders wait for their reservation; when it comes back they
// go on. Reserve commands wait on the log, not in any process.
func TestOrdersWaitForWarehouseToComeBack(t *testing.T) {
	c := startCluster(t, defaultOptions())
	// The orders service has had SKU-001 priced by the catalog before the warehouse goes:
	// while it is down, orders are priced from that last answer.
	c.waitStatus(t, c.placeOrder(t, `{"items":[{"sku":"SKU-001","quantity":1}],"customerId":"wait-first"}`), "awaiting_payment")
	before := c.stock(t, "SKU-001")
	c.stop(t, "warehouse")

	const n = 5
	ids := make([]string, n)
	for i := range ids {
		ids[i] = c.placeOrder(t, fmt.Sprintf(`{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":50}],"total":100,"customerId":"wait-%d"}`, i))
	}
	for _, id := range ids {
		c.waitStatus(t, id, "reserving_inventory")
	}
	// The saga has sent every reserve command (and the first order's); with no warehouse
	// they stay unanswered.
	c.eventually(t, "every reserve command is on the log", func() bool {
		var sent int
		require.NoError(t, c.db.QueryRow(t.Context(), `
			SELECT count(*) FROM watermill_warehouse_commands WHERE metadata->>'name' = $1`, inventory.ReserveName).Scan(&sent))
		return sent == n+1
	})
	for _, id := range ids {
		assert.Equal(t, "reserving_inventory", c.order(t, id).Status)
		assert.Zero(t, c.countEvents(t, id, inventory.ReservedName))
	}

	c.start(t, "warehouse")
	for _, id := range ids {
		c.waitStatus(t, id, "awaiting_payment")
		assert.Equal(t, 1, c.countEvents(t, id, inventory.ReservedName))
	}
	assert.Equal(t, stock{SKU: "SKU-001", Available: before.Available - 2*n, Reserved: before.Reserved + 2*n}, c.stock(t, "SKU-001"))
	assert.Empty(t, c.deadLetters(t))
}

// A warehouse that crashes in the middle of a stream of reservations reserves each order
// exactly once after it restarts: a command cut off mid-transaction is redelivered, one
// that committed is not. Whether a crash finds reservations in flight depends on how fast
// the warehouse is that moment, so a crash that found none is followed by another round
// of orders and another crash, up to five.
func TestWarehouseCrashReservesEachOrderOnce(t *testing.T) {
	c := startCluster(t, defaultOptions())
	before := c.stock(t, "SKU-001")
	const n = 20
	var ids []string
	for round := 1; ; round++ {
		// All at once, so the crash finds reservations in flight: placed one after another
		// (each asks the catalog for its price), the warehouse keeps up with them.
		placed := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range placed {
			wg.Go(func() {
				placed[i], errs[i] = c.place(t.Context(), fmt.Sprintf(`{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":50}],"total":100,"customerId":"wh-%d-%d"}`, round, i))
			})
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		c.crash(t, "warehouse")
		ids = append(ids, placed...)
		unanswered := 0
		for _, id := range placed {
			if c.countEvents(t, id, inventory.ReservedName) == 0 {
				unanswered++
			}
		}
		t.Logf("round %d: %d of %d reservations were still pending at the crash", round, unanswered, n)
		c.start(t, "warehouse")
		if unanswered > 0 {
			break
		}
		require.Less(t, round, 5, "the warehouse had answered every order before each crash: the test proved nothing")
	}

	for _, id := range ids {
		c.waitStatus(t, id, "awaiting_payment")
		assert.Equal(t, 1, c.countEvents(t, id, inventory.ReservedName), "order %s: reserved once", id)
	}
	assert.Equal(t, stock{SKU: "SKU-001", Available: before.Available - 2*len(ids), Reserved: before.Reserved + 2*len(ids)}, c.stock(t, "SKU-001"))
	assert.Empty(t, c.deadLetters(t))
}

// A deadline never fires before its time: the order is cancelled no sooner than the
// payment timeout after its reservation was recorded (the deadline is armed later still).
func TestPaymentDeadlineNeverFiresEarly(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.PaymentTimeout = 2 * time.Second
	c := startCluster(t, opt)
	ids := []string{c.placeOrder(t, lowRisk), c.placeOrder(t, lowRisk), c.placeOrder(t, lowRisk)}
	for _, id := range ids {
		assert.Equal(t, "timed_out", c.waitStatus(t, id, "cancelled").CancelReason)
		var reserved, cancelled time.Time
		require.NoError(t, c.db.QueryRow(t.Context(), `
			SELECT max(recorded_at) FILTER (WHERE event_name = $2), max(recorded_at) FILTER (WHERE event_name = $3)
			FROM events WHERE stream_id = $1`, id, order.NameInventoryReserved, order.NameOrderCancelled).Scan(&reserved, &cancelled))
		assert.GreaterOrEqual(t, cancelled.Sub(reserved), opt.workflow.PaymentTimeout, "order %s cancelled %s after its reservation", id, cancelled.Sub(reserved))
	}
}
