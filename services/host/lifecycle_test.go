package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
)

// consumingService consumes the order events as group "lifecycle", calling handle for each
// batch, and answers GET /slow once release is closed.
type consumingService struct {
	handle  eventstore.BatchHandler
	release chan struct{}
	started chan struct{}
}

func (s consumingService) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(s.started)
		<-s.release
		_, _ = io.WriteString(w, "done")
	})
	return mux
}

func (consumingService) OpenAPI() []byte { return testDocument }

func (s consumingService) RegisterConsumers(log *eventstore.Log, router *message.Router) error {
	return log.ConsumeBatches(router, "lifecycle", eventstore.Partitions("order_events"), s.handle)
}

// running is a host.Serve in progress.
type running struct {
	addr string
	stop context.CancelFunc
	done chan error
}

func run(t *testing.T, pool *pgxpool.Pool, svc host.Service, opts host.Options) running {
	t.Helper()
	return runLogged(t, pool, svc, opts, slog.New(slog.DiscardHandler))
}

// runLogged is run with the process logging to logger.
func runLogged(t *testing.T, pool *pgxpool.Pool, svc host.Service, opts host.Options, logger *slog.Logger) running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := running{addr: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- host.Serve(ctx, logger, pool, ln, svc, opts) }()
	t.Cleanup(cancel)
	return r
}

// readyz returns /readyz's status and checks.
func readyz(t *testing.T, base string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Status string
		Checks map[string]string
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body.Checks
}

// waitReady polls /readyz until it answers want.
func waitReady(t *testing.T, base string, want int) map[string]string {
	t.Helper()
	var checks map[string]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var code int
		if code, checks = readyz(t, base); code == want {
			return checks
		}
	}
	t.Fatalf("/readyz never answered %d: %v", want, checks)
	return nil
}

func noop(context.Context, pgx.Tx, []*message.Message) error { return nil }

// /healthz says the process is alive; /readyz says it is ready only once its consumers
// run, and names the migrations when the schema is behind the binary.
func TestHealthAndReadiness(t *testing.T) {
	pool := pgtest.Pool(t)
	r := run(t, pool, consumingService{handle: noop}, host.Options{})
	resp, err := http.Get(r.addr + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"status":"alive"}`, string(body))

	checks := waitReady(t, r.addr, http.StatusOK)
	assert.Equal(t, map[string]string{"database": "ok", "migrations": "ok", "consumers": "ok", "shutdown": "ok", "log_holdback": "ok"}, checks)

	// An older binary's schema: the newest migration is not applied.
	var newest int64
	require.NoError(t, pool.QueryRow(t.Context(), `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version) RETURNING version_id`).Scan(&newest))
	code, checks := readyz(t, r.addr)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, checks["migrations"], "this binary needs")
	assert.Equal(t, "ok", checks["database"])

	// A newer release's schema (a rolling upgrade): still ready, and it says so.
	_, err = pool.Exec(t.Context(), `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true), ($1 + 1, true)`, newest)
	require.NoError(t, err)
	code, checks = readyz(t, r.addr)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, fmt.Sprintf("ok (database at version %d, newer than this binary's %d: replace it)", newest+1, newest), checks["migrations"])
}

// A stopping process finishes what it has in hand: a request and a batch in flight
// complete and commit, and then Serve returns nil.
func TestShutdownFinishesRequestsAndBatchesInFlight(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := t.Context()
	_, err := pool.Exec(ctx, `CREATE TABLE handled (stream_id TEXT)`)
	require.NoError(t, err)
	inBatch, finishBatch := make(chan struct{}), make(chan struct{})
	svc := consumingService{release: make(chan struct{}), started: make(chan struct{}), handle: func(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
		close(inBatch)
		<-finishBatch
		_, err := tx.Exec(ctx, `INSERT INTO handled VALUES ('one')`)
		return err
	}}
	r := run(t, pool, svc, host.Options{ShutdownTimeout: 10 * time.Second})
	waitReady(t, r.addr, http.StatusOK)
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := eventstore.Append(ctx, tx, eventstore.Stream{Type: "order", ID: "o-1"}, 0, eventstore.Metadata{}, eventstore.Event{Name: "order.placed.v1", Data: map[string]string{}})
		return err
	}))
	<-inBatch
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get(r.addr + "/slow")
		if err != nil {
			answer <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- string(body)
	}()
	<-svc.started

	r.stop()
	select {
	case err := <-r.done:
		t.Fatalf("Serve returned (%v) with a request and a batch in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(svc.release)
	close(finishBatch)
	select {
	case err := <-r.done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its work finished")
	}
	assert.Equal(t, "done", <-answer, "the request in flight was answered")
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM handled`).Scan(&n))
	assert.Equal(t, 1, n, "the batch in flight committed")
}

// An idle process stops at once: nothing waits for a poll interval.
func TestIdleShutdownIsQuick(t *testing.T) {
	pool := pgtest.Pool(t)
	r := run(t, pool, consumingService{handle: noop}, host.Options{})
	waitReady(t, r.addr, http.StatusOK)
	start := time.Now()
	r.stop()
	require.NoError(t, <-r.done)
	assert.Less(t, time.Since(start), time.Second)
}

// With a shutdown delay, a stopping process goes on serving with /readyz answering 503, so
// a load balancer polling readiness takes it out before the port closes: without one the
// port closed at SIGTERM, and /readyz never said 503 to anyone. Then it stops as before.
// The delay is long, and cut short (Options.Hurry) once the message is handled: a delay of
// 2 s failed whenever a transaction open elsewhere on the server held the message back for
// longer (other packages' tests hold one open on purpose, side by side with this one).
func TestShutdownDelayServesWhileNotReady(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := t.Context()
	handled := make(chan string, 1)
	hurry := make(chan struct{})
	r := run(t, pool, consumingService{handle: func(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
		for _, m := range msgs {
			rec, err := eventstore.DecodeRecorded(m)
			if err != nil {
				return err
			}
			handled <- rec.StreamID
		}
		return nil
	}}, host.Options{ShutdownDelay: 15 * time.Second, Hurry: hurry})
	cutShort := sync.OnceFunc(func() { close(hurry) })
	t.Cleanup(cutShort) // a failed test does not leave the process in its delay
	waitReady(t, r.addr, http.StatusOK)
	r.stop()
	checks := waitReady(t, r.addr, http.StatusServiceUnavailable)
	assert.Equal(t, "shutting down", checks["shutdown"])
	resp, err := http.Get(r.addr + "/healthz")
	require.NoError(t, err, "still serving")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	// What it accepts meanwhile moves on: the consumers stop with the delay, not at the
	// signal (an order placed in the delay waited for the next start).
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := eventstore.Append(ctx, tx, eventstore.Stream{Type: "order", ID: "o-late"}, 0, eventstore.Metadata{}, eventstore.Event{Name: "order.placed.v1", Data: map[string]string{}})
		return err
	}))
	select {
	case id := <-handled:
		assert.Equal(t, "o-late", id)
	case err := <-r.done:
		t.Fatalf("Serve returned (%v) before a message published during its shutdown delay was handled", err)
	}
	code, _ := readyz(t, r.addr)
	assert.Equal(t, http.StatusServiceUnavailable, code, "handled while not ready")
	select {
	case err := <-r.done:
		t.Fatalf("Serve returned (%v) within its delay", err)
	default:
	}
	cutShort()
	require.NoError(t, <-r.done)
	_, err = http.Get(r.addr + "/healthz")
	assert.Error(t, err, "the port is closed once stopped")
}

// A shutdown delay runs out by itself: the process stops once it has passed.
func TestTheShutdownDelayRunsOut(t *testing.T) {
	pool := pgtest.Pool(t)
	const delay = 300 * time.Millisecond
	r := run(t, pool, consumingService{handle: noop}, host.Options{ShutdownDelay: delay})
	waitReady(t, r.addr, http.StatusOK)
	start := time.Now()
	r.stop()
	require.NoError(t, <-r.done)
	assert.GreaterOrEqual(t, time.Since(start), delay)
}

// A second signal cuts the shutdown delay short: a Ctrl-C pressed again waited the delay
// out (a probe, with SHUTDOWN_DELAY=20s).
func TestASecondSignalCutsTheShutdownDelayShort(t *testing.T) {
	pool := pgtest.Pool(t)
	hurry := make(chan struct{})
	r := run(t, pool, consumingService{handle: noop}, host.Options{ShutdownDelay: time.Hour, Hurry: hurry})
	waitReady(t, r.addr, http.StatusOK)
	r.stop()
	waitReady(t, r.addr, http.StatusServiceUnavailable) // in the delay
	close(hurry)
	select {
	case err := <-r.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the second signal did not end the hour's delay")
	}
}

// Past the shutdown timeout, work still in flight is cut off and Serve returns anyway.
func TestShutdownTimeoutCutsOffStuckWork(t *testing.T) {
	pool := pgtest.Pool(t)
	svc := consumingService{handle: noop, release: make(chan struct{}), started: make(chan struct{})}
	r := run(t, pool, svc, host.Options{ShutdownTimeout: 300 * time.Millisecond})
	waitReady(t, r.addr, http.StatusOK)
	go func() {
		if resp, err := http.Get(r.addr + "/slow"); err == nil {
			resp.Body.Close()
		}
	}()
	<-svc.started
	start := time.Now()
	r.stop()
	require.NoError(t, <-r.done)
	assert.Less(t, time.Since(start), 2*time.Second)
	close(svc.release)
}

// A process whose database stops answering (a hung network, not a refused connection)
// stops within its SHUTDOWN_TIMEOUT when asked: a probe froze a proxy in front of
// Postgres and the delivery service took 40 s past its 10 s, waiting on its listener's
// UNLISTEN, then on pgx's goodbyes to the connections it gave up on.
func TestAProcessStopsInTimeWhenItsDatabaseHangs(t *testing.T) {
	proxy := pgtest.NewFreezingProxy(t, pgtest.URL(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	const timeout = 2 * time.Second
	env := host.EnvOf(map[string]string{"DEV_MODE": "1", "DATABASE_URL": proxy.URL, "ADDR": addr,
		"SHUTDOWN_TIMEOUT": timeout.String(), "LOG_LEVEL": "error"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- host.Run(ctx, "test", 3000, env, func(*slog.Logger, host.Env) (host.Start, error) {
			return func(context.Context, *pgxpool.Pool, net.Addr) (host.Service, error) {
				return consumingService{handle: noop}, nil
			}, nil
		})
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false // not listening yet
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 10*time.Millisecond, "the process gets ready")

	proxy.Freeze()
	start := time.Now()
	cancel()
	select {
	case <-done:
		// Past the timeout by the pool's bounded goodbye, not by pgx's 15 s.
		assert.Less(t, time.Since(start), timeout+3*time.Second)
	case <-time.After(time.Minute):
		proxy.Close()
		t.Fatal("the process did not stop")
	}
}

// A process that cannot start touches no database: its service's settings are read, and
// its port taken, before the database is created or migrated. A probe's bad setting left
// a new database migrated (in a rolling upgrade, a schema migrated under the old release
// by a binary that then exits), and a production start on a port in use first removed the
// dev accounts another process was using.
func TestAStartThatCannotServeLeavesNoDatabase(t *testing.T) {
	u, err := url.Parse(pgtest.BaseURL())
	require.NoError(t, err)
	u.Path = "/ordermill_never_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	started := false
	start := func(context.Context, *pgxpool.Pool, net.Addr) (host.Service, error) {
		started = true
		return consumingService{handle: noop}, nil
	}
	for _, c := range []struct {
		addr  string
		build host.Build
		want  string
	}{
		{"127.0.0.1:0", func(*slog.Logger, host.Env) (host.Start, error) {
			return nil, errors.New("RISK_THRESHOLD=500: from 0 to 100")
		}, "RISK_THRESHOLD=500"},
		{taken.Addr().String(), func(*slog.Logger, host.Env) (host.Start, error) { return start, nil }, "PORT, HOST or ADDR: listen tcp"},
	} {
		env := host.EnvOf(map[string]string{"DEV_MODE": "1", "DATABASE_URL": u.String(), "ADDR": c.addr, "LOG_LEVEL": "error"})
		err := host.Run(t.Context(), "test", 3000, env, c.build)
		require.ErrorContains(t, err, c.want)
		assert.ErrorIs(t, eventstore.MustExist(t.Context(), u.String()), eventstore.ErrNoDatabase, "%s: no database created", c.want)
		assert.False(t, started, "nothing started")
	}
}
