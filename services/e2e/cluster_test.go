package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

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
	// reserved holds each address's listener until the service's first start takes it:
	// closed in between, the port was taken by another test's connection ("address
	// already in use", a CI failure).
	reserved map[string]net.Listener
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

		reserved: map[string]net.Listener{},
	}
	for _, name := range []string{"orders", "warehouse", "payments", "delivery"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		c.addrs[name], c.reserved[name] = ln.Addr().String(), ln
	}
	t.Cleanup(func() {
		for _, ln := range c.reserved { // a start that never came
			_ = ln.Close()
		}
	})
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
	ln, ok := c.reserved[name]
	delete(c.reserved, name)
	if !ok {
		var err error
		ln, err = net.Listen("tcp", c.addrs[name])
		require.NoError(t, err)
	}
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
		svc = payments.New(pool, logger, payments.Config{WebhookSecret: paymentSecret, OrdersWebhookURL: c.orders + "/webhooks/payment",
			Simulator: !c.opt.noSimulators, Callers: callers}) // its checkout, for a customer paying while orders is down
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
	if !poll(10*time.Millisecond, cond) {
		t.Fatalf("timed out waiting until %s", what)
	}
}

// deadlines returns when each armed deadline of the order's wait is due, as stored in the
// saga's delayed queue.
func (s *system) deadlines(t *testing.T, orderID, wait string) []time.Time {
	t.Helper()
	rows, err := s.db.Query(t.Context(), `
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
