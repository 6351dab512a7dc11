package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// businessCaseBody is the request the business case sends with curl (no Content-Type).
const businessCaseBody = `{"items":[{"sku":"SKU-001","quantity":2}],"total":100}`

// api is one orders service on a fresh database, served over real HTTP.
type api struct {
	pool *pgxpool.Pool
	svc  *orders.Service
	srv  *httptest.Server
}

func newAPI(t *testing.T, cfg orders.Config) *api {
	t.Helper()
	if cfg.OperatorToken == "" {
		cfg.OperatorToken = orderstest.OperatorToken
	}
	pool := pgtest.Pool(t)
	if cfg.WarehouseURL == "" {
		cfg.WarehouseURL = orderstest.CatalogURL(t, pool)
	}
	svc := orders.New(pool, slog.New(slog.DiscardHandler), cfg)
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close) // runs before the pool closes (cleanups run last-in first-out)
	return &api{pool: pool, svc: svc, srv: srv}
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
func (a *api) do(t testing.TB, method, path string, body io.Reader, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, body)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	require.Empty(t, req.Header.Get("Content-Type"))
	resp, err := a.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a *api) post(t testing.TB, body string, header map[string]string) response {
	t.Helper()
	return a.do(t, http.MethodPost, "/api/orders", strings.NewReader(body), header)
}

// get reads path as the operator.
func (a *api) get(t testing.TB, path string) response {
	t.Helper()
	return a.do(t, http.MethodGet, path, nil, map[string]string{"Authorization": "Bearer " + orderstest.OperatorToken})
}

// place posts body and requires a created order, returning its id.
func (a *api) place(t testing.TB, body string) string {
	t.Helper()
	r := a.post(t, body, nil)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	m := decodeObject(t, r.body)
	id, ok := m["id"].(string)
	require.True(t, ok, "id in %s", r.body)
	return id
}

// decodeObject decodes a JSON object keeping numbers as json.Number, so a test can tell a
// JSON number from a string and see exactly how an amount was written.
func decodeObject(t testing.TB, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "body: %s", b)
	return m
}

type storedCounts struct {
	Events, Placed, Published, Reservations, Keys int
}

// placedCounts is what placing n low-risk orders with keys distinct keys stores: each
// order placed and its risk assessed (two events, both published), and its stock asked
// of the warehouse, in the placement's transaction.
func placedCounts(n, keys int) storedCounts {
	return storedCounts{Events: 2 * n, Placed: n, Published: 2 * n, Reservations: n, Keys: keys}
}

// counts reports everything placing an order writes: events, published messages, the
// commands to the warehouse and idempotency keys.
func (a *api) counts(t testing.TB) storedCounts {
	t.Helper()
	var c storedCounts
	err := a.pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM events),
		(SELECT count(*) FROM events WHERE event_name = $1),
		(SELECT count(*) FROM "watermill_order_events.0") + (SELECT count(*) FROM "watermill_order_events.1") +
		(SELECT count(*) FROM "watermill_order_events.2") + (SELECT count(*) FROM "watermill_order_events.3"),
		(SELECT count(*) FROM watermill_warehouse_commands WHERE metadata->>'name' = $2),
		(SELECT count(*) FROM orders.idempotency_keys)`, order.NameOrderPlaced, inventory.ReserveName).Scan(&c.Events, &c.Placed, &c.Published, &c.Reservations, &c.Keys)
	require.NoError(t, err)
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
func assertError(t testing.TB, r response, status int, code, field string) {
	t.Helper()
	assert.Equal(t, status, r.status, "body: %s", r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	if status == http.StatusUnauthorized {
		assert.Equal(t, httpx.BearerChallenge, r.header.Get("WWW-Authenticate"), "a 401 says how to authenticate")
	}
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

// The fixed paths under /api/orders/ are no order ids: GET /api/orders/approve was the
// order "approve" (404, or 401 outside dev mode), and PUT was told GET, HEAD and POST were
// allowed. A path with an empty segment is no order's either: it was redirected, with an
// HTML body, to the cleaned path.
func TestFixedAndUncleanPathsAreAnsweredInJSON(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		r := a.do(t, method, "/api/orders/approve", nil, map[string]string{"Authorization": "Bearer " + orderstest.OperatorToken})
		assertError(t, r, http.StatusMethodNotAllowed, "invalid", "")
		assert.Equal(t, "POST", r.header.Get("Allow"), method)
	}

	id := a.place(t, businessCaseBody)
	noRedirects := orderstest.Client(t)
	for _, path := range []string{"/api/orders//events", "/api/orders/" + id + "//events", "/api/orders/./" + id, "/api/orders/x/../" + id} {
		req, err := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+orderstest.OperatorToken)
		resp, err := noRedirects.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assertError(t, response{status: resp.StatusCode, header: resp.Header, body: body}, http.StatusNotFound, "not_found", "")
		assert.Empty(t, resp.Header.Get("Location"), path)
	}
}
