package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
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
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/orders"
)

type summary struct {
	ID        string      `json:"id"`
	Status    string      `json:"status"`
	Total     json.Number `json:"total"`
	Currency  string      `json:"currency"`
	ItemCount int         `json:"itemCount"`
	RiskScore *int        `json:"riskScore"`
	CreatedAt time.Time   `json:"createdAt"`
	UpdatedAt time.Time   `json:"updatedAt"`
}

type page struct {
	Orders     []summary `json:"orders"`
	NextCursor *string   `json:"nextCursor"`
}

func (a *api) list(t testing.TB, query url.Values) page {
	t.Helper()
	r := a.get(t, "/api/orders?"+query.Encode())
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var p page
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.body, &raw))
	require.Contains(t, raw, "orders")
	require.NotEqual(t, "null", string(raw["orders"]), "orders must be a JSON array, even when empty")
	require.NoError(t, json.Unmarshal(r.body, &p))
	return p
}

// listAll follows nextCursor from the first page to the last, returning the pages' ids.
func (a *api) listAll(t testing.TB, query url.Values) [][]string {
	t.Helper()
	var pages [][]string
	for range 20 {
		p := a.list(t, query)
		ids := make([]string, len(p.Orders))
		for i, s := range p.Orders {
			ids[i] = s.ID
		}
		pages = append(pages, ids)
		if p.NextCursor == nil {
			return pages
		}
		require.NotEmpty(t, *p.NextCursor)
		query.Set("cursor", *p.NextCursor)
	}
	t.Fatal("pagination did not end")
	return nil
}

func reversed(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[len(ids)-1-i] = id
	}
	return out
}

// reserve moves an order on through the domain, as the saga would on the warehouse's
// reservation.
func reserve(t *testing.T, pool *pgxpool.Pool, id string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "test"}, func(o *order.Order) ([]order.Event, error) {
			return o.ReserveInventory("res-"+id, at)
		})
		return err
	})
	require.NoError(t, err)
}

// The list reads the order_summaries read model: newest first, keyset-paginated, filtered
// by status.
func TestListOrdersPaginatesNewestFirstAndFilters(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	a := newAPI(t, orders.Config{Now: stepClock(start)})
	ctx := context.Background()

	empty := a.list(t, url.Values{})
	assert.Empty(t, empty.Orders)
	assert.Nil(t, empty.NextCursor)

	var placed []string // oldest first
	for i := range 7 {
		body := `{"items":[{"sku":"SKU-001","quantity":` + strconv.Itoa(i+1) + `}]}`
		placed = append(placed, a.place(t, body))
	}
	moved := placed[2]
	reserve(t, a.pool, moved, start.Add(time.Hour))

	// Nothing consumes the log in this test, so the read model is still empty...
	assert.Empty(t, a.list(t, url.Values{}).Orders)
	// ...until the replay tool's rebuild fills it from the events.
	n, err := projections.Rebuild(ctx, a.pool, projections.Options{})
	require.NoError(t, err)
	assert.EqualValues(t, 7*2+1, n.Events, "seven placements with their risk assessments, and one reservation")

	newestFirst := reversed(placed)
	pages := a.listAll(t, url.Values{"limit": {"3"}})
	assert.Equal(t, [][]string{newestFirst[0:3], newestFirst[3:6], newestFirst[6:7]}, pages)
	seen := map[string]int{}
	for _, p := range pages {
		for _, id := range p {
			seen[id]++
		}
	}
	assert.Len(t, seen, 7)
	for id, c := range seen {
		assert.Equal(t, 1, c, "order %s listed more than once", id)
	}

	// The whole list in one page carries the summary's content.
	all := a.list(t, url.Values{})
	require.Len(t, all.Orders, 7)
	assert.Nil(t, all.NextCursor)
	for i, s := range all.Orders {
		assert.Equal(t, newestFirst[i], s.ID)
		if i > 0 {
			assert.True(t, s.CreatedAt.Before(all.Orders[i-1].CreatedAt), "createdAt of %s is %s, not before the next order's", s.ID, s.CreatedAt)
		}
		assert.Equal(t, json.Number(strconv.Itoa(50*(7-i))+".00"), s.Total, "the catalog's price of %d at 50.00", 7-i)
		assert.Equal(t, "USD", s.Currency)
		assert.Equal(t, 7-i, s.ItemCount)
		assert.NotNil(t, s.RiskScore, "scored when placed")
		if s.ID == moved {
			assert.Equal(t, string(order.StatusAwaitingPayment), s.Status)
			assert.True(t, s.UpdatedAt.Equal(start.Add(time.Hour)))
		} else {
			assert.Equal(t, string(order.StatusReserving), s.Status)
		}
	}
	assert.True(t, all.Orders[6].CreatedAt.Equal(start), "the first order placed at the clock's first reading")

	// status=reserving_inventory leaves the moved order out, also across pages; the second
	// page ends exactly at the limit, so it must not offer a further cursor.
	var reservingNewestFirst []string
	for _, id := range newestFirst {
		if id != moved {
			reservingNewestFirst = append(reservingNewestFirst, id)
		}
	}
	assert.Equal(t, [][]string{reservingNewestFirst[0:3], reservingNewestFirst[3:6]},
		a.listAll(t, url.Values{"status": {string(order.StatusReserving)}, "limit": {"3"}}))
	assert.Equal(t, [][]string{{moved}}, a.listAll(t, url.Values{"status": {string(order.StatusAwaitingPayment)}}))
	assert.Equal(t, [][]string{{}}, a.listAll(t, url.Values{"status": {string(order.StatusCancelled)}}))
}

func TestListOrdersRejectsBadQuery(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	tests := []struct {
		query string
		field string
	}{
		{query: "status=bogus", field: "status"},
		{query: "status=PLACED", field: "status"},
		{query: "limit=0", field: "limit"},
		{query: "limit=-1", field: "limit"},
		{query: "limit=abc", field: "limit"},
		{query: "limit=201", field: "limit"},
		{query: "cursor=not-a-cursor", field: "cursor"},
		// The first of two was taken and an unknown one left out: another list than the
		// one asked for, answered 200 (found by a probe).
		{query: "status=awaiting_payment&status=cancelled", field: "status"},
		{query: "limit=1&limit=2", field: "limit"},
		{query: "search=ann", field: "search"},
		{query: "limit=2&foo=bar", field: "foo"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			assertError(t, a.get(t, "/api/orders?"+tc.query), http.StatusBadRequest, "invalid", tc.field)
		})
	}
	// The bounds themselves are fine.
	for _, q := range []string{"limit=1", "limit=200", "status=placed", "status=delivery_failed"} {
		assert.Equal(t, http.StatusOK, a.get(t, "/api/orders?"+q).status, q)
	}
}

// The support tickets are listed a page at a time, newest first, every ticket once: the
// list stopped at 500 tickets without saying so, and the older ones could not be reached
// (a probe).
func TestSupportTicketsArePagedThrough(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	_, err := a.pool.Exec(context.Background(), `INSERT INTO orders.support_tickets (id, order_id, kind, reason)
		SELECT g, 'ord-' || (g % 3), 'kind-' || g, 'r' FROM generate_series(1, 620) g`)
	require.NoError(t, err)

	pages := func(query string) (ids []int64, sizes []int) {
		var items []struct{ ID int64 }
		sizes = walkPages(t, a, "/api/support-tickets?"+query, "tickets", &items)
		for _, tk := range items {
			ids = append(ids, tk.ID)
		}
		return ids, sizes
	}
	ids, sizes := pages("limit=200")
	assert.Equal(t, []int{200, 200, 200, 20}, sizes)
	require.Len(t, ids, 620)
	for i, id := range ids {
		require.Equal(t, int64(620-i), id, "newest first, every ticket once")
	}
	ids, sizes = pages("orderId=ord-1")
	assert.Equal(t, []int{50, 50, 50, 50, 7}, sizes, "50 a page by default")
	assert.Equal(t, int64(619), ids[0])
	assert.Equal(t, int64(1), ids[len(ids)-1])

	// A cursor past 2^31 is an id like any other: its parameter was typed int4 by the
	// query's "$2 = 0", and the list answered 500 (a probe).
	assert.Equal(t, http.StatusOK, a.get(t, "/api/support-tickets?cursor=2147483648").status)
	assertError(t, a.get(t, "/api/support-tickets?cursor=x"), http.StatusBadRequest, "invalid", "cursor")
	assertError(t, a.get(t, "/api/support-tickets?limit=201"), http.StatusBadRequest, "invalid", "limit")
}

// walkPages reads path a page at a time, from its first page on through each nextCursor,
// into items (a pointer to a slice) the elements of each page's key; it returns the pages'
// sizes.
func walkPages[T any](t *testing.T, a *api, path, key string, items *[]T) (sizes []int) {
	t.Helper()
	cursor := ""
	for {
		r := a.get(t, path+"&cursor="+url.QueryEscape(cursor))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var page map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(r.body, &page))
		var list []T
		require.NoError(t, json.Unmarshal(page[key], &list))
		sizes = append(sizes, len(list))
		*items = append(*items, list...)
		cursor = ""
		if next, ok := page["nextCursor"]; ok {
			require.NoError(t, json.Unmarshal(next, &cursor))
		}
		if cursor == "" {
			return sizes
		}
		require.Less(t, len(sizes), 100, "the pages never end")
	}
}

// The webhook inbox is listed a page at a time, newest first, every webhook once: it
// stopped at 200 without saying so, and the older ones could not be reached.
func TestTheWebhookInboxIsPagedThrough(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	_, err := a.pool.Exec(context.Background(), `
		INSERT INTO orders.webhook_inbox (provider, event_id, order_id, status, outcome, payload)
		SELECT 'payment', 'evt-' || g, 'o-' || g, 'completed',
		       CASE WHEN g % 4 = 0 THEN 'unknown_order' ELSE 'accepted' END, '{}'
		FROM generate_series(1, 450) g`)
	require.NoError(t, err)

	pages := func(query string) (events []string, sizes []int) {
		var items []struct{ EventID string }
		sizes = walkPages(t, a, "/api/webhooks?"+query, "webhooks", &items)
		for _, w := range items {
			events = append(events, w.EventID)
		}
		return events, sizes
	}
	events, sizes := pages("limit=200")
	assert.Equal(t, []int{200, 200, 50}, sizes)
	require.Len(t, events, 450)
	for i, e := range events {
		require.Equal(t, fmt.Sprintf("evt-%d", 450-i), e, "newest first, every webhook once")
	}
	events, sizes = pages("outcome=unknown_order")
	assert.Equal(t, []int{50, 50, 12}, sizes, "50 a page by default")
	assert.Equal(t, "evt-448", events[0])
	assert.Equal(t, "evt-4", events[len(events)-1])

	assert.Equal(t, http.StatusOK, a.get(t, "/api/webhooks?cursor=9223372036854775807").status)
	assertError(t, a.get(t, "/api/webhooks?cursor=0"), http.StatusBadRequest, "invalid", "cursor")
	assertError(t, a.get(t, "/api/webhooks?limit=0"), http.StatusBadRequest, "invalid", "limit")
}
