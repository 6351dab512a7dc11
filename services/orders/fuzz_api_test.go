package orders_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

func FuzzPlaceOrder(f *testing.F) {
	fz := newFuzzOrders(f)
	for _, s := range []string{
		businessCaseBody,
		`{"items":[{"sku":"SKU-001","quantity":1,"unitPrice":"50.00"}],"total":"50.00","currency":"usd","customerId":"c-1","customerEmail":"a@example.com"}`,
		`{"items":[{"sku":"SKU-001","quantity":2}],"shippingAddress":{"name":"Ann","line1":"1 Rue","city":"Paris","postalCode":"75001","country":"FR"}}`,
		`{"items":[{"sku":"SKU-001","quantity":-1}],"total":1e400}`,
		`{"items":[{"sku":"NOPE","quantity":1}]}`,
		`{"items":[],"total":0}`,
		`{"items":[{"sku":"SKU-001","quantity":9223372036854775807}],"total":0.001}`,
		`{"items":null,"total":null,"extra":1}`,
		`{"items":[{"sku":"SKU-001","quantity":1}],"customerEmail":"Ann <a@example.com>"}`,
		`[]`, `{`, "",
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(businessCaseBody), "key-1")
	f.Add([]byte(`{"items":[{"sku":"SKU-001","quantity":3}],"total":150}`), "key-1")
	f.Add([]byte(businessCaseBody), strings.Repeat("k", 300))
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		header := map[string]string{}
		if key != "" {
			header["Idempotency-Key"] = key
		}
		status, changed := fz.serve(t, post("/api/orders", body, header))
		if status == http.StatusCreated && !slices.Contains(changed, "public.events") {
			t.Fatalf("an order was created (201) without an event: %s", body)
		}
	})
}

func FuzzApprove(f *testing.F) {
	fz := newFuzzOrders(f)
	for _, s := range []string{
		`{"orderId":"` + fuzzHeldOrder + `","approved":false,"reason":"fraud"}`,
		`{"orderId":"` + fuzzHeldOrder + `","approved":true}`,
		`{"orderId":"missing","approved":true}`,
		`{"orderId":"","approved":true}`,
		`{"orderId":"` + fuzzHeldOrder + `"}`,
		`{"orderId":"` + fuzzHeldOrder + `","approved":"yes"}`,
		`{"orderId":"` + fuzzHeldOrder + `","approved":true,"reason":"` + strings.Repeat("r", 5000) + `"}`,
		`null`, ``,
	} {
		f.Add([]byte(s), fuzzManagerToken)
	}
	f.Add([]byte(`{"orderId":"`+fuzzHeldOrder+`","approved":true}`), "wrong")
	f.Add([]byte(`{"orderId":"`+fuzzHeldOrder+`","approved":true}`), "")
	f.Fuzz(func(t *testing.T, body []byte, token string) {
		fz.serve(t, post("/api/orders/approve", body, map[string]string{"Authorization": "Bearer " + token}))
	})
}

// FuzzReads sends any path parameter and query string to the API's reads: the order
// list's filters and cursor, one order, its events and notifications, the tickets and
// the webhook inbox. Reads never write, whatever they answer.
func FuzzReads(f *testing.F) {
	fz := newFuzzOrders(f)
	for i := range 6 {
		f.Add(uint8(i), fuzzHeldOrder, "")
	}
	for _, q := range []string{
		"status=awaiting_approval&limit=2", "status=nope", "limit=0", "limit=201", "limit=-1", "limit=1e3",
		"cursor=2026-06-01T12:00:00Z|" + fuzzHeldOrder, "cursor=garbage", "cursor=2026-06-01T12:00:00Z|", "cursor=%ZZ",
		"orderId=" + fuzzHeldOrder, "outcome=unknown_order", "limit=1&limit=2", "a=%00",
	} {
		f.Add(uint8(0), "", q) // the order list reads most of them; tickets and the inbox take the rest
		if strings.HasPrefix(q, "orderId") || strings.HasPrefix(q, "outcome") || strings.HasPrefix(q, "a=") {
			f.Add(uint8(4), "", q)
			f.Add(uint8(5), "", q)
		}
	}
	f.Add(uint8(1), "../../etc", "")
	f.Add(uint8(2), "ord/with/slashes", "")
	f.Add(uint8(3), strings.Repeat("x", 500), "")
	f.Fuzz(func(t *testing.T, route uint8, id, query string) {
		paths := []string{"/api/orders", "/api/orders/" + id, "/api/orders/" + id + "/events", "/api/orders/" + id + "/notifications",
			"/api/support-tickets", "/api/webhooks"}
		path := paths[int(route)%len(paths)]
		_, changed := fz.serve(t, get(path, query, map[string]string{"Authorization": "Bearer " + orderstest.OperatorToken}))
		if len(changed) > 0 {
			t.Fatalf("GET %s?%s wrote to %v", path, query, changed)
		}
	})
}
