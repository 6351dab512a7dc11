package warehouse_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/warehouse"
)

// FuzzHTTP sends any body, query and path parameter to the warehouse's procedures (stock,
// catalog, availability, reserve, release, reservation read), with and without the
// caller's token, on a real database with the demo catalog. No input gets a 5xx, and a
// refused one writes nothing (pgtest.Serve), with one documented exception: a
// reservation the stock cannot meet is decided and committed, then answered 409, so it
// may write what any failed reservation writes, and nothing else.
func FuzzHTTP(f *testing.F) {
	pool := pgtest.Pool(f)
	require.NoError(f, warehouse.Seed(context.Background(), pool))
	h := httpx.ValidInput(httpx.JSONRefusals(nil), warehouse.New(pool, nil, callers).Handler())

	// What a failed reservation writes, learnt from one.
	failing := httptest.NewRequest(http.MethodPost, "/api/inventory/reserve", strings.NewReader(`{"orderId":"ord-short","lines":[{"sku":"SKU-001","quantity":10000}]}`))
	failing.Header.Set("Authorization", "Bearer "+ordersToken)
	before, rec := pgtest.Snapshot(f, pool), httptest.NewRecorder()
	h.ServeHTTP(rec, failing)
	require.Equal(f, http.StatusConflict, rec.Code, rec.Body.String())
	failedWrites := before.Changed(pgtest.Snapshot(f, pool))
	require.Contains(f, failedWrites, "warehouse.reservations")

	for _, b := range []string{
		`{"orderId":"ord-1","lines":[{"sku":"SKU-001","quantity":1},{"sku":"SKU-002","quantity":2}]}`,
		`{"orderId":"ord-2","lines":[{"sku":"SKU-001","quantity":10000}]}`,
		`{"orderId":"ord-3","lines":[{"sku":"NOPE","quantity":1}]}`,
		`{"orderId":"ord-4","lines":[{"sku":"SKU-001","quantity":0}]}`,
		`{"orderId":"ord-5","lines":[{"sku":"SKU-001","quantity":1},{"sku":"SKU-001","quantity":1}]}`,
		`{"orderId":"ord-6","lines":[{"sku":"SKU-001","quantity":9223372036854775807}]}`,
		`{"orderId":"","lines":[]}`, `{"lines":null}`, `null`, ``,
	} {
		f.Add(uint8(3), "", []byte(b), true)
		f.Add(uint8(2), "", []byte(strings.Replace(b, `"orderId"`, `"ignored"`, 1)), true)
	}
	for _, b := range []string{`{"orderId":"ord-1","reason":"payment failed"}`, `{"orderId":"ord-404","reason":""}`, `{"orderId":" "}`, `{"orderId":"ord-1","reason":1}`} {
		f.Add(uint8(4), "", []byte(b), true)
		f.Add(uint8(4), "", []byte(b), false)
	}
	for _, q := range []string{"sku=SKU-001&sku=SKU-031", "sku=", "sku=%ff", "sku=" + strings.Repeat("S", 200)} {
		f.Add(uint8(1), q, []byte(nil), false)
	}
	f.Add(uint8(0), "", []byte(nil), false)
	f.Add(uint8(5), "ord-1", []byte(nil), true)
	f.Add(uint8(5), "ord-404", []byte(nil), true)
	f.Add(uint8(5), "a/b", []byte(nil), false)
	f.Fuzz(func(t *testing.T, route uint8, param string, body []byte, authorized bool) {
		var req *http.Request
		switch route % 6 {
		case 0:
			req = httptest.NewRequest(http.MethodGet, "/api/inventory", nil)
		case 1:
			req = httptest.NewRequest(http.MethodGet, "/api/catalog", nil)
			req.URL.RawQuery = param
		case 2:
			req = httptest.NewRequest(http.MethodPost, "/api/inventory/check-availability", bytes.NewReader(body))
		case 3:
			req = httptest.NewRequest(http.MethodPost, "/api/inventory/reserve", bytes.NewReader(body))
		case 4:
			req = httptest.NewRequest(http.MethodPost, "/api/inventory/release", bytes.NewReader(body))
		default:
			req = httptest.NewRequest(http.MethodGet, "/api/inventory/reservations/"+url.PathEscape(param), nil)
		}
		if authorized {
			req.Header.Set("Authorization", "Bearer "+ordersToken)
		}
		var allowed []string
		if route%6 == 3 && authorized {
			allowed = failedWrites
		}
		status, changed := pgtest.Serve(t, pool, h, req, allowed...)
		if status >= 400 && len(changed) > 0 && status != http.StatusConflict {
			t.Fatalf("a reservation refused with %d wrote to %v", status, changed)
		}
		if (req.Method == http.MethodGet || route%6 == 2 || !authorized) && len(changed) > 0 {
			t.Fatalf("%s %s (a read, or without the caller's token) wrote to %v", req.Method, req.URL, changed)
		}
	})
}
