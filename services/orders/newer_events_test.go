package orders_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/orderstream/orderstreamtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// GET /api/orders/{id} of an order with an event a newer release appended (a rolling
// upgrade) answers the order from the newer release's snapshot when this release reads
// its layout, and otherwise says the order is unavailable until this release is upgraded
// (a 503 to retry), where it answered a 500 ("unknown order event"): it never answers a
// state folded without the event as the order's. Its events are listed, the unknown one
// as stored.
func TestAnAPIReadOfAnOrderWithANewerReleasesEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newAPI(t, orders.Config{WarehouseURL: "http://127.0.0.1:1"})
	withNewerEvent := func(id string, layout orderstreamtest.Layout) {
		t.Helper()
		orderstest.HoldOrder(t, a.pool, id, "erin@example.com")
		o, err := orderstream.Load(ctx, a.pool, id)
		require.NoError(t, err)
		orderstreamtest.AppendNewerEvent(t, a.pool, o, layout)
	}
	withNewerEvent("o-same-layout", orderstreamtest.SameLayout)
	withNewerEvent("o-newer-layout", orderstreamtest.NewerLayout)

	r := a.get(t, "/api/orders/o-same-layout")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.Equal(t, "awaiting_approval", decodeObject(t, r.body)["status"])

	r = a.get(t, "/api/orders/o-newer-layout")
	require.Equal(t, http.StatusServiceUnavailable, r.status, string(r.body))
	assert.Equal(t, httpx.RetryAfter, r.header.Get("Retry-After"))
	var e httpx.ErrorBody
	require.NoError(t, json.Unmarshal(r.body, &e))
	assert.Equal(t, "unavailable", e.Error.Code)
	assert.Contains(t, e.Error.Message, "order o-newer-layout has an event this release of the service does not know ("+orderstreamtest.NewerEvent)

	r = a.get(t, "/api/orders/o-newer-layout/events")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var events struct{ Events []struct{ Name string } }
	require.NoError(t, json.Unmarshal(r.body, &events))
	require.NotEmpty(t, events.Events)
	assert.Equal(t, orderstreamtest.NewerEvent, events.Events[len(events.Events)-1].Name)
}
