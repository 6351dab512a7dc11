package payments_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/payments"
)

// FuzzHTTP sends any path parameter, body and form to the payment service's procedures
// (the session read, the provider simulator) and its checkout page, as dev mode serves
// them, with and without the caller's token or the checkout's CSRF cookie, on a real
// database holding one open session. No input gets a 5xx, and a refused one writes
// nothing (pgtest.Serve).
func FuzzHTTP(f *testing.F) {
	pool := pgtest.Pool(f)
	orders := httptest.NewServer(newOrdersStub(http.StatusAccepted))
	f.Cleanup(orders.Close)
	logger := slog.New(slog.DiscardHandler)
	svc := payments.New(pool, logger, payments.Config{
		WebhookSecret: secret, Simulator: true, Callers: httpx.Tokens{"orders": ordersToken},
		OrdersWebhookURL: orders.URL + "/webhooks/payment",
	})
	sess, _, err := createInTx(context.Background(), pool, svc, cmd)
	require.NoError(f, err)
	h := httpx.ValidInput(httpx.JSONRefusals(logger), svc.Handler())

	for _, body := range []string{
		`{"orderId":"ord-1","outcome":"failed","reason":"card declined"}`,
		`{"orderId":"ord-1","outcome":"completed"}`,
		`{"orderId":"ord-404","outcome":"completed"}`,
		`{"orderId":"ord-1","outcome":"refunded"}`,
		`{"orderId":"","outcome":""}`,
		`{"orderId":"ord-1","outcome":"completed","extra":true}`,
		`null`, `{`, ``,
	} {
		f.Add(uint8(1), "", []byte(body), true)
	}
	f.Add(uint8(1), "", []byte(`{"orderId":"ord-1","outcome":"completed"}`), false)
	for _, id := range []string{"ord-1", "ord-404", "", strings.Repeat("o", 400), "a b", "%00"} {
		f.Add(uint8(0), id, []byte(nil), true)
	}
	for _, form := range []string{"outcome=completed", "outcome=failed", "outcome=nope", "%zz", ""} {
		f.Add(uint8(3), sess.SessionID, []byte(form), true)
		f.Add(uint8(3), sess.SessionID, []byte(form), false)
	}
	f.Add(uint8(2), sess.SessionID, []byte(nil), true)
	f.Add(uint8(2), "cs_missing", []byte(nil), true)
	f.Add(uint8(3), "cs_missing", []byte("outcome=completed"), true)
	const csrf = "fuzz-checkout-token"
	f.Fuzz(func(t *testing.T, route uint8, id string, body []byte, authorized bool) {
		escaped := url.PathEscape(id)
		var req *http.Request
		switch route % 4 {
		case 0:
			req = httptest.NewRequest(http.MethodGet, "/api/payments/sessions/"+escaped, nil)
		case 1:
			req = httptest.NewRequest(http.MethodPost, "/api/payments/process", bytes.NewReader(body))
		case 2:
			req = httptest.NewRequest(http.MethodGet, "/pay/"+escaped, nil)
		default:
			form := string(body)
			if authorized {
				form += "&csrf_token=" + csrf
			}
			req = httptest.NewRequest(http.MethodPost, "/pay/"+escaped, strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: "ordermill_checkout", Value: csrf})
		}
		if authorized && route%4 < 2 {
			req.Header.Set("Authorization", "Bearer "+ordersToken)
		}
		status, changed := pgtest.Serve(t, pool, h, req)
		if req.Method == http.MethodGet && len(changed) > 0 {
			t.Fatalf("GET %s wrote to %v", req.URL, changed)
		}
		if !authorized && len(changed) > 0 {
			t.Fatalf("%s %s without its credential wrote to %v (%d)", req.Method, req.URL, changed, status)
		}
	})
}
