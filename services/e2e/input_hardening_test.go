package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/webhooksig"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// storedRows counts what every service has written: events, the services' own tables and
// the log's dead letters, so a test can show that a refused request left nothing behind.
func (s *system) storedRows(t *testing.T) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, table := range []string{"events", "orders.idempotency_keys", "orders.webhook_inbox", "orders.order_summaries",
		"payments.sessions", "warehouse.reservations", "delivery.shipments", "dead_letters"} {
		var n int
		require.NoError(t, s.db.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
		counts[table] = n
	}
	return counts
}

// refused sends a request and requires a 400 with the JSON error body.
func (s *system) refused(t *testing.T, method, url string, body any, header http.Header) errorBody {
	t.Helper()
	var e errorBody
	code := s.call(t, method, url, body, header, &e)
	require.Equal(t, http.StatusBadRequest, code, "%s %s: %+v", method, url, e)
	require.Equal(t, "invalid", e.Error.Code, "%s %s", method, url)
	require.NotEmpty(t, e.Error.Message, "%s %s", method, url)
	return e
}

// Finding 8 of issue 8: a quantity the read side cannot hold used to get 201, after which
// the order-summaries projection dead-lettered the order's events. The edge now refuses
// it, naming the field, and stores nothing.
func TestOversizedOrdersAreRefusedAtTheEdge(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.storedRows(t)

	lines := make([]string, 101)
	for i := range lines {
		lines[i] = `{"sku":"SKU-001","quantity":1}`
	}
	cases := []struct{ name, body, field string }{
		{"2^31 units on one line", `{"items":[{"sku":"SKU-001","quantity":2147483648}],"total":100}`, "items[0].quantity"},
		{"3e9 units over three lines", `{"items":[{"sku":"SKU-001","quantity":1000000000},{"sku":"SKU-002","quantity":1000000000},{"sku":"SKU-003","quantity":1000000000}],"total":100}`, "items[0].quantity"},
		{"one unit over the line bound", `{"items":[{"sku":"SKU-001","quantity":10001}],"total":100}`, "items[0].quantity"},
		{"101 lines", `{"items":[` + strings.Join(lines, ",") + `],"total":100}`, "items"},
		{"a quantity that is no integer", `{"items":[{"sku":"SKU-001","quantity":1e30}],"total":100}`, "items[0].quantity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := s.refused(t, "POST", s.orders+"/api/orders", c.body, nil)
			assert.Equal(t, c.field, e.Error.Field, e.Error.Message)
		})
	}
	// The warehouse applies the same bounds to its own procedures.
	e := s.refused(t, "POST", s.warehouse+"/api/inventory/reserve", `{"orderId":"o-1","lines":[{"sku":"SKU-001","quantity":10001}]}`, bearer(ordersServiceToken))
	assert.Equal(t, "lines[0].quantity", e.Error.Field)
	assert.Equal(t, before, s.storedRows(t), "a refused order stores nothing")
}

// The largest order the edge accepts fits every column: 100 lines, as many as an order may
// have, for nearly the most one payment can take (100 × 1,050 × 9.50 = 997,500.00 of
// 999,999.99; 10,000 units a line, the most a line may hold, cost more than that). It
// reaches the order list with its full item count and nothing is dead-lettered.
func TestTheLargestAcceptedOrderReachesTheReadSide(t *testing.T) {
	s := start(t, defaultOptions())
	lines := make([]string, 100)
	for i := range lines {
		lines[i] = `{"sku":"SKU-005","quantity":1050}`
	}
	id := s.placeOrder(t, `{"items":[`+strings.Join(lines, ",")+`]}`)

	var listed struct {
		Orders []struct {
			ID        string `json:"id"`
			ItemCount int    `json:"itemCount"`
		} `json:"orders"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/orders", nil, operator(), &listed))
		if len(listed.Orders) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Len(t, listed.Orders, 1, "the order reaches the list")
	assert.Equal(t, id, listed.Orders[0].ID)
	assert.Equal(t, 105_000, listed.Orders[0].ItemCount)
	// 997,500.00 waits for a manager; approved, it is too much for the stock, so the
	// workflow cancels it. It must not poison anything on the way.
	s.waitStatus(t, id, "awaiting_approval")
	require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, true, "").StatusCode())
	s.waitCancelled(t, id)
	assert.Zero(t, s.storedRows(t)["dead_letters"])
}

// waitCancelled waits until the order is cancelled (here: out of stock).
func (s *system) waitCancelled(t *testing.T, id string) {
	t.Helper()
	if !poll(20*time.Millisecond, func() bool { return s.order(t, id).Status == "cancelled" }) {
		t.Fatalf("order %s was never cancelled", id)
	}
}

// Finding 9 of issue 8: a NUL byte or invalid UTF-8 anywhere in a request used to reach
// Postgres, which refused it (SQLSTATE 22021), and the client got a 500. Every service now
// refuses such a request with a 400 before any handler runs, and nothing is stored.
func TestNULAndInvalidUTF8AreRefusedByEveryService(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.storedRows(t)

	signedNUL := []byte(`{"id":"evt_1","orderId":"o\u0000","status":"completed"}`)
	paymentHeader := http.Header{webhooksig.StripeHeader: {webhooksig.SignStripe(signedNUL, paymentSecret, time.Now())}}
	courierHeader := http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(signedNUL, deliverySecret, time.Now())}}
	cases := []struct {
		name, method, url string
		body              any
		header            http.Header
	}{
		{"orders: NUL in the path", "GET", s.orders + "/api/orders/%00", nil, nil},
		{"orders: invalid UTF-8 in the path", "GET", s.orders + "/api/orders/%ff/events", nil, nil},
		{"orders: NUL in the notifications path", "GET", s.orders + "/api/orders/%00/notifications", nil, nil},
		{"orders: NUL in a cursor", "GET", s.orders + "/api/orders?cursor=2026-01-01T00:00:00Z%7C%00", nil, nil},
		{"orders: NUL in a filter", "GET", s.orders + "/api/support-tickets?orderId=%00", nil, nil},
		{"orders: invalid UTF-8 in a filter", "GET", s.orders + "/api/webhooks?outcome=%C3", nil, nil},
		{"orders: NUL in a dashboard search", "GET", s.orders + "/dashboard/orders?q=%00", nil, nil},
		{"orders: NUL in a sign-in form", "POST", s.orders + "/dashboard/signin", "email=a%00b&password=x",
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}},
		{"orders: NUL in a SKU", "POST", s.orders + "/api/orders", `{"items":[{"sku":"SKU-001\u0000","quantity":1}],"total":100}`, nil},
		{"orders: raw NUL in a body", "POST", s.orders + "/api/orders", "{\"items\":[{\"sku\":\"SKU-001\x00\",\"quantity\":1}],\"total\":100}", nil},
		{"orders: invalid UTF-8 in a body", "POST", s.orders + "/api/orders", "{\"items\":[{\"sku\":\"SKU-001\xff\",\"quantity\":1}],\"total\":100}", nil},
		{"orders: invalid UTF-8 in Idempotency-Key", "POST", s.orders + "/api/orders", lowRisk, http.Header{"Idempotency-Key": {"key-\xff"}}},
		{"orders: NUL in an approval", "POST", s.orders + "/api/orders/approve", `{"orderId":"o\u0000","approved":true}`, bearer(managerToken)},
		{"orders: NUL in a payment webhook", "POST", s.orders + "/webhooks/payment", signedNUL, paymentHeader},
		{"orders: NUL in a courier webhook", "POST", s.orders + "/webhooks/delivery", signedNUL, courierHeader},
		{"payments: NUL in the path", "GET", s.payments + "/api/payments/sessions/%00", nil, nil},
		{"payments: NUL in an orderId", "POST", s.payments + "/api/payments/sessions", `{"orderId":"o\u0000","amount":100,"currency":"USD"}`, nil},
		{"payments: NUL in the checkout path", "GET", s.payments + "/pay/%00", nil, nil},
		{"warehouse: NUL in the path", "GET", s.warehouse + "/api/inventory/reservations/%00", nil, nil},
		{"warehouse: NUL in a SKU", "POST", s.warehouse + "/api/inventory/check-availability", `{"lines":[{"sku":"SKU\u0000","quantity":1}]}`, nil},
		{"warehouse: NUL in an orderId", "POST", s.warehouse + "/api/inventory/reserve", `{"orderId":"o\u0000","lines":[{"sku":"SKU-001","quantity":1}]}`, nil},
		{"warehouse: NUL in a release", "POST", s.warehouse + "/api/inventory/release", `{"orderId":"o\u0000"}`, nil},
		{"delivery: NUL in the path", "GET", s.delivery + "/api/shipments/%00", nil, nil},
		{"delivery: NUL in an orderId", "POST", s.delivery + "/api/shipments", `{"orderId":"o\u0000","lines":[{"sku":"SKU-001","quantity":1}]}`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := s.refused(t, c.method, c.url, c.body, c.header)
			assert.NotContains(t, e.Error.Message, "\x00", "the message does not echo the NUL")
		})
	}
	assert.Equal(t, before, s.storedRows(t), "a refused request stores nothing")

	// An escaped backslash followed by "u0000" is six ordinary characters, not a NUL.
	var created struct{ ID string }
	require.Equal(t, http.StatusCreated, s.call(t, "POST", s.orders+"/api/orders",
		`{"items":[{"sku":"SKU-001","quantity":1}],"total":50,"customerId":"c\\u0000"}`, nil, &created))
	assert.NotEmpty(t, created.ID)
}

// "." and ".." are no ids: a path segment of either points elsewhere, so no client could
// name such an order, reservation, session or shipment in a URL. Sent escaped (%2E) they
// reached every procedure as ids, and in a body they were taken: the warehouse reserved
// stock for order "." (201, with a Location no client can follow), released "..", and the
// delivery service booked a shipment for it. Every id entry point of every service now
// refuses them with a 400 naming the field, and nothing is stored.
func TestDotSegmentIDsAreRefusedByEveryService(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.storedRows(t)
	signed := func(body string, sign func([]byte) (string, string)) (string, http.Header) {
		name, value := sign([]byte(body))
		return body, http.Header{name: {value}}
	}
	stripe := func(b []byte) (string, string) {
		return webhooksig.StripeHeader, webhooksig.SignStripe(b, paymentSecret, time.Now())
	}
	courier := func(b []byte) (string, string) {
		return webhooksig.CourierHeader, webhooksig.SignCourier(b, deliverySecret, time.Now())
	}
	paid, paidHeader := signed(`{"id":"evt_dot","orderId":"..","status":"completed"}`, stripe)
	paidWith, paidWithHeader := signed(`{"id":"evt_dots","orderId":"o-1","sessionId":".","paymentId":"..","status":"completed"}`, stripe)
	delivered, deliveredHeader := signed(`{"id":"evt_dot","orderId":".","status":"delivered"}`, courier)
	service := bearer(ordersServiceToken)
	shipment := `{"orderId":"..","lines":[{"sku":"SKU-001","quantity":1}],"address":{"name":"Ann","line1":"1 Road","city":"Paris","postalCode":"75001","country":"FR"}}`
	cases := []struct {
		name, method, url string
		body              any
		header            http.Header
		field             string
	}{
		{"orders: an order", "GET", s.orders + "/api/orders/%2E", nil, operator(), "id"},
		{"orders: an order's events", "GET", s.orders + "/api/orders/%2E%2E/events", nil, operator(), "id"},
		{"orders: an order's notifications", "GET", s.orders + "/api/orders/%2E/notifications", nil, operator(), "id"},
		{"orders: resolving a notification", "POST", s.orders + "/api/orders/%2E%2E/notifications/order_confirmed/resolve", `{"resolution":"sent"}`, operator(), "id"},
		{"orders: an approval", "POST", s.orders + "/api/orders/approve", `{"orderId":"..","approved":true}`, bearer(managerToken), "orderId"},
		{"orders: tickets of an order", "GET", s.orders + "/api/support-tickets?orderId=.", nil, operator(), "orderId"},
		{"orders: a payment webhook's order", "POST", s.orders + "/webhooks/payment", paid, paidHeader, "orderId"},
		{"orders: a payment webhook's session", "POST", s.orders + "/webhooks/payment", paidWith, paidWithHeader, "paymentId"},
		{"orders: a courier webhook's order", "POST", s.orders + "/webhooks/delivery", delivered, deliveredHeader, "orderId"},
		{"payments: a session", "GET", s.payments + "/api/payments/sessions/%2E%2E", nil, service, "orderId"},
		{"payments: the simulator", "POST", s.payments + "/api/payments/process", `{"orderId":".","outcome":"completed"}`, service, "orderId"},
		{"payments: the checkout page", "GET", s.payments + "/pay/%2E", nil, nil, "sessionId"},
		{"warehouse: a reservation", "POST", s.warehouse + "/api/inventory/reserve", `{"orderId":".","lines":[{"sku":"SKU-001","quantity":1}]}`, service, "orderId"},
		{"warehouse: a release", "POST", s.warehouse + "/api/inventory/release", `{"orderId":"..","reason":"by hand"}`, service, "orderId"},
		{"warehouse: reading a reservation", "GET", s.warehouse + "/api/inventory/reservations/%2E%2E", nil, service, "orderId"},
		{"delivery: a shipment", "POST", s.delivery + "/api/shipments", shipment, service, "orderId"},
		{"delivery: reading a shipment", "GET", s.delivery + "/api/shipments/%2E", nil, service, "orderId"},
		{"delivery: the simulator", "POST", s.delivery + "/api/shipments/%2E%2E/simulate", `{"status":"delivered"}`, service, "orderId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := s.refused(t, c.method, c.url, c.body, c.header)
			assert.Equal(t, c.field, e.Error.Field, e.Error.Message)
			assert.Contains(t, e.Error.Message, `must not be "." or ".."`)
		})
	}
	assert.Equal(t, before, s.storedRows(t), "a refused request stores nothing")
}

// A credential, a signature or a key given twice is refused by every service before any
// handler: the first was taken, so a good operator token followed by a wrong one was let
// in (the reverse was a 401), and a proxy or log keeping the last saw another (a probe).
func TestAHeaderThatMayComeOnceIsRefusedTwice(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.storedRows(t)
	body := []byte(`{"id":"evt_twice","orderId":"o-1","status":"completed"}`)
	stripe := webhooksig.SignStripe(body, paymentSecret, time.Now())
	courier := webhooksig.SignCourier(body, deliverySecret, time.Now())
	cases := []struct {
		name, method, url string
		body              any
		header            http.Header
	}{
		{"orders: two bearer tokens", "GET", s.orders + "/api/orders", nil, http.Header{"Authorization": {"Bearer " + operatorToken, "Bearer wrong"}}},
		{"orders: two Idempotency-Keys", "POST", s.orders + "/api/orders", lowRisk, http.Header{"Idempotency-Key": {"x1", "x2"}}},
		{"orders: two payment signatures", "POST", s.orders + "/webhooks/payment", body, http.Header{webhooksig.StripeHeader: {stripe, "t=1,v1=00"}}},
		{"orders: two courier signatures", "POST", s.orders + "/webhooks/delivery", body, http.Header{webhooksig.CourierHeader: {courier, "t=1,v1=00"}}},
		{"warehouse: two service tokens", "POST", s.warehouse + "/api/inventory/release", `{"orderId":"o-1"}`, http.Header{"Authorization": {"Bearer a", "Bearer b"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := s.refused(t, c.method, c.url, c.body, c.header)
			assert.Contains(t, e.Error.Message, "is given more than once: send one")
		})
	}
	assert.Equal(t, before, s.storedRows(t), "a refused request stores nothing")
}
