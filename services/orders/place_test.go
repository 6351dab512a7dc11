package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// The business case's curl request (no Content-Type header) places an order that can be
// read back at its Location, with its history.
func TestPlaceOrderBusinessCase(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})

	before := time.Now()
	r := a.post(t, businessCaseBody, nil)
	after := time.Now()

	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Empty(t, r.header.Get("Idempotent-Replayed"))
	created := decodeObject(t, r.body)
	assert.Len(t, created, 3, "exactly id, status and accessToken: %s", r.body)
	assert.NotEmpty(t, created["accessToken"])
	id, _ := created["id"].(string)
	require.NotEmpty(t, id)
	// The saga ran on the order in the placement's transaction: its risk is scored, and
	// this low-risk order is on its way to the warehouse when the answer comes.
	assert.Equal(t, "reserving_inventory", created["status"])
	require.Equal(t, "/api/orders/"+id, r.header.Get("Location"))

	got := a.get(t, r.header.Get("Location"))
	require.Equal(t, http.StatusOK, got.status, string(got.body))
	assert.Equal(t, "no-store", got.header.Get("Cache-Control"), "an order's personal data stays out of caches")
	view := decodeObject(t, got.body)
	assert.Equal(t, id, view["id"])
	assert.Equal(t, "reserving_inventory", view["status"])
	assert.Equal(t, "USD", view["currency"])
	assert.Equal(t, []any{map[string]any{"sku": "SKU-001", "name": "Espresso Cups (set of 4)", "quantity": json.Number("2"), "unitPrice": json.Number("50.00")}}, view["items"],
		"each line carries the catalog's price and name")
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
	assert.WithinRange(t, updatedAt, createdAt, after, "last updated by its risk assessment, in the same request")

	ev := a.get(t, "/api/orders/"+id+"/events")
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
	require.Len(t, history.Events, 2)
	assessed := history.Events[1]
	assert.Equal(t, order.NameRiskAssessed, assessed.Name)
	assert.Equal(t, 2, assessed.Version)
	assert.Equal(t, "saga", assessed.Actor)
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
	assert.Equal(t, []order.Item{{SKU: "SKU-001", Quantity: 2, UnitPrice: &price, Name: "Espresso Cups (set of 4)"}}, placed.Items)

	c := a.counts(t)
	assert.Equal(t, placedCounts(1, 0), c,
		"the events stored and published, and the stock asked for, in the placement's transaction")
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
		"shippingAddress": {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "us"},
		"billingAddress": {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}
	}`
	id := a.place(t, full)
	r := a.get(t, "/api/orders/"+id)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	v := decodeObject(t, r.body)
	assert.Equal(t, "cust-42", v["customerId"])
	assert.Equal(t, "ada@example.com", v["customerEmail"])
	assert.Equal(t, true, v["newCustomer"])
	assert.Equal(t, "USD", v["currency"])
	assert.Equal(t, json.Number("124.00"), v["total"])
	assert.Equal(t, map[string]any{"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}, v["shippingAddress"])
	assert.Equal(t, []any{
		map[string]any{"sku": "SKU-001", "name": "Espresso Cups (set of 4)", "quantity": json.Number("2"), "unitPrice": json.Number("50.00")},
		map[string]any{"sku": "SKU-002", "name": "Pour-Over Coffee Dripper", "quantity": json.Number("1"), "unitPrice": json.Number("24.00")},
	}, v["items"])

	ev := a.get(t, "/api/orders/"+id+"/events")
	require.Equal(t, http.StatusOK, ev.status)
	assert.Contains(t, string(ev.body), `"actor":"customer:cust-42"`)

	bare := a.place(t, `{"items":[{"sku":"SKU-001","quantity":1}]}`)
	r = a.get(t, "/api/orders/"+bare)
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

	first := a.post(t, businessCaseBody, key)
	require.Equal(t, http.StatusCreated, first.status, string(first.body))
	assert.Empty(t, first.header.Get("Idempotent-Replayed"))
	id := decodeObject(t, first.body)["id"]

	second := a.post(t, businessCaseBody, key)
	require.Equal(t, http.StatusOK, second.status, string(second.body))
	assert.Equal(t, "true", second.header.Get("Idempotent-Replayed"))
	body := decodeObject(t, second.body)
	assert.Equal(t, id, body["id"])
	assert.Equal(t, "reserving_inventory", body["status"], "a replay answers the order as it stands")
	assert.Equal(t, decodeObject(t, first.body)["accessToken"], body["accessToken"], "a replay returns the same access token")
	assert.Equal(t, first.header.Get("Location"), second.header.Get("Location"))

	// The same request serialised otherwise (keys in another order, other spacing) is the
	// same request: a client that re-encodes on a retry must not be told it conflicts.
	reordered := a.post(t, "{ \"total\" : 100,\n  \"items\": [ {\"quantity\": 2, \"sku\": \"SKU-001\"} ] }", key)
	require.Equal(t, http.StatusOK, reordered.status, string(reordered.body))
	assert.Equal(t, id, decodeObject(t, reordered.body)["id"])
	// So is the same amount written with its cents.
	cents := a.post(t, `{"items":[{"sku":"SKU-001","quantity":2}],"total":100.00}`, key)
	require.Equal(t, http.StatusOK, cents.status, string(cents.body))
	assert.Equal(t, id, decodeObject(t, cents.body)["id"])
	// A different request under the key is a conflict.
	different := a.post(t, `{"items":[{"sku":"SKU-001","quantity":3}],"total":150}`, key)
	assert.Equal(t, http.StatusConflict, different.status, string(different.body))
	assert.Equal(t, placedCounts(1, 1), a.counts(t))
	// A key stored before the request was hashed as decoded names its body's bytes: a retry
	// of that body after an upgrade is still the same request.
	_, err := a.pool.Exec(t.Context(), `INSERT INTO orders.idempotency_keys (key, request_hash, order_id)
		VALUES ('stored-before', encode(sha256(convert_to($1, 'UTF8')), 'hex'), $2)`, businessCaseBody, id)
	require.NoError(t, err)
	old := a.post(t, businessCaseBody, map[string]string{"Idempotency-Key": "stored-before"})
	require.Equal(t, http.StatusOK, old.status, string(old.body))
	assert.Equal(t, id, decodeObject(t, old.body)["id"])
	// And a key stored while the request was hashed as decoded, but not yet written as the
	// order takes it.
	_, err = a.pool.Exec(t.Context(), `INSERT INTO orders.idempotency_keys (key, request_hash, order_id)
		VALUES ('stored-decoded', encode(sha256(convert_to($1, 'UTF8')), 'hex'), $2)`,
		`{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":null}],"total":100,"customerId":"","customerEmail":"","newCustomer":false,"shippingAddress":null,"billingAddress":null,"currency":""}`, id)
	require.NoError(t, err)
	decoded := a.post(t, businessCaseBody, map[string]string{"Idempotency-Key": "stored-decoded"})
	require.Equal(t, http.StatusOK, decoded.status, string(decoded.body))
	assert.Equal(t, id, decodeObject(t, decoded.body)["id"])

	// Codes are one in any case, and a unit price one however its cents are written.
	coded := map[string]string{"Idempotency-Key": "retry-codes"}
	lower := a.post(t, `{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":50}],"total":100,"currency":"usd",`+
		`"shippingAddress":{"name":"Ann","line1":"1 Main St","city":"Oslo","country":"no"}}`, coded)
	require.Equal(t, http.StatusCreated, lower.status, string(lower.body))
	upper := a.post(t, `{"items":[{"sku":"SKU-001","quantity":2,"unitPrice":50.0}],"total":100,"currency":"USD",`+
		`"shippingAddress":{"name":"Ann","line1":"1 Main St","city":"Oslo","country":"NO"}}`, coded)
	require.Equal(t, http.StatusOK, upper.status, string(upper.body))
	assert.Equal(t, decodeObject(t, lower.body)["id"], decodeObject(t, upper.body)["id"])

	// Another key, or no key at all, is another order.
	other := a.post(t, businessCaseBody, map[string]string{"Idempotency-Key": "retry-2"})
	require.Equal(t, http.StatusCreated, other.status)
	assert.NotEqual(t, id, decodeObject(t, other.body)["id"])
	a.place(t, businessCaseBody)
	a.place(t, businessCaseBody)
	assert.Equal(t, placedCounts(5, 5), a.counts(t), "five orders; the keys retry-1, stored-before, stored-decoded, retry-codes and retry-2")
}

// An Idempotency-Key names its order for IdempotencyKeyTTL: a retry within it is
// replayed, and the same key later places a new order (keys never expired, so the table
// kept every key ever sent and a key reused a year later replayed a year-old order).
func TestAnIdempotencyKeyExpires(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{IdempotencyKeyTTL: time.Hour})
	key := map[string]string{"Idempotency-Key": "kept-an-hour"}
	first := a.post(t, businessCaseBody, key)
	require.Equal(t, http.StatusCreated, first.status, string(first.body))
	id := decodeObject(t, first.body)["id"]

	_, err := a.pool.Exec(t.Context(), `UPDATE orders.idempotency_keys SET created_at = now() - interval '59 minutes'`)
	require.NoError(t, err)
	replay := a.post(t, businessCaseBody, key)
	require.Equal(t, http.StatusOK, replay.status, "within its time the key replays")
	assert.Equal(t, id, decodeObject(t, replay.body)["id"])

	_, err = a.pool.Exec(t.Context(), `UPDATE orders.idempotency_keys SET created_at = now() - interval '61 minutes'`)
	require.NoError(t, err)
	later := a.post(t, `{"items":[{"sku":"SKU-001","quantity":3}],"total":150}`, key)
	require.Equal(t, http.StatusCreated, later.status, "past its time the key places a new order, whatever the request: %s", later.body)
	laterID := decodeObject(t, later.body)["id"]
	assert.NotEqual(t, id, laterID)
	again := a.post(t, `{"items":[{"sku":"SKU-001","quantity":3}],"total":150}`, key)
	require.Equal(t, http.StatusOK, again.status, "and names the new one from then on")
	assert.Equal(t, laterID, decodeObject(t, again.body)["id"])
	assert.Equal(t, placedCounts(2, 1), a.counts(t))
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

	c := a.counts(t)
	assert.Equal(t, 1, c.Placed, "exactly one order.placed event")
	assert.Equal(t, placedCounts(1, 1), c)
}

// Reusing a key for a different request is refused rather than silently answered with an
// order the client did not ask for.
func TestPlaceOrderSameKeyDifferentBodyConflicts(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	key := map[string]string{"Idempotency-Key": "k-1"}
	first := a.post(t, businessCaseBody, key)
	require.Equal(t, http.StatusCreated, first.status)

	r := a.post(t, `{"items":[{"sku":"SKU-001","quantity":3}],"total":150}`, key)
	assertError(t, r, http.StatusConflict, "conflict", "")
	assert.Empty(t, r.header.Get("Location"))
	assert.Equal(t, placedCounts(1, 1), a.counts(t))
}

// A replay answers the order its key placed whatever the catalog says now: a price changed
// since (the request's stated total is no longer the catalog's: it was a 422) or a catalog
// that cannot be asked (a replica that never priced the SKU: it was a 503). The order was
// placed; the client must learn so. Another request under the key is still a conflict.
func TestAReplayIsAnsweredWhateverTheCatalogSaysNow(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{OrderTokenSecret: testOrderSecret})
	key := map[string]string{"Idempotency-Key": "placed-before-the-price-changed"}
	first := a.post(t, businessCaseBody, key)
	require.Equal(t, http.StatusCreated, first.status, string(first.body))
	placed := decodeObject(t, first.body)

	_, err := a.pool.Exec(t.Context(), `UPDATE warehouse.stock SET price = price * 2 WHERE sku = 'SKU-001'`)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, a.post(t, businessCaseBody, nil).status, "the stated total is no longer the catalog's")

	replicaWithoutCatalog := orders.New(a.pool, slog.New(slog.DiscardHandler), orders.Config{OrderTokenSecret: testOrderSecret, WarehouseURL: "http://127.0.0.1:1"})
	replica := httptest.NewServer(replicaWithoutCatalog.Handler())
	t.Cleanup(replica.Close)
	elsewhere := &api{pool: a.pool, svc: replicaWithoutCatalog, srv: replica}
	require.Equal(t, http.StatusServiceUnavailable, elsewhere.post(t, businessCaseBody, nil).status, "the replica cannot price an order")

	for _, via := range []*api{a, elsewhere} {
		name := map[*api]string{a: "priced otherwise now", elsewhere: "without the catalog"}[via]
		replay := via.post(t, businessCaseBody, key)
		require.Equal(t, http.StatusOK, replay.status, "%s: %s", name, replay.body)
		assert.Equal(t, "true", replay.header.Get("Idempotent-Replayed"), name)
		got := decodeObject(t, replay.body)
		assert.Equal(t, placed["id"], got["id"], name)
		assert.Equal(t, placed["accessToken"], got["accessToken"], name)
		assert.Equal(t, first.header.Get("Location"), replay.header.Get("Location"), name)

		other := via.post(t, `{"items":[{"sku":"SKU-001","quantity":3}],"total":150}`, key)
		assertError(t, other, http.StatusConflict, "conflict", "")
	}
	assert.Equal(t, placedCounts(1, 1), a.counts(t))
}

// Bad input is answered with a 4xx JSON error naming the field, and nothing is stored:
// no event, no published message, no idempotency key used up.
func TestPlaceOrderRejectsBadInput(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})

	// Exactly the limit is accepted (JSON allows trailing whitespace), one byte more is not.
	atLimit := businessCaseBody + strings.Repeat(" ", orders.MaxOrderBody-len(businessCaseBody))
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
		{name: "blank currency", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"currency":""}`, status: 400, code: "invalid", field: "currency"},
		{name: "currency a number", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"currency":840}`, status: 400, code: "invalid", field: "currency"},
		{name: "currency with digits", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"currency":"US1"}`, status: 400, code: "invalid", field: "currency"},
		{name: "bad email", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"customerEmail":"nobody"}`, status: 400, code: "invalid", field: "customerEmail"},
		{name: "an email turned around", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"customerEmail":"\u202eevil@x.com"}`, status: 400, code: "invalid", field: "customerEmail"},
		{name: "a name that turns the address around", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"shippingAddress":{"name":"\u202eAnna","line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"}}`, status: 400, code: "invalid", field: "shippingAddress.name"},
		{name: "a country's name for its code", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"shippingAddress":{"name":"Anna","line1":"1 Main St","city":"Berlin","country":"Germany"}}`, status: 400, code: "invalid", field: "shippingAddress.country"},
		{name: "a country code unassigned", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"billingAddress":{"name":"Anna","line1":"1 Main St","city":"Berlin","country":"zz"}}`, status: 400, code: "invalid", field: "billingAddress.country"},
		{name: "a region that is no country", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"shippingAddress":{"name":"Anna","line1":"1 Main St","city":"Berlin","country":"EU"}}`, status: 400, code: "invalid", field: "shippingAddress.country"},
		{name: "a three-letter country code", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"shippingAddress":{"name":"Anna","line1":"1 Main St","city":"Berlin","country":"DEU"}}`, status: 400, code: "invalid", field: "shippingAddress.country"},
		{name: "a country code since replaced", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"shippingAddress":{"name":"Ann","line1":"1 Main St","city":"Leeds","country":"UK"}}`, status: 400, code: "invalid", field: "shippingAddress.country"},
		{name: "a customer id with an isolate", body: `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"customerId":"c\u2067-1"}`, status: 400, code: "invalid", field: "customerId"},
		{name: "body over MaxOrderBody", body: overLimit, status: http.StatusRequestEntityTooLarge, code: "too_large"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := a.counts(t)
			r := a.post(t, tc.body, map[string]string{"Idempotency-Key": "bad-" + strconv.Itoa(i)})
			assertError(t, r, tc.status, tc.code, tc.field)
			assert.Empty(t, r.header.Get("Location"))
			assert.Equal(t, before, a.counts(t), "nothing may be stored for a refused request")
		})
	}
	require.Equal(t, storedCounts{}, a.counts(t))

	// The counts above are not blind: a request at the size limit is placed and shows up.
	r := a.post(t, atLimit, map[string]string{"Idempotency-Key": "at-limit"})
	require.Equal(t, http.StatusCreated, r.status, "a body of exactly MaxOrderBody is accepted: %.200s", r.body)
	assert.Equal(t, placedCounts(1, 1), a.counts(t))
}

// An unknown order is a 404 with the JSON error body, for the order and its history.
func TestGetUnknownOrder(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	assertError(t, a.get(t, "/api/orders/no-such-order"), http.StatusNotFound, "not_found", "")
	assertError(t, a.get(t, "/api/orders/no-such-order/events"), http.StatusNotFound, "not_found", "")

	// The same paths answer for an order that exists, so the 404s above are about the id.
	id := a.place(t, businessCaseBody)
	assert.Equal(t, http.StatusOK, a.get(t, "/api/orders/"+id).status)
	assert.Equal(t, http.StatusOK, a.get(t, "/api/orders/"+id+"/events").status)
}

// The saga runs on a new order in the placement's transaction: the answer says where
// the risk check sent it, and what that step asks of others is recorded with the order,
// marked as handled so the saga's consumers do not take it again.
// A country that is no ISO 3166-1 alpha-2 code of a country is refused, saying which code
// was meant where there is one answer; a code in small letters is taken in capitals
// (TestPlaceOrderOptionalFields), as the currency is.
func TestPlaceOrderNamesTheCountryCodeMeant(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	for country, hint := range map[string]string{"UK": `"UK" is now "GB"`, "Germany": `such as "DE"`, "EU": `code such as`} {
		r := a.post(t, `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"shippingAddress":{"name":"Ann","line1":"1 Main St","city":"Leeds","country":"`+country+`"}}`, nil)
		assertError(t, r, http.StatusBadRequest, "invalid", "shippingAddress.country")
		var e apiError
		require.NoError(t, json.Unmarshal(r.body, &e))
		assert.Contains(t, e.Error.Message, hint, "country %q", country)
	}
	for _, country := range []string{"GB", "NO", "XK", "de"} {
		a.place(t, `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"shippingAddress":{"name":"Ann","line1":"1 Main St","city":"Oslo","country":"`+country+`"}}`)
	}
}

func TestPlaceOrderAnswersTheRiskDecision(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	ctx := context.Background()

	r := a.post(t, `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000}`, nil)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	held := decodeObject(t, r.body)
	assert.Equal(t, string(order.StatusAwaitingApproval), held["status"], "a 50,000 order from a new customer waits for a manager")
	heldID := held["id"].(string)
	var deadlines int
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT count(*) FROM watermill_order_deadlines
		WHERE metadata->>'name' = 'deadline.approval.v1' AND payload::jsonb->>'orderId' = $1`, heldID).Scan(&deadlines))
	assert.Equal(t, 1, deadlines, "the approval wait's deadline is armed with the order")
	assert.Zero(t, a.counts(t).Reservations, "a held order asks nothing of the warehouse")

	low := a.place(t, businessCaseBody)
	assert.Equal(t, string(order.StatusReserving), decodeObject(t, a.get(t, "/api/orders/"+low).body)["status"])
	assert.Equal(t, 1, a.counts(t).Reservations, "the low-risk order's stock is asked for once")

	var unhandled int
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM "watermill_order_events.0" WHERE metadata->>'handled_by' IS DISTINCT FROM 'saga.process_order') +
		(SELECT count(*) FROM "watermill_order_events.1" WHERE metadata->>'handled_by' IS DISTINCT FROM 'saga.process_order') +
		(SELECT count(*) FROM "watermill_order_events.2" WHERE metadata->>'handled_by' IS DISTINCT FROM 'saga.process_order') +
		(SELECT count(*) FROM "watermill_order_events.3" WHERE metadata->>'handled_by' IS DISTINCT FROM 'saga.process_order')`).Scan(&unhandled))
	assert.Zero(t, unhandled, "every event of both placements is marked handled by the saga")
}

// A placement counts the customer's recent orders in its first round trip and the saga
// scores the risk with that count: the fourth order of a customer within the hour
// carries the velocity factor, the first three do not.
func TestPlaceOrderScoresTheCustomersRecentOrders(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	body := `{"items":[{"sku":"SKU-001","quantity":1}],"customerId":"cust-velocity"}`
	velocity := func(id string) []string {
		var view struct {
			RiskFactors []order.RiskFactor `json:"riskFactors"`
		}
		require.NoError(t, json.Unmarshal(a.get(t, "/api/orders/"+id).body, &view))
		var found []string
		for _, f := range view.RiskFactors {
			if f.Code == "order_velocity" {
				found = append(found, f.Description)
			}
		}
		return found
	}
	for i := range 3 {
		assert.Empty(t, velocity(a.place(t, body)), "order %d", i+1)
	}
	assert.Equal(t, []string{"3 other orders from this customer in the last hour"}, velocity(a.place(t, body)))
}

// A placement costs its transaction two round trips to Postgres: BEGIN, the idempotency
// key, the known-customer check, the velocity count and the saga's lock and reads in one;
// the order's events, the saga's command and the COMMIT in the other.
func TestPlaceOrderTakesTwoRoundTrips(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	counted, trips := pgtest.CountingPool(t, pool)
	svc := orders.New(counted, slog.New(slog.DiscardHandler), orders.Config{OperatorToken: orderstest.OperatorToken, WarehouseURL: orderstest.CatalogURL(t, pool)})
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	a := &api{pool: counted, svc: svc, srv: srv}
	body := `{"items":[{"sku":"SKU-001","quantity":1}],"customerId":"cust-trips"}`
	for i, key := range []string{"k-trips-1", "k-trips-2"} {
		trips.Reset()
		r := a.post(t, body, map[string]string{"Idempotency-Key": key})
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
		if i == 1 { // the first prepared the statements
			assert.Equal(t, int64(2), trips.Count())
		}
	}
}

// Orders a customer places all at once take turns: each counts those placed before it, so
// a burst scores as the same orders placed one after another would (the fourth on carry
// the velocity factor) instead of passing as so many first orders.
func TestPlaceOrderConcurrentOrdersOfOneCustomerCountEachOther(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	const n = 8
	body := `{"items":[{"sku":"SKU-001","quantity":1}],"customerId":"cust-burst"}`
	ids := make(chan string, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			resp, err := a.srv.Client().Post(a.srv.URL+"/api/orders", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var placed struct {
				ID string `json:"id"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&placed); err != nil || resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("status %d, %v", resp.StatusCode, err)
				return
			}
			ids <- placed.ID
		})
	}
	close(start)
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var found []string
	for id := range ids {
		var view struct {
			RiskFactors []order.RiskFactor `json:"riskFactors"`
		}
		require.NoError(t, json.Unmarshal(a.get(t, "/api/orders/"+id).body, &view))
		for _, f := range view.RiskFactors {
			if f.Code == "order_velocity" {
				found = append(found, f.Description)
			}
		}
	}
	slices.Sort(found)
	var want []string
	for k := 3; k < n; k++ {
		want = append(want, fmt.Sprintf("%d other orders from this customer in the last hour", k))
	}
	assert.Equal(t, want, found)
}
