package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/warehouse"
)

// businessCaseBody is the request the business case sends with curl (no Content-Type).
const businessCaseBody = `{"items":[{"sku":"SKU-001","quantity":2}],"total":100}`

// oneMiB is the documented request body limit.
const oneMiB = 1 << 20

// api is one orders service on a fresh database, served over real HTTP.
type api struct {
	t    *testing.T
	pool *pgxpool.Pool
	svc  *orders.Service
	srv  *httptest.Server
}

// testOperatorToken is the operator's token of every api: its reads see everything.
const testOperatorToken = "test-operator-token"

func newAPI(t *testing.T, cfg orders.Config) *api {
	t.Helper()
	if cfg.OperatorToken == "" {
		cfg.OperatorToken = testOperatorToken
	}
	pool := pgtest.Pool(t)
	if cfg.WarehouseURL == "" {
		cfg.WarehouseURL = catalogURL(t, pool)
	}
	svc := orders.New(pool, slog.New(slog.DiscardHandler), cfg)
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close) // runs before the pool closes (cleanups run last-in first-out)
	return &api{t: t, pool: pool, svc: svc, srv: srv}
}

// catalogURL serves the real warehouse, with the demo catalog seeded, over HTTP on the
// test's database: orders are priced from its catalog, as in production.
func catalogURL(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	require.NoError(t, warehouse.Seed(context.Background(), pool))
	srv := httptest.NewServer(warehouse.New(pool, nil, warehouse.Config{}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// with returns a copy of a that reports to t, for use inside subtests.
func (a *api) with(t *testing.T) *api {
	c := *a
	c.t = t
	return &c
}

// stepClock returns a clock that advances one second per call, so orders placed one after
// another have distinct, known creation times.
func stepClock(start time.Time) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(time.Second)
		return now
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request without any Content-Type header (as curl -d would send none either).
func (a *api) do(method, path string, body io.Reader, header map[string]string) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, body)
	require.NoError(a.t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	require.Empty(a.t, req.Header.Get("Content-Type"))
	resp, err := a.srv.Client().Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a *api) post(body string, header map[string]string) response {
	a.t.Helper()
	return a.do(http.MethodPost, "/api/orders", strings.NewReader(body), header)
}

// get reads path as the operator.
func (a *api) get(path string) response {
	a.t.Helper()
	return a.do(http.MethodGet, path, nil, map[string]string{"Authorization": "Bearer " + testOperatorToken})
}

// place posts body and requires a created order, returning its id.
func (a *api) place(body string) string {
	a.t.Helper()
	r := a.post(body, nil)
	require.Equal(a.t, http.StatusCreated, r.status, string(r.body))
	m := decodeObject(a.t, r.body)
	id, ok := m["id"].(string)
	require.True(a.t, ok, "id in %s", r.body)
	return id
}

// decodeObject decodes a JSON object keeping numbers as json.Number, so a test can tell a
// JSON number from a string and see exactly how an amount was written.
func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "body: %s", b)
	return m
}

type storedCounts struct {
	Events, Placed, Published, Keys int
}

// counts reports everything placing an order writes: events, published messages and
// idempotency keys.
func (a *api) counts() storedCounts {
	a.t.Helper()
	var c storedCounts
	err := a.pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM events),
		(SELECT count(*) FROM events WHERE event_name = $1),
		(SELECT count(*) FROM "watermill_order_events.0") + (SELECT count(*) FROM "watermill_order_events.1") +
		(SELECT count(*) FROM "watermill_order_events.2") + (SELECT count(*) FROM "watermill_order_events.3"),
		(SELECT count(*) FROM orders.idempotency_keys)`, order.NameOrderPlaced).Scan(&c.Events, &c.Placed, &c.Published, &c.Keys)
	require.NoError(a.t, err)
	return c
}

type apiError struct {
	Error struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Field   *string `json:"field"`
	} `json:"error"`
}

// assertError checks an error response: status, JSON content type, code and field
// (an empty field means the response must name none).
func assertError(t *testing.T, r response, status int, code, field string) {
	t.Helper()
	assert.Equal(t, status, r.status, "body: %s", r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	var e apiError
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if !assert.NoError(t, dec.Decode(&e), "error body: %s", r.body) {
		return
	}
	assert.Equal(t, code, e.Error.Code)
	assert.NotEmpty(t, e.Error.Message)
	if field == "" {
		assert.Nil(t, e.Error.Field, "no field expected")
	} else if assert.NotNil(t, e.Error.Field, "field expected") {
		assert.Equal(t, field, *e.Error.Field)
	}
}

// The business case's curl request (no Content-Type header) places an order that can be
// read back at its Location, with its history.
func TestPlaceOrderBusinessCase(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})

	before := time.Now()
	r := a.post(businessCaseBody, nil)
	after := time.Now()

	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Empty(t, r.header.Get("Idempotent-Replayed"))
	created := decodeObject(t, r.body)
	assert.Len(t, created, 3, "exactly id, status and accessToken: %s", r.body)
	assert.NotEmpty(t, created["accessToken"])
	id, _ := created["id"].(string)
	require.NotEmpty(t, id)
	assert.Equal(t, "placed", created["status"])
	require.Equal(t, "/api/orders/"+id, r.header.Get("Location"))

	got := a.get(r.header.Get("Location"))
	require.Equal(t, http.StatusOK, got.status, string(got.body))
	view := decodeObject(t, got.body)
	assert.Equal(t, id, view["id"])
	assert.Equal(t, "placed", view["status"])
	assert.Equal(t, "USD", view["currency"])
	assert.Equal(t, []any{map[string]any{"sku": "SKU-001", "quantity": json.Number("2"), "unitPrice": json.Number("50.00")}}, view["items"],
		"each line carries the catalog's price")
	// The total is a JSON number (not a string) of currency units with two decimals.
	total, ok := view["total"].(json.Number)
	require.True(t, ok, "total must be a JSON number: %s", got.body)
	assert.Equal(t, json.Number("100.00"), total)
	assert.Contains(t, string(got.body), `"total":100.00`)
	createdAt, err := time.Parse(time.RFC3339Nano, view["createdAt"].(string))
	require.NoError(t, err)
	updatedAt, err := time.Parse(time.RFC3339Nano, view["updatedAt"].(string))
	require.NoError(t, err)
	assert.WithinRange(t, createdAt, before, after)
	assert.True(t, updatedAt.Equal(createdAt), "a new order was last updated when placed")

	ev := a.get("/api/orders/" + id + "/events")
	require.Equal(t, http.StatusOK, ev.status, string(ev.body))
	var history struct {
		OrderID string `json:"orderId"`
		Events  []struct {
			Position   int64           `json:"position"`
			Version    int             `json:"version"`
			Name       string          `json:"name"`
			Data       json.RawMessage `json:"data"`
			Actor      string          `json:"actor"`
			RecordedAt time.Time       `json:"recordedAt"`
		} `json:"events"`
	}
	require.NoError(t, json.Unmarshal(ev.body, &history))
	assert.Equal(t, id, history.OrderID)
	require.Len(t, history.Events, 1)
	e := history.Events[0]
	assert.Equal(t, order.NameOrderPlaced, e.Name)
	assert.Equal(t, "order.placed.v2", e.Name)
	assert.Equal(t, 1, e.Version)
	assert.Positive(t, e.Position)
	assert.Equal(t, "customer", e.Actor)
	assert.False(t, e.RecordedAt.IsZero())
	var placed struct {
		OrderID string       `json:"orderId"`
		Items   []order.Item `json:"items"`
	}
	require.NoError(t, json.Unmarshal(e.Data, &placed))
	assert.Equal(t, id, placed.OrderID)
	price := order.Cents(50_00)
	assert.Equal(t, []order.Item{{SKU: "SKU-001", Quantity: 2, UnitPrice: &price}}, placed.Items)

	c := a.counts()
	assert.Equal(t, storedCounts{Events: 1, Placed: 1, Published: 1, Keys: 0}, c,
		"one event stored and published in the same transaction")
}

// The optional fields are kept; prices, total and currency come from the catalog (a
// client's must agree, lower-case currency accepted), and a customer without a completed
// order is a new one.
func TestPlaceOrderOptionalFields(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})

	full := `{
		"items": [{"sku": "SKU-001", "quantity": 2, "unitPrice": 50}, {"sku": "SKU-002", "quantity": 1}],
		"total": 124,
		"currency": "usd",
		"customerId": "cust-42",
		"customerEmail": "ada@example.com",
		"newCustomer": true,
		"shippingAddress": {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
		"billingAddress": {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}
	}`
	id := a.place(full)
	r := a.get("/api/orders/" + id)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	v := decodeObject(t, r.body)
	assert.Equal(t, "cust-42", v["customerId"])
	assert.Equal(t, "ada@example.com", v["customerEmail"])
	assert.Equal(t, true, v["newCustomer"])
	assert.Equal(t, "USD", v["currency"])
	assert.Equal(t, json.Number("124.00"), v["total"])
	assert.Equal(t, map[string]any{"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}, v["shippingAddress"])
	assert.Equal(t, []any{
		map[string]any{"sku": "SKU-001", "quantity": json.Number("2"), "unitPrice": json.Number("50.00")},
		map[string]any{"sku": "SKU-002", "quantity": json.Number("1"), "unitPrice": json.Number("24.00")},
	}, v["items"])

	ev := a.get("/api/orders/" + id + "/events")
	require.Equal(t, http.StatusOK, ev.status)
	assert.Contains(t, string(ev.body), `"actor":"customer:cust-42"`)

	bare := a.place(`{"items":[{"sku":"SKU-001","quantity":1}]}`)
	r = a.get("/api/orders/" + bare)
	require.Equal(t, http.StatusOK, r.status)
	v = decodeObject(t, r.body)
	assert.Equal(t, "USD", v["currency"], "the catalog's currency")
	assert.Equal(t, json.Number("50.00"), v["total"], "a total left out is the catalog's")
	assert.Equal(t, true, v["newCustomer"], "an anonymous customer has no history")
	assert.NotContains(t, v, "customerId")
	assert.NotContains(t, v, "shippingAddress")
}

// A retried request with the same Idempotency-Key returns the first order instead of
// placing a second one.
func TestPlaceOrderIdempotentRetry(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	key := map[string]string{"Idempotency-Key": "retry-1"}

	first := a.post(businessCaseBody, key)
	require.Equal(t, http.StatusCreated, first.status, string(first.body))
	assert.Empty(t, first.header.Get("Idempotent-Replayed"))
	id := decodeObject(t, first.body)["id"]

	second := a.post(businessCaseBody, key)
	require.Equal(t, http.StatusOK, second.status, string(second.body))
	assert.Equal(t, "true", second.header.Get("Idempotent-Replayed"))
	body := decodeObject(t, second.body)
	assert.Equal(t, id, body["id"])
	assert.Equal(t, "placed", body["status"])
	assert.Equal(t, decodeObject(t, first.body)["accessToken"], body["accessToken"], "a replay returns the same access token")
	assert.Equal(t, first.header.Get("Location"), second.header.Get("Location"))

	assert.Equal(t, storedCounts{Events: 1, Placed: 1, Published: 1, Keys: 1}, a.counts())

	// Another key, or no key at all, is another order.
	other := a.post(businessCaseBody, map[string]string{"Idempotency-Key": "retry-2"})
	require.Equal(t, http.StatusCreated, other.status)
	assert.NotEqual(t, id, decodeObject(t, other.body)["id"])
	a.place(businessCaseBody)
	a.place(businessCaseBody)
	assert.Equal(t, storedCounts{Events: 4, Placed: 4, Published: 4, Keys: 2}, a.counts())
}

// Ten simultaneous requests with one key store exactly one order, and all of them answer
// with its id.
func TestPlaceOrderConcurrentSameKeyStoresOneOrder(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	const n = 10
	type result struct {
		status   int
		id       string
		replayed string
		err      error
	}
	results := make(chan result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, err := http.NewRequest(http.MethodPost, a.srv.URL+"/api/orders", strings.NewReader(businessCaseBody))
			if err != nil {
				results <- result{err: err}
				return
			}
			req.Header.Set("Idempotency-Key", "same-key")
			resp, err := a.srv.Client().Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var body struct {
				ID string `json:"id"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			results <- result{status: resp.StatusCode, id: body.ID, replayed: resp.Header.Get("Idempotent-Replayed"), err: err}
		}()
	}
	close(start)
	wg.Wait()
	close(results)

	ids := map[string]int{}
	statuses := map[int]int{}
	for r := range results {
		require.NoError(t, r.err)
		ids[r.id]++
		statuses[r.status]++
		if r.status == http.StatusOK {
			assert.Equal(t, "true", r.replayed)
		}
	}
	require.Len(t, ids, 1, "every response names the same order: %v", ids)
	for id := range ids {
		assert.NotEmpty(t, id)
	}
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusOK: n - 1}, statuses)

	c := a.counts()
	assert.Equal(t, 1, c.Placed, "exactly one order.placed event")
	assert.Equal(t, storedCounts{Events: 1, Placed: 1, Published: 1, Keys: 1}, c)
}

// Reusing a key for a different request is refused rather than silently answered with an
// order the client did not ask for.
func TestPlaceOrderSameKeyDifferentBodyConflicts(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	key := map[string]string{"Idempotency-Key": "k-1"}
	first := a.post(businessCaseBody, key)
	require.Equal(t, http.StatusCreated, first.status)

	r := a.post(`{"items":[{"sku":"SKU-001","quantity":3}],"total":150}`, key)
	assertError(t, r, http.StatusConflict, "conflict", "")
	assert.Empty(t, r.header.Get("Location"))
	assert.Equal(t, storedCounts{Events: 1, Placed: 1, Published: 1, Keys: 1}, a.counts())
}

// Bad input is answered with a 4xx JSON error naming the field, and nothing is stored:
// no event, no published message, no idempotency key used up.
func TestPlaceOrderRejectsBadInput(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})

	// Exactly the limit is accepted (JSON allows trailing whitespace), one byte more is not.
	atLimit := businessCaseBody + strings.Repeat(" ", oneMiB-len(businessCaseBody))
	overLimit := atLimit + " "

	tests := []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{name: "malformed JSON", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":`, status: 400, code: "invalid"},
		{name: "not JSON", body: `items=SKU-001`, status: 400, code: "invalid"},
		{name: "empty body", body: ``, status: 400, code: "invalid"},
		{name: "two JSON values", body: businessCaseBody + businessCaseBody, status: 400, code: "invalid"},
		{name: "missing items", body: `{"total":100}`, status: 400, code: "invalid", field: "items"},
		{name: "empty items", body: `{"items":[],"total":100}`, status: 400, code: "invalid", field: "items"},
		{name: "null items", body: `{"items":null,"total":100}`, status: 400, code: "invalid", field: "items"},
		{name: "missing sku", body: `{"items":[{"quantity":2}],"total":100}`, status: 400, code: "invalid", field: "items[0].sku"},
		{name: "quantity zero", body: `{"items":[{"sku":"SKU-001","quantity":0}],"total":100}`, status: 400, code: "invalid", field: "items[0].quantity"},
		{name: "quantity missing", body: `{"items":[{"sku":"SKU-001"}],"total":100}`, status: 400, code: "invalid", field: "items[0].quantity"},
		{name: "negative quantity second item", body: `{"items":[{"sku":"A","quantity":1},{"sku":"B","quantity":-1}],"total":100}`, status: 400, code: "invalid", field: "items[1].quantity"},
		{name: "total zero", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":0}`, status: 400, code: "invalid", field: "total"},
		{name: "total negative", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":-5}`, status: 400, code: "invalid", field: "total"},
		{name: "total with three decimals", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100.001}`, status: 400, code: "invalid", field: "total"},
		{name: "total does not match the catalog", body: `{"items":[{"sku":"SKU-001","quantity":2},{"sku":"SKU-002","quantity":1}],"total":26}`, status: 422, code: "unprocessable", field: "total"},
		{name: "unit price with three decimals", body: `{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":50.005}],"total":100.01}`, status: 400, code: "invalid", field: "items[0].unitPrice"},
		{name: "negative unit price", body: `{"items":[{"sku":"SKU-001","quantity":1,"unitPrice":-1}],"total":1}`, status: 400, code: "invalid", field: "items[0].unitPrice"},
		{name: "unknown field", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"coupon":"FREE"}`, status: 400, code: "invalid", field: "coupon"},
		{name: "bad currency", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"currency":"DOLLARS"}`, status: 400, code: "invalid", field: "currency"},
		{name: "currency with digits", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"currency":"US1"}`, status: 400, code: "invalid", field: "currency"},
		{name: "bad email", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"customerEmail":"nobody"}`, status: 400, code: "invalid", field: "customerEmail"},
		{name: "body over 1 MiB", body: overLimit, status: http.StatusRequestEntityTooLarge, code: "too_large"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := a.with(t)
			before := a.counts()
			r := a.post(tc.body, map[string]string{"Idempotency-Key": "bad-" + strconv.Itoa(i)})
			assertError(t, r, tc.status, tc.code, tc.field)
			assert.Empty(t, r.header.Get("Location"))
			assert.Equal(t, before, a.counts(), "nothing may be stored for a refused request")
		})
	}
	require.Equal(t, storedCounts{}, a.counts())

	// The counts above are not blind: a request at the size limit is placed and shows up.
	r := a.post(atLimit, map[string]string{"Idempotency-Key": "at-limit"})
	require.Equal(t, http.StatusCreated, r.status, "a body of exactly 1 MiB is accepted: %.200s", r.body)
	assert.Equal(t, storedCounts{Events: 1, Placed: 1, Published: 1, Keys: 1}, a.counts())
}

// An unknown order is a 404 with the JSON error body, for the order and its history.
func TestGetUnknownOrder(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	assertError(t, a.get("/api/orders/no-such-order"), http.StatusNotFound, "not_found", "")
	assertError(t, a.get("/api/orders/no-such-order/events"), http.StatusNotFound, "not_found", "")

	// The same paths answer for an order that exists, so the 404s above are about the id.
	id := a.place(businessCaseBody)
	assert.Equal(t, http.StatusOK, a.get("/api/orders/"+id).status)
	assert.Equal(t, http.StatusOK, a.get("/api/orders/"+id+"/events").status)
}

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

func (a *api) list(query url.Values) page {
	a.t.Helper()
	r := a.get("/api/orders?" + query.Encode())
	require.Equal(a.t, http.StatusOK, r.status, string(r.body))
	var p page
	var raw map[string]json.RawMessage
	require.NoError(a.t, json.Unmarshal(r.body, &raw))
	require.Contains(a.t, raw, "orders")
	require.NotEqual(a.t, "null", string(raw["orders"]), "orders must be a JSON array, even when empty")
	require.NoError(a.t, json.Unmarshal(r.body, &p))
	return p
}

// listAll follows nextCursor from the first page to the last, returning the pages' ids.
func (a *api) listAll(query url.Values) [][]string {
	a.t.Helper()
	var pages [][]string
	for range 20 {
		p := a.list(query)
		ids := make([]string, len(p.Orders))
		for i, s := range p.Orders {
			ids[i] = s.ID
		}
		pages = append(pages, ids)
		if p.NextCursor == nil {
			return pages
		}
		require.NotEmpty(a.t, *p.NextCursor)
		query.Set("cursor", *p.NextCursor)
	}
	a.t.Fatal("pagination did not end")
	return nil
}

func reversed(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[len(ids)-1-i] = id
	}
	return out
}

// assessRisk moves an order on through the domain, as the saga would.
func assessRisk(t *testing.T, pool *pgxpool.Pool, id string, score int, at time.Time) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "test"}, func(o *order.Order) ([]order.Event, error) {
			return o.AssessRisk(score, []order.RiskFactor{{Code: "test", Description: "test factor", Points: score}}, 70, at.Add(time.Hour), at)
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

	empty := a.list(url.Values{})
	assert.Empty(t, empty.Orders)
	assert.Nil(t, empty.NextCursor)

	var placed []string // oldest first
	for i := range 7 {
		body := `{"items":[{"sku":"SKU-001","quantity":` + strconv.Itoa(i+1) + `}]}`
		placed = append(placed, a.place(body))
	}
	moved := placed[2]
	assessRisk(t, a.pool, moved, 10, start.Add(time.Hour))

	// Nothing consumes the log in this test, so the read model is still empty...
	assert.Empty(t, a.list(url.Values{}).Orders)
	// ...until the replay tool's rebuild fills it from the events.
	n, err := projections.Rebuild(ctx, a.pool, projections.Options{})
	require.NoError(t, err)
	assert.EqualValues(t, 7+1, n.Events, "seven placements and one risk assessment")

	newestFirst := reversed(placed)
	pages := a.listAll(url.Values{"limit": {"3"}})
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
	all := a.list(url.Values{})
	require.Len(t, all.Orders, 7)
	assert.Nil(t, all.NextCursor)
	for i, s := range all.Orders {
		assert.Equal(t, newestFirst[i], s.ID)
		assert.True(t, s.CreatedAt.Equal(start.Add(time.Duration(6-i)*time.Second)), "createdAt of %s is %s", s.ID, s.CreatedAt)
		assert.Equal(t, json.Number(strconv.Itoa(50*(7-i))+".00"), s.Total, "the catalog's price of %d at 50.00", 7-i)
		assert.Equal(t, "USD", s.Currency)
		assert.Equal(t, 7-i, s.ItemCount)
		if s.ID == moved {
			assert.Equal(t, string(order.StatusReserving), s.Status)
			if assert.NotNil(t, s.RiskScore) {
				assert.Equal(t, 10, *s.RiskScore)
			}
			assert.True(t, s.UpdatedAt.Equal(start.Add(time.Hour)))
		} else {
			assert.Equal(t, string(order.StatusPlaced), s.Status)
			assert.Nil(t, s.RiskScore)
		}
	}

	// status=placed leaves the moved order out, also across pages; the second page ends
	// exactly at the limit, so it must not offer a further cursor.
	var placedNewestFirst []string
	for _, id := range newestFirst {
		if id != moved {
			placedNewestFirst = append(placedNewestFirst, id)
		}
	}
	assert.Equal(t, [][]string{placedNewestFirst[0:3], placedNewestFirst[3:6]},
		a.listAll(url.Values{"status": {"placed"}, "limit": {"3"}}))
	assert.Equal(t, [][]string{{moved}}, a.listAll(url.Values{"status": {string(order.StatusReserving)}}))
	assert.Equal(t, [][]string{{}}, a.listAll(url.Values{"status": {string(order.StatusCancelled)}}))
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
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			assertError(t, a.with(t).get("/api/orders?"+tc.query), http.StatusBadRequest, "invalid", tc.field)
		})
	}
	// The bounds themselves are fine.
	for _, q := range []string{"limit=1", "limit=200", "status=placed", "status=delivery_failed"} {
		assert.Equal(t, http.StatusOK, a.get("/api/orders?"+q).status, q)
	}
}

// With the service's consumers running, a placed order reaches the list through the live
// projection, and so does a later change to it.
func TestListOrdersLiveProjection(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	log := eventstore.NewLog(a.pool, watermill.NopLogger{}, eventstore.LogConfig{})
	listenDone := make(chan struct{})
	go func() {
		defer close(listenDone)
		_ = log.Listen(ctx)
	}()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	require.NoError(t, a.svc.RegisterConsumers(log, router))
	var handlers []string
	for name := range router.Handlers() {
		handlers = append(handlers, name)
	}
	require.Contains(t, handlers, projections.ConsumerGroup+"/"+strings.Join(eventstore.Partitions(orderstream.Topic), ","),
		"handlers are named group/topics")
	runDone := make(chan error, 1)
	go func() { runDone <- router.Run(ctx) }()
	defer func() {
		// Let every consumer finish what the test set off before closing: closing the
		// router while a handler is mid-message is not clean (see the report on
		// watermill-sql committing a transaction a handler is still using).
		assert.Eventually(t, consumersDrained(a.pool, handlers), 10*time.Second, 20*time.Millisecond, "consumers never caught up")
		assert.NoError(t, router.Close())
		assert.NoError(t, <-runDone)
		cancel()
		<-listenDone
	}()
	select {
	case <-router.Running():
	case <-ctx.Done():
		require.FailNow(t, "router did not start")
	}

	id := a.place(`{"items":[{"sku":"SKU-001","quantity":2},{"sku":"SKU-002","quantity":1}],"total":124,"customerId":"c-7"}`)
	// The service's saga runs too and may move the order on at any moment, so the test
	// waits for the summary to agree with the order as the event store has it.
	assert.Eventually(t, a.summaryMatchesOrder(id, ""), 10*time.Second, 20*time.Millisecond,
		"the placed order never reached the list")
	s, ok := a.summaryOf(id)
	require.True(t, ok)
	assert.Equal(t, json.Number("124.00"), s.Total)
	assert.Equal(t, 3, s.ItemCount)
	assert.Equal(t, "USD", s.Currency)

	// A later change reaches the list as well: cancelling is allowed in every status the
	// order can reach without the warehouse and payment services, and is final.
	update := func(o *order.Order) ([]order.Event, error) {
		return o.Cancel(order.ReasonTimedOut, "test", time.Now().UTC())
	}
	require.NoError(t, pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "test"}, update)
		return err
	}))
	assert.Eventually(t, a.summaryMatchesOrder(id, string(order.StatusCancelled)), 10*time.Second, 20*time.Millisecond,
		"the cancellation never reached the list")

	var deadLetters int
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&deadLetters))
	assert.Zero(t, deadLetters)
}

// consumersDrained is a condition for assert.Eventually: for every consumer-group handler
// (named group/topics by eventstore.Log.ConsumeBatches) the group has acknowledged the
// newest message of each of its topics, so no handler holds a message.
func consumersDrained(pool *pgxpool.Pool, handlers []string) func() bool {
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, h := range handlers {
			i := strings.LastIndex(h, "/")
			if i < 0 {
				return false
			}
			for _, topic := range strings.Split(h[i+1:], ",") {
				if !topicDrained(ctx, pool, h[:i], topic) {
					return false
				}
			}
		}
		return true
	}
}

func topicDrained(ctx context.Context, pool *pgxpool.Pool, group, topic string) bool {
	var hasOffsets bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{"watermill_offsets_" + topic}.Sanitize()).Scan(&hasOffsets); err != nil {
		return false
	}
	if !hasOffsets {
		return true // a delayed queue: nothing in it is due during the test
	}
	var behind bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM `+pgx.Identifier{"watermill_" + topic}.Sanitize()+` m
		WHERE NOT EXISTS (
			SELECT 1 FROM `+pgx.Identifier{"watermill_offsets_" + topic}.Sanitize()+` o
			WHERE o.consumer_group = $1
			  AND (o.last_processed_transaction_id, o.offset_acked) >= (m.transaction_id, m."offset")))`,
		group).Scan(&behind)
	return err == nil && !behind
}

// summaryMatchesOrder is a condition for assert.Eventually: the list shows order id with
// the status (when given), risk score and update time the order itself has.
func (a *api) summaryMatchesOrder(id, status string) func() bool {
	return func() bool {
		s, ok := a.summaryOf(id)
		if !ok || (status != "" && s.Status != status) {
			return false
		}
		resp, err := a.operatorGet("/api/orders/" + id)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var o struct {
			Status    string    `json:"status"`
			RiskScore *int      `json:"riskScore"`
			UpdatedAt time.Time `json:"updatedAt"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&o) != nil {
			return false
		}
		sameRisk := (s.RiskScore == nil) == (o.RiskScore == nil) && (s.RiskScore == nil || *s.RiskScore == *o.RiskScore)
		// The read model keeps microseconds (timestamptz); the event keeps nanoseconds.
		return s.Status == o.Status && sameRisk && s.UpdatedAt.Equal(o.UpdatedAt.Truncate(time.Microsecond))
	}
}

// operatorGet reads path as the operator without failing the test, for conditions that
// run in assert.Eventually's goroutine.
func (a *api) operatorGet(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+testOperatorToken)
	return a.srv.Client().Do(req)
}

// summaryOf looks id up in the list without failing the test, so it can run inside
// assert.Eventually's condition goroutine.
func (a *api) summaryOf(id string) (summary, bool) {
	resp, err := a.operatorGet("/api/orders")
	if err != nil {
		return summary{}, false
	}
	defer resp.Body.Close()
	var p page
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&p) != nil {
		return summary{}, false
	}
	for _, s := range p.Orders {
		if s.ID == id {
			return s, true
		}
	}
	return summary{}, false
}

// Issue 8, finding 5: the client set the price (five limited mugs for 0.01 reserved all
// the stock) and part of the risk (newCustomer:false). Orders are priced from the
// warehouse's catalog now, and only history makes a customer known.
func TestPlaceOrderIsPricedFromTheCatalog(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	for _, tc := range []struct{ name, body, field, message string }{
		{"five limited mugs for 0.01", `{"items":[{"sku":"SKU-LIMITED","quantity":5}],"total":0.01}`, "total",
			"total 0.01 is not the catalog's price of the items: they cost 100.00 USD"},
		{"a unit price of the client's own", `{"items":[{"sku":"SKU-LIMITED","quantity":5,"unitPrice":0.01}]}`, "items[0].unitPrice",
			"items[0].unitPrice 0.01 is not the catalog's price of SKU-LIMITED, 20.00 USD"},
		{"a SKU the catalog does not sell", `{"items":[{"sku":"SKU-001","quantity":1},{"sku":"SKU-NOPE","quantity":1}]}`, "items[1].sku",
			`items[1].sku "SKU-NOPE" is not for sale in the catalog`},
		{"another currency", `{"items":[{"sku":"SKU-001","quantity":1}],"currency":"EUR"}`, "currency",
			"currency EUR is not the catalog's: the items are priced in USD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.with(t).post(tc.body, nil)
			assertError(t, r, http.StatusUnprocessableEntity, "unprocessable", tc.field)
			assert.Equal(t, tc.message, errorMessage(t, r))
		})
	}
	require.Equal(t, storedCounts{}, a.counts(), "nothing is stored for a refused order")

	// newCustomer:false does not make a stranger known: the 50,000 order stays a new
	// customer's, so it scores over the approval threshold.
	stranger := a.place(`{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"customerId":"c-new","newCustomer":false}`)
	assert.Equal(t, true, decodeObject(t, a.get("/api/orders/"+stranger).body)["newCustomer"])

	// A customer with a completed order is known, unless the client says otherwise.
	_, err := a.pool.Exec(context.Background(), `INSERT INTO orders.order_summaries
		(order_id, status, customer_id, total_cents, currency, item_count, created_at, updated_at, last_position)
		VALUES ('earlier', 'completed', 'c-known', 5000, 'USD', 1, now(), now(), 1)`)
	require.NoError(t, err)
	known := a.place(`{"items":[{"sku":"SKU-001","quantity":1}],"customerId":"c-known"}`)
	assert.Equal(t, false, decodeObject(t, a.get("/api/orders/"+known).body)["newCustomer"])
	flagged := a.place(`{"items":[{"sku":"SKU-001","quantity":1}],"customerId":"c-known","newCustomer":true}`)
	assert.Equal(t, true, decodeObject(t, a.get("/api/orders/"+flagged).body)["newCustomer"], "the client's flag may raise the risk")
}

// An unreachable catalog is a 503 the client may retry, and nothing is stored.
func TestPlaceOrderWithoutTheCatalogIsRetryable(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{WarehouseURL: "http://127.0.0.1:1"})
	r := a.post(businessCaseBody, nil)
	assertError(t, r, http.StatusServiceUnavailable, "unavailable", "")
	require.Equal(t, storedCounts{}, a.counts())
}
