package dashboard_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// replica runs one orders process on pool's database until the test ends and returns its
// base URL: two of them are two replicas behind a load balancer.
func replica(t *testing.T, pool *pgxpool.Pool, cfg orders.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- host.Serve(ctx, slog.New(slog.DiscardHandler), pool, ln, orders.New(pool, slog.New(slog.DiscardHandler), cfg), host.Options{})
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return "http://" + ln.Addr().String()
}

// Issue 9: with two orders replicas, a manager's decision taken on replica A shows live on a
// dashboard connected to replica B (and on A's). The projection that records it runs in whichever
// replica holds the projections' consumer group, and announces it with NOTIFY, which every
// replica LISTENs to: no replica only hears its own process.
func TestDashboardOnOneReplicaSeesADecisionTakenOnTheOther(t *testing.T) {
	url := pgtest.URL(t)
	newPool := func() *pgxpool.Pool {
		pool, err := pgxpool.New(context.Background(), url)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return pool
	}
	poolA, poolB := newPool(), newPool() // two processes: a pool each
	require.NoError(t, orders.CreateManager(context.Background(), poolA, managerEmail, managerPassword))
	cfg := orders.Config{ManagerTokens: map[string]string{"api@example.com": "token"}, WarehouseURL: orderstest.CatalogURL(t, poolA)}
	a, b := replica(t, poolA, cfg), replica(t, poolB, cfg)

	// A manager's dashboard on each replica (a session is stored in the database, and
	// cookies do not tell ports apart, so one sign-in serves both). Whichever replica
	// runs the projection, the other one's stream can only learn of the change from
	// the database.
	d := &dash{pool: poolB, srv: &httptest.Server{URL: b}, client: orderstest.Client(t)}
	d.signIn(t, d.client, managerEmail, managerPassword)
	stream := func(base string) func(want string) {
		req, err := http.NewRequest("GET", base+"/dashboard/events?list=pending", nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := d.client.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		require.Equal(t, http.StatusOK, resp.StatusCode)
		events := readEvents(resp)
		return func(want string) {
			t.Helper()
			deadline := time.After(20 * time.Second)
			for {
				select {
				case ev, ok := <-events:
					require.True(t, ok, "the stream of %s ended while waiting for pending-count %s", base, want)
					if ev.name == "pending-count" && ev.data == want {
						return
					}
				case <-deadline:
					t.Fatalf("the dashboard on %s never showed pending-count %s", base, want)
				}
			}
		}
	}
	onA, onB := stream(a), stream(b)
	count := func(want string) {
		t.Helper()
		onA(want)
		onB(want)
	}
	count("0")

	// Placed on A: held for approval, and B's dashboard shows it.
	placed, err := http.Post(a+"/api/orders", "application/json",
		strings.NewReader(`{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"newCustomer":true,"customerEmail":"bob@example.com"}`))
	require.NoError(t, err)
	var id struct{ ID string }
	require.NoError(t, json.NewDecoder(placed.Body).Decode(&id))
	placed.Body.Close()
	require.Equal(t, http.StatusCreated, placed.StatusCode)
	count("1")

	// Decided on A: B's dashboard drops it.
	decision, err := http.NewRequest("POST", a+"/api/orders/approve", strings.NewReader(`{"orderId":"`+id.ID+`","approved":false,"reason":"fraud"}`))
	require.NoError(t, err)
	decision.Header.Set("Authorization", "Bearer token")
	decision.Header.Set("Content-Type", "application/json")
	decided, err := http.DefaultClient.Do(decision)
	require.NoError(t, err)
	decided.Body.Close()
	require.Equal(t, http.StatusOK, decided.StatusCode)
	count("0")
}
