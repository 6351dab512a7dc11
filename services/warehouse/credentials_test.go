package warehouse_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/warehouse"
)

// Findings 1 and 2 of issue 8: every procedure wants a calling service's token; without
// one, with a wrong one, or when no caller is configured at all, it answers 401 and moves
// no stock. The catalog listing and the health check stay open.
func TestProceduresWantACallersToken(t *testing.T) {
	t.Parallel()
	h, stock := newAPI(t)
	require.Equal(t, http.StatusCreated, call(t, h, http.MethodPost, "/api/inventory/reserve",
		`{"orderId":"victim","lines":[{"sku":"SKU-LIMITED","quantity":5}]}`).Code)

	procedures := []struct{ method, path, body string }{
		{http.MethodPost, "/api/inventory/check-availability", `{"lines":[{"sku":"SKU-001","quantity":1}]}`},
		{http.MethodPost, "/api/inventory/reserve", `{"orderId":"thief","lines":[{"sku":"SKU-LIMITED","quantity":5}]}`},
		{http.MethodPost, "/api/inventory/release", `{"orderId":"victim","reason":"x"}`},
		{http.MethodGet, "/api/inventory/reservations/victim", ""},
	}
	for _, p := range procedures {
		for _, authorization := range []string{"", "Bearer wrong", ordersToken, "Basic " + ordersToken} {
			rec := callWith(t, h, p.method, p.path, p.body, authorization)
			require.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s with %q: %s", p.method, p.path, authorization, rec.Body)
			assert.Equal(t, "unauthorized", decode[httpx.ErrorBody](t, rec).Error.Code)
		}
	}
	available, reserved := stock("SKU-LIMITED")
	assert.Equal(t, 0, available, "the victim's units are still held")
	assert.Equal(t, 5, reserved)

	assert.Equal(t, http.StatusOK, callWith(t, h, http.MethodGet, "/api/inventory", "", "").Code)

	// A warehouse configured with no callers is closed, not open.
	pool := pgtest.Pool(t)
	closed := warehouse.New(pool, nil, warehouse.Config{}).Handler()
	for _, p := range procedures {
		assert.Equal(t, http.StatusUnauthorized, call(t, closed, p.method, p.path, p.body).Code, "%s %s", p.method, p.path)
	}
}

// Finding 2 of issue 8: the release procedure gives an order's units back once however
// many calls race for it, and the stock never goes above what there was.
func TestConcurrentReleasesGiveStockBackOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	require.NoError(t, warehouse.Seed(context.Background(), pool))
	h := warehouse.New(pool, nil, callers).Handler()
	require.Equal(t, http.StatusCreated, call(t, h, http.MethodPost, "/api/inventory/reserve",
		`{"orderId":"o-1","lines":[{"sku":"SKU-LIMITED","quantity":5}]}`).Code)

	// The calls race in goroutines; their answers are read in the test's own, where a
	// failing decode may stop the test.
	const calls = 10
	answers := make([]*httptest.ResponseRecorder, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			answers[i] = call(t, h, http.MethodPost, "/api/inventory/release", `{"orderId":"o-1","reason":"payment failed"}`)
		})
	}
	wg.Wait()
	n := 0
	for _, rec := range answers {
		if assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String()) && decode[struct{ Released bool }](t, rec).Released {
			n++
		}
	}
	assert.Equal(t, 1, n, "exactly one call gave the units back")
	available, reserved := stockOf(t, pool, "SKU-LIMITED")
	assert.Equal(t, 5, available)
	assert.Zero(t, reserved)

	events, err := eventstore.Load(context.Background(), pool, inventory.StreamID("o-1"))
	require.NoError(t, err)
	require.Len(t, events, 2, "reserved, released once")
	assert.Equal(t, inventory.ReleasedName, events[1].Name)
	assert.Equal(t, "service:orders", events[1].Metadata.Actor)
}
