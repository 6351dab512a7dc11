package orders_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/warehouse"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// The orders service's fuzz targets drive the real handler, behind the input check every
// service runs (httpx.ValidInput), on a real database, with any bytes. Whatever they
// send: no 5xx, and a refused request (4xx) writes nothing: every table's rows are the
// same after it as before (pgtest.Snapshot).

const (
	fuzzPaymentSecret  = "whsec_fuzz_payment"
	fuzzCourierSecret  = "courier_fuzz"
	fuzzManagerToken   = "fuzz-manager-token"
	fuzzHeldOrder      = "ord-fuzz-held"
	fuzzManagerEmail   = "fuzz@example.com"
	fuzzManagerPasswrd = "correct horse battery fuzz"
)

// fuzzNow is the service's clock: fixed, so signatures made for a seed stay valid.
var fuzzNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type fuzzOrders struct {
	pool *pgxpool.Pool
	h    http.Handler
}

// newFuzzOrders is one orders service on a fresh database with the demo catalog (served by
// the real warehouse) and one order held for a manager's approval.
func newFuzzOrders(f *testing.F) *fuzzOrders {
	pool := pgtest.Pool(f)
	ctx := context.Background()
	require.NoError(f, warehouse.Seed(ctx, pool))
	wh := httptest.NewServer(warehouse.New(pool, nil, warehouse.Config{}).Handler())
	f.Cleanup(wh.Close)
	logger := slog.New(slog.DiscardHandler)
	svc := orders.New(pool, logger, orders.Config{
		Now: func() time.Time { return fuzzNow }, WarehouseURL: wh.URL, OperatorToken: testOperatorToken,
		ManagerTokens:        httpx.Tokens{fuzzManagerEmail: fuzzManagerToken},
		PaymentWebhookSecret: fuzzPaymentSecret, DeliveryWebhookSecret: fuzzCourierSecret,
	})
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		o := &order.Order{}
		events, err := o.Place(order.PlaceOrder{OrderID: fuzzHeldOrder, CustomerEmail: "held@example.com", NewCustomer: true,
			Items: []order.Item{{SKU: "SKU-002", Quantity: 1}}, Total: 5_000_000, At: fuzzNow})
		if err != nil {
			return err
		}
		o.ID = fuzzHeldOrder
		if err := orderstream.Append(ctx, tx, o, eventstore.Metadata{CorrelationID: fuzzHeldOrder, Actor: "customer"}, events...); err != nil {
			return err
		}
		_, err = orderstream.Update(ctx, tx, fuzzHeldOrder, eventstore.Metadata{CorrelationID: fuzzHeldOrder, Actor: "saga"}, func(o *order.Order) ([]order.Event, error) {
			return o.AssessRisk(85, nil, 70, fuzzNow.Add(24*time.Hour), fuzzNow)
		})
		return err
	})
	require.NoError(f, err)
	return &fuzzOrders{pool: pool, h: httpx.ValidInput(logger, svc.Handler())}
}

func (fz *fuzzOrders) serve(t *testing.T, req *http.Request, allowed ...string) (int, []string) {
	t.Helper()
	return pgtest.Serve(t, fz.pool, fz.h, req, allowed...)
}

func post(path string, body []byte, header map[string]string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

// get builds a GET of path (its segments taken as they are) and a raw query, whatever
// bytes they hold, as a client could send them.
func get(path, rawQuery string, header map[string]string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", rawQuery
	req.RequestURI = req.URL.RequestURI()
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

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

// webhookSeeds adds each body unsigned, signed correctly and with a broken header.
func webhookSeeds(f *testing.F, bodies ...string) {
	for _, b := range bodies {
		f.Add([]byte(b), "", true)
		f.Add([]byte(b), "", false)
		f.Add([]byte(b), "t=1,v1=00", false)
	}
}

func FuzzPaymentWebhook(f *testing.F) {
	fz := newFuzzOrders(f)
	obj := func(typ, data string) string {
		return `{"id":"evt_1","object":"event","type":"` + typ + `","api_version":"2020-08-27","data":{"object":` + data + `}}`
	}
	webhookSeeds(f,
		`{"id":"evt-1","orderId":"`+fuzzHeldOrder+`","status":"completed","paymentId":"pay-1","sessionId":"cs_1","amount":5000000,"currency":"USD"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":"failed","reason":"card_declined"}`,
		`{"orderId":"unknown-order","status":"completed"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":"maybe"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":"completed","amount":-5,"currency":"usd"}`,
		obj("checkout.session.completed", `{"id":"cs_1","payment_status":"paid","amount_total":5000000,"currency":"usd","metadata":{"order_id":"`+fuzzHeldOrder+`"},"payment_intent":"pi_1"}`),
		obj("payment_intent.payment_failed", `{"id":"pi_1","metadata":{"order_id":"`+fuzzHeldOrder+`"},"last_payment_error":{"code":"card_declined"}}`),
		obj("checkout.session.expired", `7`),
		obj("customer.created", `{}`),
		`{"object":"event","data":"x"}`, `[]`, ``,
	)
	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = webhooksig.SignStripe(body, fuzzPaymentSecret, fuzzNow)
		}
		h := map[string]string{}
		if header != "" {
			h[webhooksig.StripeHeader] = header
		}
		// A webhook for an order not (yet) known is kept in the inbox and answered 404, so
		// that the provider retries it; that one refusal writes its inbox row.
		status, changed := fz.serve(t, post("/webhooks/payment", body, h), "orders.webhook_inbox")
		if status >= 400 && len(changed) > 0 && status != http.StatusNotFound {
			t.Fatalf("a payment webhook refused with %d kept an inbox row", status)
		}
		if !sign && header == "" && status < 400 {
			t.Fatalf("an unsigned payment webhook was accepted outside dev mode: %d", status)
		}
	})
}

func FuzzDeliveryWebhook(f *testing.F) {
	fz := newFuzzOrders(f)
	webhookSeeds(f,
		`{"id":"d-1","orderId":"`+fuzzHeldOrder+`","shipmentId":"shp-1","status":"in_transit"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":"failed","reason":"address not found"}`,
		`{"orderId":"unknown-order","status":"delivered"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":"out for delivery"}`,
		`{"orderId":"`+fuzzHeldOrder+`","status":""}`,
		`{"orderId":5}`, `null`, ``,
	)
	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = webhooksig.SignCourier(body, fuzzCourierSecret, fuzzNow)
		}
		h := map[string]string{}
		if header != "" {
			h[webhooksig.CourierHeader] = header
		}
		status, changed := fz.serve(t, post("/webhooks/delivery", body, h), "orders.webhook_inbox")
		if status >= 400 && len(changed) > 0 && status != http.StatusNotFound {
			t.Fatalf("a delivery webhook refused with %d kept an inbox row", status)
		}
		if !sign && header == "" && status < 400 {
			t.Fatalf("an unsigned delivery webhook was accepted: %d", status)
		}
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
		_, changed := fz.serve(t, get(path, query, map[string]string{"Authorization": "Bearer " + testOperatorToken}))
		if len(changed) > 0 {
			t.Fatalf("GET %s?%s wrote to %v", path, query, changed)
		}
	})
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// signedInManager signs the manager in through the real sign-in form and returns the
// session cookie and its CSRF token.
func signedInManager(f *testing.F, fz *fuzzOrders) (*http.Cookie, string) {
	require.NoError(f, orders.CreateManager(context.Background(), fz.pool, fuzzManagerEmail, fuzzManagerPasswrd))
	srv := httptest.NewServer(fz.h)
	defer srv.Close()
	jar, err := cookiejar.New(nil)
	require.NoError(f, err)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := func(resp *http.Response, err error) string {
		require.NoError(f, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(f, err)
		return string(b)
	}
	m := csrfInput.FindStringSubmatch(page(c.Get(srv.URL + "/dashboard/signin")))
	require.NotNil(f, m, "the sign-in form carries a CSRF token")
	resp, err := c.PostForm(srv.URL+"/dashboard/signin", url.Values{"email": {fuzzManagerEmail}, "password": {fuzzManagerPasswrd}, "csrf_token": {m[1]}})
	require.NoError(f, err)
	resp.Body.Close()
	require.Equal(f, http.StatusSeeOther, resp.StatusCode)
	u, _ := url.Parse(srv.URL + "/dashboard/")
	var session *http.Cookie
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "ordermill_session" {
			session = ck
		}
	}
	require.NotNil(f, session)
	var csrf string
	require.NoError(f, fz.pool.QueryRow(context.Background(), `SELECT csrf_token FROM orders.dashboard_sessions`).Scan(&csrf))
	return session, csrf
}

// FuzzDashboard sends any form and query to the dashboard's pages and forms, signed in,
// with and without the session's CSRF token: pages never write, and a refused form
// writes nothing.
func FuzzDashboard(f *testing.F) {
	fz := newFuzzOrders(f)
	session, csrf := signedInManager(f, fz)
	// Each form on its own route (0 decide, 1 notes, 2 simulate, 3 claim, 4 bulk, 5 ticket,
	// 6 re-drive one dead letter, 7 re-drive a topic), each query on two pages: a modest
	// seed set, since plain go test replays every seed on the database.
	for route, forms := range [][]string{
		{"decision=reject&reason=fraud", "decision=approve", "decision=approve&confirm=" + fuzzHeldOrder, "decision=maybe",
			"decision=approve&return=order", "%zz", "reason=" + strings.Repeat("r", 3000) + "&decision=reject"},
		{"text=checked+with+the+customer", "text=", "text=%20%20", "%zz"},
		{"action=pay", "action=nope"},
		{"action=claim", "action=release", "action=nope", "%zz"},
		{"order=" + fuzzHeldOrder + "&decision=reject&reason=bulk", "order=" + fuzzHeldOrder + "&decision=reject&reason=bulk&confirmed=1", "order=&decision=approve&confirmed=1", "%zz"},
		{"action=assign&to=ana", "action=comment&text=hi", "action=close&resolution=done", "action=", "%zz"},
		{"confirm=yes", "", "%zz"},
		{"topic=order_events.0&confirm=yes", "topic=", "%zz"},
	} {
		for _, form := range forms {
			f.Add(uint8(route), fuzzHeldOrder, form, true)
		}
	}
	for i, q := range []string{"", "status=awaiting_approval", "q=ann", "cursor=x", "page=-1", "status=nope&q=%ff", "simulated=pay"} {
		f.Add(uint8(8+i%7), fuzzHeldOrder, q, false)
		f.Add(uint8(8+(i+3)%7), fuzzHeldOrder, q, false)
	}
	f.Add(uint8(0), fuzzHeldOrder, "decision=reject&reason=no+token", false)
	f.Add(uint8(0), "missing-order", "decision=approve", true)
	f.Fuzz(func(t *testing.T, route uint8, id, input string, withCSRF bool) {
		escaped := url.PathEscape(id)
		forms := []string{"/dashboard/approvals/" + escaped + "/decide", "/dashboard/orders/" + escaped + "/notes", "/dashboard/orders/" + escaped + "/simulate",
			"/dashboard/approvals/" + escaped + "/claim", "/dashboard/approvals/bulk", "/dashboard/tickets/" + escaped,
			"/dashboard/dead-letters/" + escaped + "/redrive", "/dashboard/dead-letters/redrive"}
		pages := []string{"/dashboard", "/dashboard/approvals", "/dashboard/orders", "/dashboard/orders/" + escaped, "/dashboard/tickets", "/dashboard/dead-letters",
			"/dashboard/orders.csv"}
		var req *http.Request
		i := int(route) % (len(forms) + len(pages))
		if i < len(forms) {
			body := input
			if withCSRF {
				body += "&csrf_token=" + csrf
			}
			req = post(forms[i], []byte(body), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			req.URL.RawPath = forms[i]
		} else {
			req = get(pages[i-len(forms)], input, nil)
			req.URL.RawPath = pages[i-len(forms)]
		}
		req.URL.Path, _ = url.PathUnescape(req.URL.RawPath)
		req.AddCookie(session)
		_, changed := fz.serve(t, req)
		if req.Method == http.MethodGet && len(changed) > 0 {
			t.Fatalf("GET %s wrote to %v", req.URL, changed)
		}
		if !withCSRF && req.Method == http.MethodPost && len(changed) > 0 {
			t.Fatalf("a form without the CSRF token wrote to %v", changed)
		}
	})
}

// FuzzSignIn: the sign-in form, whatever its bytes and whether its CSRF token matches its
// cookie. It never answers 5xx. A refused sign-in writes only the attempt's charge (the
// throttle's record of failures, learnt below from one real wrong password), and a form
// without the matching token writes nothing at all.
func FuzzSignIn(f *testing.F) {
	fz := newFuzzOrders(f)
	require.NoError(f, orders.CreateManager(context.Background(), fz.pool, fuzzManagerEmail, fuzzManagerPasswrd))
	const token = "fuzz-signin-token"
	signIn := func(form string, withToken bool) *http.Request {
		if withToken {
			form += "&csrf_token=" + token
		}
		req := post("/dashboard/signin", []byte(form), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		req.AddCookie(&http.Cookie{Name: "ordermill_signin", Value: token})
		return req
	}
	before := pgtest.Snapshot(f, fz.pool)
	rec := httptest.NewRecorder()
	fz.h.ServeHTTP(rec, signIn("email=nobody%40example.com&password=wrong-password-1", true))
	require.Equal(f, http.StatusUnauthorized, rec.Code)
	charged := before.Changed(pgtest.Snapshot(f, fz.pool))
	require.NotEmpty(f, charged, "a wrong password is charged to the throttle")

	f.Add("email="+url.QueryEscape(fuzzManagerEmail)+"&password="+url.QueryEscape(fuzzManagerPasswrd)+"&next=/dashboard/orders", true)
	f.Add("email="+url.QueryEscape(fuzzManagerEmail)+"&password=wrong", true)
	f.Add("email=&password=", true)
	f.Add("next=https%3A%2F%2Fevil.example&email=a&password=b", true)
	f.Add("%zz", true)
	f.Add("email=a&password=b", false)
	f.Fuzz(func(t *testing.T, form string, withToken bool) {
		status, changed := fz.serve(t, signIn(form, withToken), charged...)
		if status == http.StatusForbidden && len(changed) > 0 {
			t.Fatalf("a sign-in refused for its CSRF token wrote to %v", changed)
		}
	})
}
