package payments_test

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/payments"
)

// Finding 1 of issue 8: a session could be opened, read or settled by anyone. Every
// procedure now wants a calling service's token, and answers 401 without it.
func TestProceduresWantACallersToken(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{})
	h := svc.Handler()
	requests := []struct{ method, path, body string }{
		{http.MethodGet, "/api/payments/sessions/ord-1", ""},
		{http.MethodPost, "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`},
	}
	for _, r := range requests {
		for _, authorization := range []string{"", "Bearer wrong", ordersToken} {
			req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
			req.Header.Set("Authorization", authorization)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s with %q", r.method, r.path, authorization)
			assert.Equal(t, "unauthorized", decode[httpx.ErrorBody](t, rec).Error.Code)
		}
	}
	_, err := svc.SessionByOrder(ctx, pool, "ord-1")
	assert.Equal(t, apperr.CodeNotFound, apperr.ErrorCode(err), "no session was opened")
}

// Finding 1 of issue 8: outside dev mode the provider simulator and the checkout page are
// not routes at all.
func TestSimulatorExistsOnlyWhenEnabled(t *testing.T) {
	ctx := testContext(t)
	pool := pgtest.Pool(t)
	svc := payments.New(pool, slog.New(slog.DiscardHandler), payments.Config{
		WebhookSecret: secret, Callers: httpx.Tokens{"orders": ordersToken},
	})
	sess, _, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)
	h := svc.Handler()
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`},
		{http.MethodGet, "/pay/" + sess.SessionID, ""},
		{http.MethodPost, "/pay/" + sess.SessionID, "outcome=completed"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, asOrders(httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))))
		assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s", r.method, r.path)
	}
	got, err := svc.SessionByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, payments.StatusOpen, got.Status)
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// Findings 1 and 15 of issue 8: the checkout form took a post from anywhere and the page
// had no CSP. A post must now bring the token its page set twice (cookie and field).
func TestCheckoutNeedsItsCSRFTokenAndHasAStrictCSP(t *testing.T) {
	ctx := testContext(t)
	stub := newOrdersStub(http.StatusAccepted)
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, payments.Config{OrdersWebhookURL: orders.URL + "/webhooks/payment"})
	sess, _, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)
	h := svc.Handler()
	path := "/pay/" + sess.SessionID

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", rec.Header().Get("Content-Security-Policy"))
	assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	assert.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	cookie := cookies[0]
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
	assert.Equal(t, path, cookie.Path)
	m := csrfInput.FindStringSubmatch(rec.Body.String())
	require.NotNil(t, m, rec.Body.String())
	assert.Equal(t, cookie.Value, m[1])

	post := func(form url.Values, cookie *http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"no token":               post(url.Values{"outcome": {"failed"}}, nil),
		"cookie only":            post(url.Values{"outcome": {"failed"}}, cookie),
		"field only":             post(url.Values{"outcome": {"failed"}, "csrf_token": {m[1]}}, nil),
		"field and other cookie": post(url.Values{"outcome": {"failed"}, "csrf_token": {m[1]}}, &http.Cookie{Name: cookie.Name, Value: "other"}),
	} {
		assert.Equal(t, http.StatusForbidden, rec.Code, name)
		assert.Equal(t, "forbidden", decode[httpx.ErrorBody](t, rec).Error.Code, name)
		assert.NotEmpty(t, rec.Header().Get("Content-Security-Policy"), name)
	}
	bodies, _ := stub.Received()
	assert.Empty(t, bodies, "no refused post sent a webhook")

	rec = post(url.Values{"outcome": {"completed"}, "csrf_token": {m[1]}}, cookie)
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	bodies, _ = stub.Received()
	require.Len(t, bodies, 1)
	assert.Equal(t, payment.StatusCompleted, bodies[0].Status)
}

// Paid at the checkout page while the orders service did not answer, the customer saw a
// raw dial error and no button: nothing told the shop again, and at the deadline the
// order was cancelled unpaid (a probe). The page says the payment is recorded, and its
// settled view offers to tell the shop again, which sends the same payment.
func TestTheCheckoutPageCanTellTheShopAgain(t *testing.T) {
	ctx := testContext(t)
	stub := newOrdersStub(http.StatusAccepted)
	orders := httptest.NewUnstartedServer(stub)
	addr := orders.Listener.Addr().String()
	svc, pool := newService(t, payments.Config{OrdersWebhookURL: "http://" + addr + "/webhooks/payment"})
	sess, _, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)
	h := svc.Handler()
	path := "/pay/" + sess.SessionID
	view := func() (*httptest.ResponseRecorder, *http.Cookie, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusOK, rec.Code)
		m := csrfInput.FindStringSubmatch(rec.Body.String())
		require.NotNil(t, m, rec.Body.String())
		return rec, rec.Result().Cookies()[0], m[1]
	}
	post := func(outcome string) *httptest.ResponseRecorder {
		_, cookie, token := view()
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(url.Values{"outcome": {outcome}, "csrf_token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
		return rec
	}

	orders.Listener.Close() // the orders service is down: nothing answers at its address
	rec := post(payment.StatusCompleted)
	notice, err := url.Parse(rec.Header().Get("Location"))
	require.NoError(t, err)
	assert.Regexp(t, `^The payment is recorded, but the shop could not be told \(.*\): tell it again below\.$`, notice.Query().Get("notice"))
	page, _, _ := view()
	assert.Contains(t, page.Body.String(), `<button name="outcome" value="completed" data-testid="notify">`)
	assert.NotContains(t, page.Body.String(), `data-testid="pay"`)

	ln, err := net.Listen("tcp", addr) // back, where it was
	require.NoError(t, err)
	orders.Listener = ln
	orders.Start()
	defer orders.Close()
	post(payment.StatusCompleted)
	bodies, _ := stub.Received()
	require.Len(t, bodies, 1, "the shop is told once it answers")
	assert.Equal(t, payment.StatusCompleted, bodies[0].Status)
}
