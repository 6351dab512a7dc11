package delivery_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/httpx"
)

// FuzzHTTP sends any body and path parameter to the delivery service's procedures
// (create a shipment, read one, the courier simulator), with and without the caller's
// token, on a real database. No input gets a 5xx, and a refused one writes nothing
// (pgtest.Serve).
func FuzzHTTP(f *testing.F) {
	pool := pgtest.Pool(f)
	orders := httptest.NewServer(newOrdersStub())
	f.Cleanup(orders.Close)
	logger := slog.New(slog.DiscardHandler)
	svc := delivery.New(pool, logger, delivery.Config{
		WebhookSecret: secret, Simulator: true, Callers: httpx.Tokens{"orders": ordersToken},
		OrdersWebhookURL: orders.URL + "/webhooks/delivery",
	})
	h := httpx.ValidInput(httpx.JSONRefusals(logger), svc.Handler())

	for _, b := range []string{
		`{"orderId":"ord-1","address":{"name":"Ann","line1":"1 Road","city":"Paris","postalCode":"75001","country":"FR"},"lines":[{"sku":"MUG","quantity":1}]}`,
		`{"orderId":"ord-2","lines":[{"sku":"MUG","quantity":2}]}`,
		`{"orderId":"ord-3","lines":[]}`,
		`{"orderId":"ord-4","lines":[{"sku":"","quantity":-1}]}`,
		`{"orderId":"ord-5","lines":[{"sku":"MUG","quantity":1}],"address":{"country":"` + strings.Repeat("F", 300) + `"}}`,
		`{"orderId":"","lines":null}`, `null`, `{`, ``,
	} {
		f.Add(uint8(0), "", []byte(b), true)
	}
	f.Add(uint8(0), "", []byte(`{"orderId":"ord-9","lines":[{"sku":"MUG","quantity":1}]}`), false)
	for _, b := range []string{`{"status":"in_transit"}`, `{"status":"delivered"}`, `{"status":"failed","reason":"lost"}`, `{"status":""}`, `{"status":"teleported"}`, `{"status":1}`} {
		f.Add(uint8(2), "ord-1", []byte(b), true)
		f.Add(uint8(2), "ord-404", []byte(b), true)
	}
	for _, id := range []string{"ord-1", "ord-404", "", "a/b", strings.Repeat("o", 300)} {
		f.Add(uint8(1), id, []byte(nil), true)
	}
	f.Fuzz(func(t *testing.T, route uint8, id string, body []byte, authorized bool) {
		var req *http.Request
		switch route % 3 {
		case 0:
			req = httptest.NewRequest(http.MethodPost, "/api/shipments", bytes.NewReader(body))
		case 1:
			req = httptest.NewRequest(http.MethodGet, "/api/shipments/"+url.PathEscape(id), nil)
		default:
			req = httptest.NewRequest(http.MethodPost, "/api/shipments/"+url.PathEscape(id)+"/simulate", bytes.NewReader(body))
		}
		if authorized {
			req.Header.Set("Authorization", "Bearer "+ordersToken)
		}
		_, changed := pgtest.Serve(t, pool, h, req)
		if (req.Method == http.MethodGet || !authorized) && len(changed) > 0 {
			t.Fatalf("%s %s (a read, or without the caller's token) wrote to %v", req.Method, req.URL, changed)
		}
	})
}
