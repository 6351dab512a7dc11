package orders_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/orders"
)

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
		{"order=" + fuzzHeldOrder + "&decision=reject&reason=bulk", "order=" + fuzzHeldOrder + "&confirmed=reject&asked=" + fuzzHeldOrder + "&asked-reason=bulk&reason=bulk", "order=&confirmed=approve&asked=", "%zz"},
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
