package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/logging"
)

// Placements that ask for prices while every fetch is in flight wait, and the next fetch
// asks the catalog for all their SKUs in one request, which starts after each of them
// asked: each placement gets the prices of its own SKUs, and no others.
func TestPlacementsWaitingForPricesShareTheNextFetch(t *testing.T) {
	release := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) <= priceFetches {
			<-release
		}
		var items []inventory.CatalogItem
		for _, sku := range r.URL.Query()["sku"] {
			items = append(items, inventory.CatalogItem{SKU: sku, Name: "name of " + sku, UnitPrice: int64(len(sku)) * 100, Currency: "USD"})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
	}))
	defer srv.Close()
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	defer let() // before srv.Close, which waits for the held requests
	c := newCatalogClient(srv.URL, slog.New(slog.DiscardHandler))
	ctx := context.Background()

	var held sync.WaitGroup
	for i := range priceFetches {
		held.Go(func() {
			_, err := c.prices(ctx, []order.Item{{SKU: fmt.Sprintf("SKU-HELD-%d", i), Quantity: 1}})
			assert.NoError(t, err)
		})
		// One at a time: each holds a fetch of its own.
		for deadline := time.Now().Add(10 * time.Second); requests.Load() < int32(i+1); runtime.Gosched() {
			require.True(t, time.Now().Before(deadline), "the first fetches never reached the catalog")
		}
	}
	// Three placements, one SKU shared by two of them.
	asked := [][]string{{"SKU-A", "SKU-SHARED"}, {"SKU-SHARED"}, {"SKU-LONGER-NAME"}}
	got := make([]map[string]order.Price, len(asked))
	var waiting sync.WaitGroup
	for i, skus := range asked {
		waiting.Go(func() {
			var items []order.Item
			for _, sku := range skus {
				items = append(items, order.Item{SKU: sku, Quantity: 1})
			}
			p, err := c.prices(ctx, items)
			assert.NoError(t, err)
			got[i] = p
		})
	}
	for deadline := time.Now().Add(10 * time.Second); ; runtime.Gosched() {
		c.mu.Lock()
		n := len(c.pending)
		c.mu.Unlock()
		if n == len(asked) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the placements never queued")
	}
	let()
	held.Wait()
	waiting.Wait()

	assert.EqualValues(t, priceFetches+1, requests.Load(), "the waiting placements shared one request")
	assert.Equal(t, []map[string]order.Price{
		{"SKU-A": {Amount: 500, Currency: "USD", Name: "name of SKU-A"}, "SKU-SHARED": {Amount: 1000, Currency: "USD", Name: "name of SKU-SHARED"}},
		{"SKU-SHARED": {Amount: 1000, Currency: "USD", Name: "name of SKU-SHARED"}},
		{"SKU-LONGER-NAME": {Amount: 1500, Currency: "USD", Name: "name of SKU-LONGER-NAME"}},
	}, got)
}

// While the warehouse cannot be asked, an order is priced from the catalog's last answer,
// but only for lastPriceFor: a price changed meanwhile in the warehouse's table must not be
// missed for as long as the outage lasts. Past it, placing is the retryable 503 again.
func TestLastPricesServeAnOutageForAWhileOnly(t *testing.T) {
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": []inventory.CatalogItem{{SKU: "SKU-A", Name: "a", UnitPrice: 2400, Currency: "USD"}}})
	}))
	defer srv.Close()
	var logs bytes.Buffer
	c := newCatalogClient(srv.URL, slog.New(slog.NewTextHandler(&logs, nil)))
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return at }
	items := []order.Item{{SKU: "SKU-A", Quantity: 1}}
	_, err := c.prices(context.Background(), items)
	require.NoError(t, err)

	down.Store(true)
	at = at.Add(lastPriceFor)
	for range 5 {
		got, err := c.prices(context.Background(), items)
		require.NoError(t, err, "priced from the last answer")
		assert.Equal(t, order.Cents(2400), got["SKU-A"].Amount)
	}
	// The outage is logged once, not once a placement (a probe's 20 s outage wrote 239 lines).
	assert.Equal(t, 1, strings.Count(logs.String(), "catalog unreachable: pricing from its last answer"), logs.String())
	at = at.Add(time.Second)
	_, err = c.prices(context.Background(), items)
	assert.Equal(t, apperr.CodeUnavailable, apperr.ErrorCode(err), "%v", err)
}

// A catalog that cannot be reached is logged with why (the line said only the client's
// "retry later", though the order was priced from the last answer and placed), while the
// client is told no more than it can act on.
func TestAnUnreachableCatalogIsLoggedWithItsCause(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"items": []inventory.CatalogItem{{SKU: "SKU-A", Name: "a", UnitPrice: 2400, Currency: "USD"}}})
	}))
	var logs bytes.Buffer
	c := newCatalogClient(srv.URL, slog.New(slog.NewTextHandler(&logs, nil)))
	items := []order.Item{{SKU: "SKU-A", Quantity: 1}}
	_, err := c.prices(context.Background(), items)
	require.NoError(t, err)
	srv.Close()

	_, err = c.prices(context.Background(), items)
	require.NoError(t, err, "priced from the last answer")
	assert.Regexp(t, `msg="catalog unreachable: pricing from its last answer" err=".*retry later: Get .*connect: connection refused"`, logs.String())
	_, err = c.prices(context.Background(), []order.Item{{SKU: "SKU-B", Quantity: 1}})
	assert.Equal(t, "the catalog cannot be reached to price the order; retry later", apperr.ErrorMessage(err), "the client's words")
	assert.Equal(t, apperr.CodeUnavailable, apperr.ErrorCode(err))
	// A placement refused for want of a price is logged too: it left no line (a probe).
	assert.Regexp(t, `msg="catalog unreachable: order refused" err=".*retry later: Get .*connect: connection refused"`, logs.String())
}

// While the catalog fails, placements take the last prices at once, and one asks it again
// every askAgainAfter: a hung warehouse held every placement for the client's timeout, 10 s
// behind a fetch in flight (a probe: placement p50 10 s during a SIGSTOP of the warehouse).
func TestAFailingCatalogIsAskedAgainByOnePlacementAtATime(t *testing.T) {
	var hung atomic.Bool
	var asked atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hung.Load() {
			asked.Add(1)
			<-release // a warehouse that takes the connection and never answers
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": []inventory.CatalogItem{{SKU: "SKU-A", Name: "a", UnitPrice: 2400, Currency: "USD"}}})
	}))
	defer srv.Close()
	defer close(release)
	c := newCatalogClient(srv.URL, slog.New(slog.DiscardHandler))
	c.client.Timeout = 100 * time.Millisecond
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return at }
	items := []order.Item{{SKU: "SKU-A", Quantity: 1}}
	_, err := c.prices(context.Background(), items)
	require.NoError(t, err)

	hung.Store(true)
	_, err = c.prices(context.Background(), items)
	require.NoError(t, err, "the first placement waits out the timeout, then takes the last prices")
	require.EqualValues(t, 1, asked.Load())
	for range 20 {
		got, err := c.prices(context.Background(), items)
		require.NoError(t, err)
		assert.Equal(t, order.Cents(2400), got["SKU-A"].Amount)
	}
	assert.EqualValues(t, 1, asked.Load(), "not asked again before askAgainAfter")

	at = at.Add(askAgainAfter)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := c.prices(context.Background(), items)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.EqualValues(t, 2, asked.Load(), "asked again by one placement; the others took the last prices")

	hung.Store(false)
	at = at.Add(askAgainAfter)
	_, err = c.prices(context.Background(), items)
	require.NoError(t, err)
	c.mu.Lock()
	assert.True(t, c.askAt.IsZero(), "answered again: every placement asks once more")
	c.mu.Unlock()
}

// The placements priced from the last answer without asking are counted on the line of
// the one that asks, which says why the catalog fails: logged under the same key, their
// own line ("it failed a moment ago") took the minute's place of that one, and after the
// first minute of an outage its cause was no longer logged.
func TestACatalogOutageIsLoggedWithItsCauseEveryMinute(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"items": []inventory.CatalogItem{{SKU: "SKU-A", Name: "a", UnitPrice: 2400, Currency: "USD"}}})
	}))
	var logs bytes.Buffer
	c := newCatalogClient(srv.URL, slog.New(slog.NewTextHandler(&logs, nil)))
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return at }
	c.outage = logging.NewRepeatsAt(c.now)
	items := []order.Item{{SKU: "SKU-A", Quantity: 1}}
	_, err := c.prices(context.Background(), items)
	require.NoError(t, err)
	srv.Close()

	for _, step := range []time.Duration{0, 59 * time.Second, 1500 * time.Millisecond, 500 * time.Millisecond} {
		at = at.Add(step) // asks, asks (within the minute), does not ask, asks
		_, err := c.prices(context.Background(), items)
		require.NoError(t, err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2, logs.String())
	for _, line := range lines {
		assert.Contains(t, line, "connection refused", "each line says why")
	}
	assert.Contains(t, lines[1], "priced_without_asking=1")
}
