package simulator_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/simulator"
)

// A webhook the orders service did not answer (down for a restart) is sent again by the
// worker until it is answered, once it is, and then forgotten, as a real provider sends
// its webhooks again: the simulators sent each once, and a payment made at the checkout
// page during a restart was never reported (the order was cancelled unpaid).
func TestAWebhookNotAnsweredIsSentAgainUntilItIs(t *testing.T) {
	pool := pgtest.Pool(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // the orders service is down: nothing answers there
	n := keepingNotifier("http://"+addr+"/webhooks/delivery", pool)
	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	id, err := n.Commit(t.Context(), tx, "ord-1", webhook{ID: "evt_1"})
	require.NoError(t, err)
	_, err = n.Send(t.Context(), id, webhook{ID: "evt_1"})
	require.ErrorAs(t, err, new(*simulator.DeliveryError))
	require.Zero(t, attempts(t, pool, id), "kept, not yet sent again")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.RunWorker(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	require.Eventually(t, func() bool { return attempts(t, pool, id) >= 2 }, 10*time.Second, 10*time.Millisecond, "tried again while nothing answers")

	var mu sync.Mutex
	var got []string
	up, err := net.Listen("tcp", addr) // back, where it was
	require.NoError(t, err)
	orders := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.URL.Path)
		w.WriteHeader(http.StatusAccepted)
	}))
	orders.Listener = up
	orders.Start()
	defer orders.Close()
	require.Eventually(t, func() bool { return attempts(t, pool, id) < 0 }, 10*time.Second, 10*time.Millisecond, "forgotten once answered")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"/webhooks/delivery"}, got, "sent once it could be, once")
}

// An answer that says to come back (a 503 while the orders service's database is down, a
// 429) is not the end of a webhook: it is sent again until it is taken. It was forgotten
// at the 503, and a delivery reported during an outage was never known (a review).
func TestAWebhookAnsweredComeBackIsSentAgain(t *testing.T) {
	pool := pgtest.Pool(t)
	var mu sync.Mutex
	answers := []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusOK}
	var got []int
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		status := answers[min(len(got), len(answers)-1)]
		got = append(got, status)
		w.WriteHeader(status)
	}))
	defer orders.Close()
	n := keepingNotifier(orders.URL+"/webhooks/delivery", pool)
	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	id, err := n.Commit(t.Context(), tx, "ord-1", webhook{ID: "evt_1"})
	require.NoError(t, err)
	res, err := n.Send(t.Context(), id, webhook{ID: "evt_1"})
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, res.OrdersStatus)
	require.Zero(t, attempts(t, pool, id), "kept after the 503")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.RunWorker(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	require.Eventually(t, func() bool { return attempts(t, pool, id) < 0 }, 10*time.Second, 10*time.Millisecond, "forgotten once taken")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusOK}, got, "sent until taken, then no more")
}

// keepingNotifier is newNotifier's notifier keeping its webhooks in pool (Config.DB),
// sending one not answered again 50 ms after it was recorded, looking every 10 ms.
func keepingNotifier(url string, pool *pgxpool.Pool) *simulator.Notifier[webhook] {
	cfg := notifierConfig(url)
	cfg.DB, cfg.RetryAfter, cfg.RetryPoll = pool, 50*time.Millisecond, 10*time.Millisecond
	return simulator.New[webhook](slog.New(slog.DiscardHandler), cfg)
}

// attempts is how often webhook id was sent again; -1 once it is forgotten.
func attempts(t *testing.T, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id int64) int {
	t.Helper()
	n := -1
	err := pool.QueryRow(t.Context(), `SELECT attempts FROM simulator_webhooks WHERE id = $1`, id).Scan(&n)
	if err != nil && err != pgx.ErrNoRows {
		t.Fatal(err)
	}
	return n
}

// A database outage is one line a minute from the worker, not one a poll: a probe counted
// a warning a second from each simulator for the whole outage.
func TestTheWorkerLogsAnOutageOnceAMinute(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://postgres@127.0.0.1:1/down")
	require.NoError(t, err)
	var tries atomic.Int32
	cfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error {
		tries.Add(1)
		return errors.New("the database is down")
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	defer pool.Close()
	var lines atomic.Int32
	logger := slog.New(countingHandler{&lines})
	n := simulator.New[webhook](logger, simulator.Config{Service: "delivery", Kind: "courier", Secret: secret, DB: pool, RetryPoll: time.Millisecond})

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.RunWorker(ctx) }()
	require.Eventually(t, func() bool { return tries.Load() >= 5 }, 10*time.Second, time.Millisecond, "the worker polls on")
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, int32(1), lines.Load(), "one line for the outage")
}

// countingHandler counts the records logged through it.
type countingHandler struct{ n *atomic.Int32 }

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(context.Context, slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// A kept webhook whose body does not decode (kept by a release whose webhook had another
// shape) is given up: it held up the rest of its claim at every try, moved on and not
// sent, and was never given up (a review).
func TestAWebhookThatDoesNotDecodeIsGivenUp(t *testing.T) {
	pool := pgtest.Pool(t)
	orders, got := recordingOrders(t)
	n := keepingNotifier(orders.URL+"/webhooks/delivery", pool)
	var garbled int64
	require.NoError(t, pool.QueryRow(t.Context(), `INSERT INTO simulator_webhooks (kind, order_id, body, next_at)
		VALUES ($1, 'ord-0', '{"id": 7}', now() - interval '1 second') RETURNING id`, notifierConfig("").Kind).Scan(&garbled))
	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	id, err := n.Commit(t.Context(), tx, "ord-1", webhook{ID: "evt_1"})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.RunWorker(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	require.Eventually(t, func() bool { return attempts(t, pool, id) < 0 && attempts(t, pool, garbled) < 0 }, 10*time.Second, 10*time.Millisecond,
		"the webhook behind it sent, and the one that does not decode given up")
	assert.Equal(t, []string{"/webhooks/delivery"}, got())
}

// A webhook sent again for some 17 hours at the longest wait had its next wait computed as
// 2 to the power of its attempts, which overflows once those pass about 1,023: every claim
// of its kind then failed, and none of its webhooks was sent again or given up (a review).
// Its wait stays at the longest.
func TestAWebhookTriedVeryOftenIsStillSentAgain(t *testing.T) {
	pool := pgtest.Pool(t)
	orders, got := recordingOrders(t)
	n := keepingNotifier(orders.URL+"/webhooks/delivery", pool)
	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	id, err := n.Commit(t.Context(), tx, "ord-1", webhook{ID: "evt_1"})
	require.NoError(t, err)
	_, err = pool.Exec(t.Context(), `UPDATE simulator_webhooks SET attempts = 1100, next_at = now() - interval '1 second' WHERE id = $1`, id)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.RunWorker(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	require.Eventually(t, func() bool { return attempts(t, pool, id) < 0 }, 10*time.Second, 10*time.Millisecond, "sent and forgotten once answered")
	assert.Equal(t, []string{"/webhooks/delivery"}, got())
}

// recordingOrders is an orders service that takes every webhook, and the paths it was sent
// to so far.
func recordingOrders(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var got []string
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.URL.Path)
	}))
	t.Cleanup(orders.Close)
	return orders, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}
