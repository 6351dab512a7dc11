package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// With its database stopped, the orders service answers its API with 503, a JSON error
// and Retry-After, quickly; /readyz says the database does not answer; and once the
// database is back, with no restart of the service, its consumers pick up a message
// published after the recovery. The database is a cluster of the test's own (initdb in
// a temporary directory), stopped and started with pg_ctl.
func TestDatabaseOutageAnswers503AndConsumersResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a Postgres cluster of its own")
	}
	pg := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pool, err := eventstore.Open(ctx, pg.url("ordermill"), "orders-test")
	require.NoError(t, err)
	defer pool.Close()

	svc := orders.New(pool, slog.New(slog.DiscardHandler), orders.Config{OperatorToken: orderstest.OperatorToken})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- host.Serve(sctx, slog.New(slog.DiscardHandler), pool, ln, svc, host.Options{}) }()
	defer func() { stop(); <-served }()
	waitReadyz(t, base, http.StatusOK)
	placeDirect(t, pool, "ord-before")
	waitSummary(t, pool, "ord-before")

	pg.ctl(t, "stop", "-m", "fast")
	start := time.Now()
	resp := getDuringOutage(t, base+"/api/orders/ord-before", orderstest.OperatorToken)
	assert.Less(t, time.Since(start), 5*time.Second, "an outage is answered at once, not after a hang")
	assert.Equal(t, http.StatusServiceUnavailable, resp.status, resp.body)
	assert.Equal(t, "application/json", resp.header.Get("Content-Type"))
	assert.Equal(t, "5", resp.header.Get("Retry-After"))
	var body struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(resp.body), &body), resp.body)
	assert.Equal(t, "unavailable", body.Error.Code)
	assert.NotContains(t, resp.body, "127.0.0.1", "no connection details leak")
	ready := getDuringOutage(t, base+"/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, ready.status)
	assert.Contains(t, ready.body, "not answering")
	for _, detail := range []string{"127.0.0.1", "user=", "database="} {
		assert.NotContains(t, ready.body, detail, "the driver's error, naming the database, is the log's, not the body's")
	}
	// The gauges read at scrape time are missing, and a gauge says so: an alert on them
	// alone went silent.
	scraped := getDuringOutage(t, base+"/metrics", "")
	assert.Equal(t, http.StatusOK, scraped.status)
	for _, reads := range []string{"log_lag", "log_holdback", "orders_waiting"} {
		assert.Contains(t, scraped.body, `ordermill_scrape_reads_ok{reads="`+reads+`"} 0`)
	}

	pg.ctl(t, "start", "-w", "-t", "60", "-o", pg.options())
	waitReadyz(t, base, http.StatusOK)
	placeDirect(t, pool, "ord-after")
	waitSummary(t, pool, "ord-after")
	again := getDuringOutage(t, base+"/api/orders/ord-after", orderstest.OperatorToken)
	assert.Equal(t, http.StatusOK, again.status, again.body)
	scraped = getDuringOutage(t, base+"/metrics", "")
	for _, reads := range []string{"log_lag", "log_holdback", "orders_waiting"} {
		assert.Contains(t, scraped.body, `ordermill_scrape_reads_ok{reads="`+reads+`"} 1`)
	}
}

type outageResponse struct {
	status int
	header http.Header
	body   string
}

func getDuringOutage(t *testing.T, url, token string) outageResponse {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return outageResponse{resp.StatusCode, resp.Header, string(b)}
}

// waitReadyz polls /readyz until it answers want.
func waitReadyz(t *testing.T, base string, want int) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r := getDuringOutage(t, base+"/readyz", "")
		assert.Equal(c, want, r.status, r.body)
	}, 60*time.Second, 50*time.Millisecond)
}

// placeDirect records a placed order, as the API would, straight into the store.
func placeDirect(t *testing.T, pool *pgxpool.Pool, id string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		o := &order.Order{}
		events, err := o.Place(order.PlaceOrder{OrderID: id, CustomerEmail: "c@example.com",
			Items: []order.Item{{SKU: "SKU-001", Quantity: 1}}, Total: 1000, At: now})
		if err != nil {
			return err
		}
		o.ID = id
		return orderstream.Append(ctx, tx, o, eventstore.Metadata{CorrelationID: id, Actor: "customer"}, events...)
	}))
}

// waitSummary waits until the projections' consumer has put the order in the order list.
func waitSummary(t *testing.T, pool *pgxpool.Pool, id string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var n int
		assert.NoError(c, pool.QueryRow(context.Background(), `SELECT count(*) FROM orders.order_summaries WHERE order_id = $1`, id).Scan(&n))
		assert.Equal(c, 1, n)
	}, 60*time.Second, 20*time.Millisecond)
}

// cluster is a Postgres cluster of the test's own, in a temporary directory.
type cluster struct {
	bin, dir   string
	port       int
	asPostgres bool
}

// newCluster creates and starts a cluster with the server binaries ensure-postgres.sh
// uses; it is stopped and removed when the test ends.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	bin := ""
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		bin = string(out[:len(out)-1])
	}
	if _, err := os.Stat(filepath.Join(bin, "initdb")); bin == "" || err != nil {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Strings(dirs)
		if len(dirs) == 0 {
			t.Skip("no Postgres server binaries (initdb, pg_ctl) installed")
		}
		bin = dirs[len(dirs)-1]
	}
	dir, err := os.MkdirTemp("", "ordermill-outage-")
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	c := &cluster{bin: bin, dir: dir, port: port, asPostgres: os.Getuid() == 0}
	if c.asPostgres {
		// Postgres refuses to run as root: the cluster belongs to the postgres user.
		u, err := user.Lookup("postgres")
		require.NoError(t, err)
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
	}
	t.Cleanup(func() {
		_ = c.command("pg_ctl", "-D", c.data(), "stop", "-m", "immediate").Run()
		_ = os.RemoveAll(dir)
	})
	c.run(t, "initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "--encoding=UTF8")
	c.ctl(t, "start", "-w", "-t", "60", "-o", c.options())
	return c
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *cluster) options() string {
	return fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", c.port, c.dir)
}

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// ctl runs pg_ctl on the cluster.
func (c *cluster) ctl(t *testing.T, args ...string) {
	t.Helper()
	c.run(t, "pg_ctl", append([]string{"-D", c.data(), "-l", filepath.Join(c.dir, "server.log")}, args...)...)
}

func (c *cluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := c.command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s: %s", name, out)
}

func (c *cluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.asPostgres {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}
