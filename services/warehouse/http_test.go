package warehouse_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/warehouse"
)

// ordersToken is the token the orders service presents in these tests.
const ordersToken = "test-orders-token"

// callers is the warehouse's configuration in these tests: only the orders service may call.
var callers = warehouse.Config{Callers: httpx.Tokens{"orders": ordersToken}}

func newAPI(t *testing.T) (http.Handler, func(sku string) (int, int)) {
	t.Helper()
	pool := pgtest.Pool(t)
	require.NoError(t, warehouse.Seed(context.Background(), pool))
	return warehouse.New(pool, nil, callers).Handler(), func(sku string) (int, int) { return stockOf(t, pool, sku) }
}

// call makes a request as the orders service does, with its token.
func call(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	return callWith(t, h, method, path, body, "Bearer "+ordersToken)
}

// callWith makes a request with the given Authorization header ("" for none).
func callWith(t *testing.T, h http.Handler, method, path, body, authorization string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

func TestListInventory(t *testing.T) {
	t.Parallel()
	h, _ := newAPI(t)
	rec := call(t, h, http.MethodGet, "/api/inventory", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	items := decode[[]warehouse.StockItem](t, rec)
	require.Len(t, items, 32)
	assert.Equal(t, warehouse.StockItem{SKU: "SKU-001", Name: "Espresso Cups (set of 4)", Available: 500}, items[0])
	assert.Equal(t, warehouse.StockItem{SKU: "SKU-LIMITED", Name: "Limited Edition Mug (signed)", Available: 5}, items[31])
	assert.IsIncreasing(t, func() []string {
		skus := make([]string, len(items))
		for i, it := range items {
			skus[i] = it.SKU
		}
		return skus
	}())
}

func TestBadInputIsRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	h, _ := newAPI(t)
	tests := []struct {
		name, path, body, field string
	}{
		{"reserve without order", "/api/inventory/reserve", `{"lines":[{"sku":"SKU-001","quantity":1}]}`, "orderId"},
		{"reserve without lines", "/api/inventory/reserve", `{"orderId":"o-1","lines":[]}`, "lines"},
		{"reserve zero quantity", "/api/inventory/reserve", `{"orderId":"o-1","lines":[{"sku":"SKU-001","quantity":0}]}`, "lines[0].quantity"},
		{"reserve empty sku", "/api/inventory/reserve", `{"orderId":"o-1","lines":[{"sku":"","quantity":1}]}`, "lines[0].sku"},
		{"reserve unknown field", "/api/inventory/reserve", `{"orderId":"o-1","items":[]}`, "items"},
		{"reserve quantity not a number", "/api/inventory/reserve", `{"orderId":"o-1","lines":[{"sku":"A","quantity":"1"}]}`, "lines[0].quantity"},
		{"release without order", "/api/inventory/release", `{"reason":"x"}`, "orderId"},
		{"check without lines", "/api/inventory/check-availability", `{}`, "lines"},
		{"check negative quantity", "/api/inventory/check-availability", `{"lines":[{"sku":"SKU-001","quantity":-1}]}`, "lines[0].quantity"},
		{"reserve too many units", "/api/inventory/reserve", `{"orderId":"o-1","lines":[{"sku":"SKU-001","quantity":10001}]}`, "lines[0].quantity"},
		{"reserve long order id", "/api/inventory/reserve", `{"orderId":"` + strings.Repeat("o", 129) + `","lines":[{"sku":"SKU-001","quantity":1}]}`, "orderId"},
		{"check long sku", "/api/inventory/check-availability", `{"lines":[{"sku":"` + strings.Repeat("S", 65) + `","quantity":1}]}`, "lines[0].sku"},
		{"release long order id", "/api/inventory/release", `{"orderId":"` + strings.Repeat("o", 129) + `"}`, "orderId"},
		{"release long reason", "/api/inventory/release", `{"orderId":"o-1","reason":"` + strings.Repeat("r", 1001) + `"}`, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := call(t, h, http.MethodPost, tt.path, tt.body)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			body := decode[httpx.ErrorBody](t, rec)
			assert.Equal(t, "invalid", body.Error.Code)
			assert.Equal(t, tt.field, body.Error.Field, body.Error.Message)
		})
	}
	rec := call(t, h, http.MethodPost, "/api/inventory/reserve", `{"orderId":`)
	assert.Equal(t, http.StatusBadRequest, rec.Code, "malformed JSON")

	rec = call(t, h, http.MethodGet, "/api/inventory/reservations/"+strings.Repeat("o", 129), "")
	assert.Equal(t, http.StatusBadRequest, rec.Code, "an id in the path is bounded like one in a body")
	assert.Equal(t, "orderId", decode[httpx.ErrorBody](t, rec).Error.Field)
}

func TestReserveOverHTTP(t *testing.T) {
	t.Parallel()
	h, stock := newAPI(t)

	rec := call(t, h, http.MethodPost, "/api/inventory/reserve",
		`{"orderId":"o-1","lines":[{"sku":"SKU-002","quantity":2},{"sku":"SKU-001","quantity":3}]}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	r := decode[warehouse.Reservation](t, rec)
	assert.Equal(t, "o-1", r.OrderID)
	assert.Equal(t, inventory.StatusReserved, r.Status)
	assert.NotEmpty(t, r.ReservationID)
	assert.Equal(t, []inventory.Line{{SKU: "SKU-001", Quantity: 3}, {SKU: "SKU-002", Quantity: 2}}, r.Lines)
	available, reserved := stock("SKU-001")
	assert.Equal(t, 497, available)
	assert.Equal(t, 3, reserved)

	// Retrying the same request is safe, and answered as a repeat: same reservation, stock
	// taken once. The same lines in another order are the same request.
	rec = call(t, h, http.MethodPost, "/api/inventory/reserve",
		`{"orderId":"o-1","lines":[{"sku":"SKU-001","quantity":1},{"sku":"SKU-002","quantity":2},{"sku":"SKU-001","quantity":2}]}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, r, decode[warehouse.Reservation](t, rec))
	available, _ = stock("SKU-001")
	assert.Equal(t, 497, available)

	// Other lines for the order are not silently answered with its reservation: an order
	// is reserved once, and the conflict names the difference.
	for body, difference := range map[string]string{
		`{"orderId":"o-1","lines":[{"sku":"SKU-002","quantity":2},{"sku":"SKU-001","quantity":5}]}`:                                "SKU-001: 3 in the reservation, 5 asked",
		`{"orderId":"o-1","lines":[{"sku":"SKU-001","quantity":3}]}`:                                                               "SKU-002: 2 in the reservation, 0 asked",
		`{"orderId":"o-1","lines":[{"sku":"SKU-001","quantity":3},{"sku":"SKU-002","quantity":2},{"sku":"SKU-003","quantity":1}]}`: "SKU-003: 0 in the reservation, 1 asked",
	} {
		rec = call(t, h, http.MethodPost, "/api/inventory/reserve", body)
		require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
		got := decode[httpx.ErrorBody](t, rec).Error
		assert.Equal(t, "conflict", got.Code)
		assert.Equal(t, "order o-1 already has a reservation (reserved) of other lines, and an order is reserved once: "+difference, got.Message)
	}
	for sku, want := range map[string]int{"SKU-001": 3, "SKU-002": 2, "SKU-003": 0} {
		_, reserved = stock(sku)
		assert.Equal(t, want, reserved, sku)
	}

	rec = call(t, h, http.MethodGet, "/api/inventory/reservations/o-1", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, r.ReservationID, decode[warehouse.Reservation](t, rec).ReservationID)
	rec = call(t, h, http.MethodGet, "/api/inventory/reservations/nope", "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestReserveOutOfStockIsAConflictNamingTheSKU(t *testing.T) {
	t.Parallel()
	h, stock := newAPI(t)
	rec := call(t, h, http.MethodPost, "/api/inventory/reserve",
		`{"orderId":"o-2","lines":[{"sku":"SKU-001","quantity":1},{"sku":"SKU-LIMITED","quantity":6}]}`)
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	body := decode[httpx.ErrorBody](t, rec)
	assert.Equal(t, "conflict", body.Error.Code)
	assert.Contains(t, body.Error.Message, "SKU-LIMITED")
	available, reserved := stock("SKU-001")
	assert.Equal(t, 500, available, "all or nothing")
	assert.Zero(t, reserved)

	// The refusal is recorded, so the order's outcome stays the same when asked again.
	rec = call(t, h, http.MethodGet, "/api/inventory/reservations/o-2", "")
	require.Equal(t, http.StatusOK, rec.Code)
	r := decode[warehouse.Reservation](t, rec)
	assert.Equal(t, inventory.StatusFailed, r.Status)
	assert.Equal(t, "SKU-LIMITED", r.SKU)
}

func TestCheckAvailabilityOverHTTP(t *testing.T) {
	t.Parallel()
	h, _ := newAPI(t)
	rec := call(t, h, http.MethodPost, "/api/inventory/check-availability",
		`{"lines":[{"sku":"SKU-LIMITED","quantity":6},{"sku":"SKU-003","quantity":1}]}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"available":false,"lines":[
		{"sku":"SKU-003","requested":1,"available":200,"ok":true},
		{"sku":"SKU-LIMITED","requested":6,"available":5,"ok":false}]}`, rec.Body.String())

	rec = call(t, h, http.MethodPost, "/api/inventory/check-availability", `{"lines":[{"sku":"SKU-LIMITED","quantity":5}]}`)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, decode[struct{ Available bool }](t, rec).Available)
}

func TestReleaseOverHTTP(t *testing.T) {
	t.Parallel()
	h, stock := newAPI(t)
	rec := call(t, h, http.MethodPost, "/api/inventory/reserve", `{"orderId":"o-3","lines":[{"sku":"SKU-LIMITED","quantity":5}]}`)
	require.Equal(t, http.StatusCreated, rec.Code)

	rec = call(t, h, http.MethodPost, "/api/inventory/release", `{"orderId":"o-3","reason":"payment failed"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"orderId":"o-3","released":true}`, rec.Body.String())
	rec = call(t, h, http.MethodPost, "/api/inventory/release", `{"orderId":"o-3","reason":"payment failed"}`)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"orderId":"o-3","released":false}`, rec.Body.String())
	available, reserved := stock("SKU-LIMITED")
	assert.Equal(t, 5, available)
	assert.Zero(t, reserved)

	// A released reservation is not silently re-made.
	rec = call(t, h, http.MethodPost, "/api/inventory/reserve", `{"orderId":"o-3","lines":[{"sku":"SKU-LIMITED","quantity":5}]}`)
	assert.Equal(t, http.StatusConflict, rec.Code)
}

// Events appended through the HTTP procedures carry the caller's correlation id.
func TestHTTPCorrelation(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	require.NoError(t, warehouse.Seed(context.Background(), pool))
	h := warehouse.New(pool, nil, callers).Handler()
	req := httptest.NewRequest(http.MethodPost, "/api/inventory/reserve", strings.NewReader(`{"orderId":"o-9","lines":[{"sku":"SKU-001","quantity":1}]}`))
	req.Header.Set("X-Correlation-Id", "flow-7")
	req.Header.Set("Authorization", "Bearer "+ordersToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusCreated, rec.Code)
	events, err := eventstore.Load(context.Background(), pool, inventory.StreamID("o-9"))
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, "flow-7", events[0].Metadata.CorrelationID)
	assert.Equal(t, "service:orders", events[0].Metadata.Actor, "the caller its token named")
}

// The command consumer's transaction holds stock locks across a batch of commands, not in SKU
// order. A procedure holding SKU-001 and waiting for SKU-002 while the consumer holds SKU-002
// and asks for SKU-001 would be a deadlock; the procedure must step back instead.
func TestProcedureStepsBackForTheConsumersLocks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := pgtest.Pool(t)
	require.NoError(t, warehouse.Seed(ctx, pool))
	h := warehouse.New(pool, nil, callers).Handler()

	consumer, err := pool.Begin(ctx) // stands in for a consumer batch
	require.NoError(t, err)
	defer func() { _ = consumer.Rollback(ctx) }()
	_, err = consumer.Exec(ctx, `SELECT 1 FROM warehouse.stock WHERE sku = 'SKU-002' FOR UPDATE`)
	require.NoError(t, err)

	result := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/inventory/reserve",
			strings.NewReader(`{"orderId":"o-1","lines":[{"sku":"SKU-001","quantity":1},{"sku":"SKU-002","quantity":1}]}`))
		req.Header.Set("Authorization", "Bearer "+ordersToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		result <- rec
	}()
	// Wait until the procedure holds SKU-001 and waits for SKU-002.
	for {
		var waiting bool
		require.NoError(t, pool.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			               WHERE NOT l.granted AND l.locktype = 'tuple' AND c.relname = 'stock')
			    OR EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
			               AND wait_event_type = 'Lock' AND wait_event = 'transactionid')`).Scan(&waiting))
		if waiting {
			break
		}
		require.NoError(t, ctx.Err(), "the procedure never waited for SKU-002")
	}
	// Postgres looks for deadlocks after deadlock_timeout (1 s) of waiting and aborts the
	// waiter that looks; the consumer must not wait that long, or it could be the one.
	_, err = consumer.Exec(ctx, `SET LOCAL lock_timeout = '900ms'`)
	require.NoError(t, err)
	_, err = consumer.Exec(ctx, `SELECT 1 FROM warehouse.stock WHERE sku = 'SKU-001' FOR UPDATE`)
	require.NoError(t, err, "the procedure must release SKU-001 instead of waiting out a deadlock")
	require.NoError(t, consumer.Commit(ctx))

	rec := <-result
	assert.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
}

// A procedure that cannot get the stock's locks within its retries (another writer
// holding them) is told to come back, 503 with Retry-After, and changes nothing: it was a
// 500, logged as a failure of the service (a review).
func TestAProcedureKeptFromTheStockIsToldToRetry(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := pgtest.Pool(t)
	require.NoError(t, warehouse.Seed(ctx, pool))
	h := warehouse.New(pool, nil, callers).Handler()
	writer, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = writer.Rollback(ctx) }()
	_, err = writer.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('warehouse.stock', 0))`)
	require.NoError(t, err)

	rec := call(t, h, http.MethodPost, "/api/inventory/reserve", `{"orderId":"o-busy","lines":[{"sku":"SKU-001","quantity":1}]}`)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	assert.Contains(t, rec.Body.String(), "retry")
	require.NoError(t, writer.Rollback(ctx))
	rec = call(t, h, http.MethodGet, "/api/inventory/reservations/o-busy", "")
	assert.Equal(t, http.StatusNotFound, rec.Code, "nothing was reserved: %s", rec.Body.String())
}

// The catalog is public: names and prices (cents) of the SKUs asked for, in SKU order, or
// of every SKU; a SKU it does not know is simply absent.
func TestCatalog(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	require.NoError(t, warehouse.Seed(context.Background(), pool))
	h := warehouse.New(pool, nil, callers).Handler()
	rec := call(t, h, http.MethodGet, "/api/catalog?sku=SKU-LIMITED&sku=SKU-001&sku=SKU-NOPE", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"items":[
		{"sku":"SKU-001","name":"Espresso Cups (set of 4)","unitPrice":5000,"currency":"USD"},
		{"sku":"SKU-LIMITED","name":"Limited Edition Mug (signed)","unitPrice":2000,"currency":"USD"}]}`, rec.Body.String())

	all := decode[struct{ Items []inventory.CatalogItem }](t, call(t, h, http.MethodGet, "/api/catalog", ""))
	require.Len(t, all.Items, 32)
	for _, it := range all.Items {
		assert.Positive(t, it.UnitPrice, "%s is priced", it.SKU)
	}

	// Seeding prices a SKU stocked before prices existed (sql/00095), and never changes a
	// set price.
	ctx := context.Background()
	_, err := pool.Exec(ctx, `UPDATE warehouse.stock SET price = 0, priced = false WHERE sku = 'SKU-002'; UPDATE warehouse.stock SET price = 777 WHERE sku = 'SKU-003'`)
	require.NoError(t, err)
	require.NoError(t, warehouse.Seed(ctx, pool))
	got, err := warehouse.Catalog(ctx, pool, []string{"SKU-002", "SKU-003"})
	require.NoError(t, err)
	assert.Equal(t, int64(24_00), got[0].UnitPrice)
	assert.Equal(t, int64(777), got[1].UnitPrice)

	rec = call(t, h, http.MethodGet, "/api/catalog?sku="+strings.Repeat("x", 200), "")
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	// An empty sku names nothing: it is a mistake, not a question with no answer.
	rec = call(t, h, http.MethodGet, "/api/catalog?sku=", "")
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "sku[0] is empty")
	// A misspelt parameter answered the whole catalog, as if nothing had been asked; the
	// stock list too. The README: an unknown parameter is a 400, on every list.
	rec = call(t, h, http.MethodGet, "/api/catalog?SKU=SKU-001", "")
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), `unknown query parameter \"SKU\": this takes sku`)
	rec = call(t, h, http.MethodGet, "/api/inventory?sku=SKU-001", "")
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), `unknown query parameter \"sku\": this takes no query parameters`)
}

// A reservation and its repeat say where to read it, as POST /api/orders does: the 201 had
// no Location (a probe). The order id is escaped in the path.
func TestAReservationSaysWhereToReadIt(t *testing.T) {
	t.Parallel()
	h, _ := newAPI(t)
	for _, status := range []int{http.StatusCreated, http.StatusOK} {
		rec := call(t, h, http.MethodPost, "/api/inventory/reserve", `{"orderId":"o 7/b","lines":[{"sku":"SKU-001","quantity":1}]}`)
		require.Equal(t, status, rec.Code, rec.Body.String())
		location := rec.Header().Get("Location")
		assert.Equal(t, "/api/inventory/reservations/o%207%2Fb", location)
		read := call(t, h, http.MethodGet, location, "")
		require.Equal(t, http.StatusOK, read.Code, read.Body.String())
		assert.Equal(t, decode[warehouse.Reservation](t, rec), decode[warehouse.Reservation](t, read))
	}
}
