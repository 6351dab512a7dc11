package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/warehouse"
)

// cluster is a system whose services run as separate processes that can be stopped and
// started again one at a time. A start is what a new process does: a new connection pool,
// a new listener on a new port and a new service value, on the same database; nothing
// survives a stop but what is in Postgres.
type cluster struct {
	*system
	dbURL  string
	opt    options
	logger *slog.Logger
	procs  map[string]*serviceProcess
	starts map[string]int
	// addrs is each service's address, kept across restarts as a deployment's would be, so
	// the services find each other after any of them restarts.
	addrs map[string]string
}

// serviceProcess is one running service.
type serviceProcess struct {
	appName string // the pool's application_name, unique per start
	cancel  context.CancelFunc
	done    chan error
	pool    *pgxpool.Pool
}

// startCluster runs the four services against a fresh database until the test ends.
func startCluster(t *testing.T, opt options) *cluster {
	t.Helper()
	c := &cluster{
		system: &system{},
		dbURL:  pgtest.URL(t),
		opt:    opt,
		logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		procs:  map[string]*serviceProcess{},
		starts: map[string]int{},
		addrs:  map[string]string{},
	}
	for _, name := range []string{"orders", "warehouse", "payments", "delivery"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		c.addrs[name] = ln.Addr().String()
		require.NoError(t, ln.Close())
	}
	c.useOrders(t, "http://"+c.addrs["orders"])
	c.warehouse, c.payments, c.delivery = "http://"+c.addrs["warehouse"], "http://"+c.addrs["payments"], "http://"+c.addrs["delivery"]
	db, err := pgxpool.New(context.Background(), c.dbURL)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	c.db = db
	require.NoError(t, warehouse.Seed(t.Context(), db))
	t.Cleanup(func() {
		for name := range c.procs {
			serveErr, err := c.halt(name)
			if err := errors.Join(err, serveErr); err != nil {
				t.Errorf("%s stopped with: %v", name, err)
			}
		}
	})
	for _, name := range []string{"orders", "warehouse", "payments", "delivery"} {
		c.start(t, name)
	}
	return c
}

// start runs service name as a new process.
func (c *cluster) start(t *testing.T, name string) {
	t.Helper()
	require.NotContains(t, c.procs, name, "%s is already running", name)
	ln, err := net.Listen("tcp", c.addrs[name])
	require.NoError(t, err)
	appName := fmt.Sprintf("%s-%d", name, c.starts[name])
	c.starts[name]++
	cfg, err := pgxpool.ParseConfig(c.dbURL)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["application_name"] = appName
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)

	logger := c.logger.With("service", appName)
	var svc host.Service
	switch name {
	case "orders":
		svc = orders.New(pool, logger, orders.Config{
			DevMode: c.opt.devMode, ManagerTokens: map[string]string{apiManager: managerToken}, PaymentWebhookSecret: paymentSecret,
			DeliveryWebhookSecret: deliverySecret, Workflow: c.opt.workflow, SMTPURL: c.opt.smtpURL,
			MailPollInterval: 20 * time.Millisecond, OperatorToken: operatorToken, OrderTokenSecret: orderTokenSecret, WarehouseURL: c.warehouse,
		})
	case "payments":
		svc = payments.New(pool, logger, payments.Config{WebhookSecret: paymentSecret, OrdersWebhookURL: c.orders + "/webhooks/payment"})
	case "warehouse":
		svc = warehouse.New(pool, logger, warehouse.Config{})
	case "delivery":
		svc = delivery.New(pool, logger, delivery.Config{WebhookSecret: deliverySecret, OrdersWebhookURL: c.orders + "/webhooks/delivery"})
	default:
		t.Fatalf("no service %q", name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &serviceProcess{appName: appName, cancel: cancel, done: make(chan error, 1), pool: pool}
	go func() {
		p.done <- host.Serve(ctx, logger, pool, ln, svc, host.Options{Log: eventstore.LogConfig{DuePollInterval: 50 * time.Millisecond}})
	}()
	c.procs[name] = p
}

// stop ends service name the way an orderly shutdown does: its context is cancelled and
// host.Serve drains requests and handlers before it returns.
func (c *cluster) stop(t *testing.T, name string) {
	t.Helper()
	serveErr, err := c.halt(name)
	require.NoError(t, err)
	require.NoError(t, serveErr, "%s stopped with an error", name)
}

// crash ends service name the way a killed process does, as far as the database can tell:
// its connections are terminated first, aborting every transaction it had open (a handler
// half-way through a message, an HTTP request writing an order), and then the process goes.
func (c *cluster) crash(t *testing.T, name string) {
	t.Helper()
	p, ok := c.procs[name]
	require.True(t, ok, "%s is not running", name)
	var killed int
	require.NoError(t, c.db.QueryRow(t.Context(), `
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, p.appName).Scan(&killed))
	require.Positive(t, killed, "%s had no connection to terminate", name)
	// host.Serve may report the lost connections: a crashed process has no say.
	_, err := c.halt(name)
	require.NoError(t, err)
}

// halt cancels service name's context and waits for host.Serve to return (its result is
// serveErr) and for its pool to close.
func (c *cluster) halt(name string) (serveErr, err error) {
	p, ok := c.procs[name]
	if !ok {
		return nil, fmt.Errorf("%s is not running", name)
	}
	delete(c.procs, name)
	p.cancel()
	select {
	case serveErr = <-p.done:
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%s did not stop within 30s", name)
	}
	closed := make(chan struct{})
	go func() {
		p.pool.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		return serveErr, fmt.Errorf("%s still held database connections 30s after it stopped", name)
	}
	return serveErr, nil
}

// storedOrder rebuilds an order from the event store directly, for when the orders
// service is down.
func (c *cluster) storedOrder(t *testing.T, id string) *order.Order {
	t.Helper()
	o, err := orderstream.Load(t.Context(), c.db, id)
	require.NoError(t, err)
	return o
}

// eventually waits until cond holds, polling; it fails the test after 30 seconds.
func (c *cluster) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); <-poll.C {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

// deadlines returns when each armed deadline of the order's wait is due, as stored in the
// saga's delayed queue.
func (c *cluster) deadlines(t *testing.T, orderID, wait string) []time.Time {
	t.Helper()
	rows, err := c.db.Query(t.Context(), `
		SELECT (metadata->>'_watermill_delayed_until')::timestamptz FROM watermill_order_deadlines
		WHERE payload->>'orderId' = $1 AND payload->>'wait' = $2 AND NOT acked ORDER BY "offset"`, orderID, wait)
	require.NoError(t, err)
	var due []time.Time
	for rows.Next() {
		var at time.Time
		require.NoError(t, rows.Scan(&at))
		due = append(due, at)
	}
	require.NoError(t, rows.Err())
	return due
}

// dbNow is Postgres's clock, the one the delayed queue compares deadlines with.
func (c *cluster) dbNow(t *testing.T) time.Time {
	t.Helper()
	var now time.Time
	require.NoError(t, c.db.QueryRow(t.Context(), `SELECT now()`).Scan(&now))
	return now
}

// countEvents counts the stored events named name whose payload's orderId (or stream, for
// order events) is orderID.
func (c *cluster) countEvents(t *testing.T, orderID, name string) int {
	t.Helper()
	var n int
	require.NoError(t, c.db.QueryRow(t.Context(), `
		SELECT count(*) FROM events WHERE event_name = $2 AND (stream_id = $1 OR payload->>'orderId' = $1)`,
		orderID, name).Scan(&n))
	return n
}

func (c *cluster) deadLetters(t *testing.T) []string {
	t.Helper()
	rows, err := c.db.Query(t.Context(), `SELECT topic || ': ' || error FROM dead_letters ORDER BY id`)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// A deadline armed before the orders service goes down fires after it comes back, even
// though it fell due while no orders process was running: the wait's timer is a row in
// Postgres, not a timer in a process.
func TestPaymentDeadlineSurvivesRestart(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.PaymentTimeout = 2 * time.Second
	c := startCluster(t, opt)
	before := c.stock(t, "SKU-001")
	id := c.placeOrder(t, lowRisk)
	c.waitStatus(t, id, "awaiting_payment")
	c.eventually(t, "the payment deadline is armed", func() bool { return len(c.deadlines(t, id, "payment")) == 1 })

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
	assert.Empty(t, c.deadlines(t, id, "payment"), "a fired deadline leaves the queue")
	assert.Equal(t, 1, c.countEvents(t, id, order.NameOrderCancelled))
	assert.Empty(t, c.deadLetters(t))
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
	before := c.stock(t, "SKU-001")
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
	require.Positive(t, inFlight, "every order had settled before the crash: the test proved nothing")

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
// that committed is not.
func TestWarehouseCrashReservesEachOrderOnce(t *testing.T) {
	c := startCluster(t, defaultOptions())
	before := c.stock(t, "SKU-001")
	const n = 20
	ids := make([]string, n)
	// All at once, so the crash finds reservations in flight: placed one after another
	// (each asks the catalog for its price), the warehouse keeps up with them.
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			ids[i] = c.placeOrder(t, fmt.Sprintf(`{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":50}],"total":100,"customerId":"wh-%d"}`, i))
		})
	}
	wg.Wait()
	c.crash(t, "warehouse")
	unanswered := 0
	for _, id := range ids {
		if c.countEvents(t, id, inventory.ReservedName) == 0 {
			unanswered++
		}
	}
	t.Logf("%d of %d reservations were still pending at the crash", unanswered, n)
	require.Positive(t, unanswered, "the warehouse had answered every order before the crash: the test proved nothing")

	c.start(t, "warehouse")
	for _, id := range ids {
		c.waitStatus(t, id, "awaiting_payment")
		assert.Equal(t, 1, c.countEvents(t, id, inventory.ReservedName), "order %s: reserved once", id)
	}
	assert.Equal(t, stock{SKU: "SKU-001", Available: before.Available - 2*n, Reserved: before.Reserved + 2*n}, c.stock(t, "SKU-001"))
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
