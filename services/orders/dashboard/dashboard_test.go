package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

const (
	managerEmail    = "alice@example.com"
	managerPassword = "correct horse battery"
)

// dash is an orders service on a fresh database with one manager account, and a browser-
// like client (cookie jar, redirects not followed) talking to it over real HTTP.
type dash struct {
	pool   *pgxpool.Pool
	srv    *httptest.Server
	client *http.Client
}

func newDash(t testing.TB) *dash {
	t.Helper()
	return newDashWith(t, orders.Config{})
}

// newDashWith is newDash with cfg's settings besides its managers and operator.
func newDashWith(t testing.TB, cfg orders.Config) *dash {
	t.Helper()
	pool := pgtest.Pool(t)
	cfg.ManagerTokens, cfg.OperatorToken = map[string]string{"api@example.com": "token"}, orderstest.OperatorToken
	svc := orders.New(pool, slog.New(slog.DiscardHandler), cfg)
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	require.NoError(t, orders.CreateManager(context.Background(), pool, managerEmail, managerPassword))
	return &dash{pool: pool, srv: srv, client: orderstest.Client(t)}
}

type dpage struct {
	status int
	header http.Header
	body   string
	doc    *goquery.Document
}

func (d *dash) request(t testing.TB, c *http.Client, method, path string, form url.Values, header map[string]string) dpage {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, d.srv.URL+path, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	p := dpage{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		p.doc, err = goquery.NewDocumentFromReader(strings.NewReader(p.body))
		require.NoError(t, err)
	}
	return p
}

// signIn signs c in and returns the session's CSRF token, read from a page's form.
func (d *dash) signIn(t testing.TB, c *http.Client, email, password string) (dpage, string) {
	t.Helper()
	form := d.request(t, c, "GET", "/dashboard/signin", nil, nil)
	require.Equal(t, http.StatusOK, form.status)
	token, ok := form.doc.Find(`[data-testid=signin-form] input[name=csrf_token]`).Attr("value")
	require.True(t, ok, "sign-in form carries a CSRF token")
	res := d.request(t, c, "POST", "/dashboard/signin", url.Values{"email": {email}, "password": {password}, "csrf_token": {token}}, nil)
	if res.status != http.StatusSeeOther {
		return res, ""
	}
	overview := d.request(t, c, "GET", "/dashboard", nil, nil)
	require.Equal(t, http.StatusOK, overview.status, overview.body)
	csrf, ok := overview.doc.Find(`form.signout input[name=csrf_token]`).Attr("value")
	require.True(t, ok)
	require.NotEmpty(t, csrf)
	return res, csrf
}

// holdOrder stores an order the risk check held for approval and updates the read models.
func (d *dash) holdOrder(t testing.TB, id, email string) {
	t.Helper()
	orderstest.HoldOrder(t, d.pool, id, email)
}

func (d *dash) decidedBy(t testing.TB, id string) (status, by string) {
	t.Helper()
	p := d.request(t, http.DefaultClient, "GET", "/api/orders/"+id, nil, map[string]string{"Authorization": "Bearer " + orderstest.OperatorToken})
	require.Equal(t, http.StatusOK, p.status, p.body)
	var v struct{ Status, DecidedBy string }
	require.NoError(t, json.Unmarshal([]byte(p.body), &v))
	return v.Status, v.DecidedBy
}

func TestDashboardSignIn(t *testing.T) {
	t.Parallel()
	d := newDash(t)

	t.Run("a page without a session redirects to the sign-in page", func(t *testing.T) {
		p := d.request(t, orderstest.Client(t), "GET", "/dashboard/orders?status=placed", nil, nil)
		assert.Equal(t, http.StatusSeeOther, p.status)
		assert.Equal(t, "/dashboard/signin?next="+url.QueryEscape("/dashboard/orders?status=placed"), p.header.Get("Location"))
	})
	t.Run("a wrong password is refused and starts no session", func(t *testing.T) {
		// Another account than the one signed in below: a failure makes the account
		// wait a second before its next attempt (the sign-in limits), and the test
		// must not depend on how fast it runs.
		const other = "bob@example.com"
		require.NoError(t, orders.CreateManager(context.Background(), d.pool, other, managerPassword))
		c := orderstest.Client(t)
		res, _ := d.signIn(t, c, other, "wrong password")
		assert.Equal(t, http.StatusUnauthorized, res.status)
		assert.Equal(t, "Wrong email or password.", res.doc.Find("[data-testid=signin-error]").Text())
		assert.Equal(t, http.StatusSeeOther, d.request(t, c, "GET", "/dashboard", nil, nil).status, "still signed out")
	})
	t.Run("an unknown email is refused the same way", func(t *testing.T) {
		res, _ := d.signIn(t, orderstest.Client(t), "mallory@example.com", managerPassword)
		assert.Equal(t, http.StatusUnauthorized, res.status)
	})
	t.Run("the sign-in form needs its CSRF token", func(t *testing.T) {
		c := orderstest.Client(t)
		d.request(t, c, "GET", "/dashboard/signin", nil, nil)
		p := d.request(t, c, "POST", "/dashboard/signin", url.Values{"email": {managerEmail}, "password": {managerPassword}, "csrf_token": {"forged"}}, nil)
		assert.Equal(t, http.StatusForbidden, p.status)
		// Not a bare error page: the form again, with the email typed and why.
		assert.Contains(t, p.doc.Find("[data-testid=signin-error]").Text(), "This sign-in form had expired")
		assert.Equal(t, managerEmail, p.doc.Find("[data-testid=signin-email]").AttrOr("value", ""))
		assert.Equal(t, http.StatusSeeOther, d.request(t, c, "GET", "/dashboard", nil, nil).status, "still signed out")
		token := p.doc.Find(`[data-testid=signin-form] input[name=csrf_token]`).AttrOr("value", "")
		p = d.request(t, c, "POST", "/dashboard/signin", url.Values{"email": {managerEmail}, "password": {managerPassword}, "csrf_token": {token}}, nil)
		assert.Equal(t, http.StatusSeeOther, p.status, "the form shown again signs in")
	})
	t.Run("two sign-in pages of one browser both sign in", func(t *testing.T) {
		// Each page minted its own token into the one cookie: the older page was refused.
		c := orderstest.Client(t)
		token := func() string {
			form := d.request(t, c, "GET", "/dashboard/signin", nil, nil)
			return form.doc.Find(`[data-testid=signin-form] input[name=csrf_token]`).AttrOr("value", "")
		}
		older, newer := token(), token()
		assert.Equal(t, older, newer)
		p := d.request(t, c, "POST", "/dashboard/signin", url.Values{"email": {managerEmail}, "password": {managerPassword}, "csrf_token": {older}}, nil)
		assert.Equal(t, http.StatusSeeOther, p.status)
		// A cookie the server did not make is not taken back.
		u, err := url.Parse(d.srv.URL + "/dashboard/")
		require.NoError(t, err)
		fresh := orderstest.Client(t)
		fresh.Jar.SetCookies(u, []*http.Cookie{{Name: "ordermill_signin", Value: "chosen-by-someone-else", Path: "/dashboard"}})
		form := d.request(t, fresh, "GET", "/dashboard/signin", nil, nil)
		assert.NotEqual(t, "chosen-by-someone-else", form.doc.Find(`[data-testid=signin-form] input[name=csrf_token]`).AttrOr("value", ""))
	})
	t.Run("the right password signs in with a safe cookie", func(t *testing.T) {
		c := orderstest.Client(t)
		res, csrf := d.signIn(t, c, "ALICE@example.com", managerPassword)
		assert.Equal(t, "/dashboard", res.header.Get("Location"))
		assert.NotEmpty(t, csrf)
		var session *http.Cookie
		for _, ck := range (&http.Response{Header: res.header}).Cookies() {
			if ck.Name == "ordermill_session" {
				session = ck
			}
		}
		require.NotNil(t, session)
		assert.True(t, session.HttpOnly)
		assert.Equal(t, http.SameSiteLaxMode, session.SameSite)
		assert.Equal(t, "/dashboard", session.Path)
		// Only the token's hash is stored.
		var stored int
		require.NoError(t, d.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM orders.dashboard_sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, session.Value).Scan(&stored))
		assert.Equal(t, 1, stored)
		p := d.request(t, c, "GET", "/dashboard", nil, nil)
		assert.Equal(t, managerEmail, p.doc.Find("[data-testid=signed-in-as]").Text())
		// The CSP forbids inline and foreign scripts.
		assert.Contains(t, p.header.Get("Content-Security-Policy"), "script-src 'self'")
	})
	t.Run("signing out ends the session", func(t *testing.T) {
		c := orderstest.Client(t)
		_, csrf := d.signIn(t, c, managerEmail, managerPassword)
		assert.Equal(t, http.StatusForbidden, d.request(t, c, "POST", "/dashboard/signout", url.Values{}, nil).status, "sign-out needs the token too")
		p := d.request(t, c, "POST", "/dashboard/signout", url.Values{"csrf_token": {csrf}}, nil)
		assert.Equal(t, http.StatusSeeOther, p.status)
		assert.Equal(t, http.StatusSeeOther, d.request(t, c, "GET", "/dashboard", nil, nil).status)
	})
	t.Run("signing in again ends the browser's earlier session", func(t *testing.T) {
		// A sign-in page left open in another tab, submitted while the browser holds a
		// session: the signed-in redirect away from the page does not cover it.
		c := orderstest.Client(t)
		form := d.request(t, c, "GET", "/dashboard/signin", nil, nil)
		token := form.doc.Find(`[data-testid=signin-form] input[name=csrf_token]`).AttrOr("value", "")
		other := orderstest.Client(t)
		d.signIn(t, other, managerEmail, managerPassword)
		u, err := url.Parse(d.srv.URL + "/dashboard/")
		require.NoError(t, err)
		var earlier []*http.Cookie
		for _, ck := range other.Jar.Cookies(u) {
			if ck.Name == "ordermill_session" {
				earlier = append(earlier, &http.Cookie{Name: ck.Name, Value: ck.Value, Path: "/dashboard"})
			}
		}
		require.Len(t, earlier, 1)
		c.Jar.SetCookies(u, earlier)
		require.Equal(t, http.StatusOK, d.request(t, c, "GET", "/dashboard", nil, nil).status, "the earlier session signs c in")
		p := d.request(t, c, "POST", "/dashboard/signin", url.Values{"email": {managerEmail}, "password": {managerPassword}, "csrf_token": {token}}, nil)
		require.Equal(t, http.StatusSeeOther, p.status)
		assert.Equal(t, http.StatusOK, d.request(t, c, "GET", "/dashboard", nil, nil).status, "the new session works")
		assert.Equal(t, http.StatusSeeOther, d.request(t, other, "GET", "/dashboard", nil, nil).status,
			"a copy of the replaced cookie no longer signs anyone in")
	})
}

func TestDashboardDecide(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	c := orderstest.Client(t)
	_, csrf := d.signIn(t, c, managerEmail, managerPassword)
	d.holdOrder(t, "ord-approve", "bob@example.com")
	d.holdOrder(t, "ord-reject", "eve@example.com")

	pending := d.request(t, c, "GET", "/dashboard/approvals", nil, nil)
	require.Equal(t, http.StatusOK, pending.status)
	row := pending.doc.Find(`[data-testid=pending-row][data-order-id=ord-approve]`)
	require.Equal(t, 1, row.Length(), pending.body)
	assert.Equal(t, "85", row.Find("[data-testid=pending-score]").Text())
	assert.Equal(t, "2", pending.doc.Find("[data-testid=nav-pending-count]").Text())

	decide := func(c *http.Client, id string, form url.Values, header map[string]string) dpage {
		return d.request(t, c, "POST", "/dashboard/approvals/"+id+"/decide", form, header)
	}
	htmx := func(token string) map[string]string {
		return map[string]string{"HX-Request": "true", "X-CSRF-Token": token}
	}

	t.Run("without a session the decision is refused", func(t *testing.T) {
		p := decide(orderstest.Client(t), "ord-approve", url.Values{"decision": {"approve"}}, map[string]string{"HX-Request": "true"})
		assert.Equal(t, http.StatusUnauthorized, p.status)
		p = decide(orderstest.Client(t), "ord-approve", url.Values{"decision": {"approve"}}, nil)
		assert.Equal(t, http.StatusUnauthorized, p.status)
		assert.Contains(t, p.body, `"code":"unauthorized"`, "a program gets the API's JSON error")
	})
	t.Run("without the CSRF token or with a wrong one it is forbidden", func(t *testing.T) {
		assert.Equal(t, http.StatusForbidden, decide(c, "ord-approve", url.Values{"decision": {"approve"}}, map[string]string{"HX-Request": "true"}).status)
		assert.Equal(t, http.StatusForbidden, decide(c, "ord-approve", url.Values{"decision": {"approve"}}, htmx("wrong")).status)
		assert.Equal(t, http.StatusForbidden, decide(c, "ord-approve", url.Values{"decision": {"approve"}, "csrf_token": {"wrong"}}, nil).status)
		other := orderstest.Client(t)
		_, otherToken := d.signIn(t, other, managerEmail, managerPassword)
		require.NotEqual(t, csrf, otherToken, "each session has its own token")
		assert.Equal(t, http.StatusForbidden, decide(c, "ord-approve", url.Values{"decision": {"approve"}}, htmx(otherToken)).status)
		status, _ := d.decidedBy(t, "ord-approve")
		assert.Equal(t, "awaiting_approval", status, "nothing was decided")
	})
	t.Run("approving in place records the signed-in manager", func(t *testing.T) {
		p := decide(c, "ord-approve", url.Values{"decision": {"approve"}, "reason": {"called the customer"}}, htmx(csrf))
		require.Equal(t, http.StatusOK, p.status, p.body)
		assert.Contains(t, p.doc.Find("[data-testid=decision-result]").Text(), "Approved")
		assert.Equal(t, 1, p.doc.Find(`[data-testid=decision-log-entry][data-order-id=ord-approve]`).Length())
		status, by := d.decidedBy(t, "ord-approve")
		assert.Equal(t, "reserving_inventory", status)
		assert.Equal(t, managerEmail, by)
	})
	t.Run("a second decision says who decided first", func(t *testing.T) {
		p := decide(c, "ord-approve", url.Values{"decision": {"reject"}, "reason": {"changed my mind"}}, htmx(csrf))
		require.Equal(t, http.StatusOK, p.status)
		assert.Contains(t, p.doc.Find("[data-testid=decide-error]").Text(), "Already decided by "+managerEmail)
	})
	t.Run("a rejection needs a reason", func(t *testing.T) {
		p := decide(c, "ord-reject", url.Values{"decision": {"reject"}}, htmx(csrf))
		assert.Contains(t, p.doc.Find("[data-testid=decide-error]").Text(), "reason")
		assert.Equal(t, 1, p.doc.Find("[data-testid=decide-form]").Length(), "the form is offered again")
		status, _ := d.decidedBy(t, "ord-reject")
		assert.Equal(t, "awaiting_approval", status)
	})
	t.Run("a plain form post hears why nothing was decided", func(t *testing.T) {
		p := decide(c, "ord-reject", url.Values{"decision": {"reject"}, "csrf_token": {csrf}}, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, p.status)
		row := p.doc.Find(`[data-testid=pending-row][data-order-id="ord-reject"]`)
		assert.Equal(t, "Give a reason to reject the order.", row.Find("[data-testid=decide-error]").Text())
		_, focused := row.Find("[data-testid=decide-reason]").Attr("autofocus")
		assert.True(t, focused, "the reason box has the focus")
		p = decide(c, "ord-reject", url.Values{"decision": {"reject"}, "return": {"order"}, "csrf_token": {csrf}}, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, p.status)
		assert.Equal(t, "Give a reason to reject the order.", p.doc.Find("[data-testid=order-live] [data-testid=decide-error]").Text())
		status, _ := d.decidedBy(t, "ord-reject")
		assert.Equal(t, "awaiting_approval", status)
	})
	t.Run("a plain form post with the hidden token works too", func(t *testing.T) {
		p := decide(c, "ord-reject", url.Values{"decision": {"reject"}, "reason": {"stolen card"}, "csrf_token": {csrf}}, nil)
		assert.Equal(t, http.StatusSeeOther, p.status)
		status, by := d.decidedBy(t, "ord-reject")
		assert.Equal(t, "rejected", status)
		assert.Equal(t, managerEmail, by)
		// Sent again (a resubmitted form): the order has no row any more, so the page itself
		// says why nothing was done (found by a probe: a bare list answered 422).
		_, err := projections.Rebuild(context.Background(), d.pool, projections.Options{})
		require.NoError(t, err)
		p = decide(c, "ord-reject", url.Values{"decision": {"reject"}, "reason": {"stolen card"}, "csrf_token": {csrf}}, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, p.status)
		alert := p.doc.Find("[data-testid=alert]")
		assert.Contains(t, alert.Text(), "Not done: Already decided by "+managerEmail)
		_, hidden := alert.Attr("hidden")
		assert.False(t, hidden)
	})
	t.Run("the order page shows the decision and the timeline", func(t *testing.T) {
		_, err := projections.Rebuild(context.Background(), d.pool, projections.Options{})
		require.NoError(t, err)
		p := d.request(t, c, "GET", "/dashboard/orders/ord-reject", nil, nil)
		require.Equal(t, http.StatusOK, p.status)
		assert.Equal(t, "rejected", p.doc.Find("[data-testid=step-approval]").AttrOr("data-state", ""))
		assert.Equal(t, "rejected", p.doc.Find("[data-testid=step-approval] .step-state").Text())
		assert.Equal(t, "by "+managerEmail, p.doc.Find("[data-testid=step-approval] .step-note").Text())
		assert.Equal(t, "not-reached", p.doc.Find("[data-testid=step-payment]").AttrOr("data-state", ""))
		assert.Equal(t, "not reached", p.doc.Find("[data-testid=step-payment] .step-state").Text())
		var actors []string
		p.doc.Find("[data-testid=timeline-actor]").Each(func(_ int, s *goquery.Selection) { actors = append(actors, s.Text()) })
		assert.Contains(t, actors, "manager:"+managerEmail)
		assert.Equal(t, http.StatusNotFound, d.request(t, c, "GET", "/dashboard/orders/nope", nil, nil).status)
	})
}

// The SSE stream needs a session like every other dashboard route.
func TestDashboardEventsNeedASession(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	p := d.request(t, orderstest.Client(t), "GET", "/dashboard/events", nil, map[string]string{"Accept": "text/event-stream"})
	assert.Equal(t, http.StatusUnauthorized, p.status)
}

// A bulk confirmation decides only what was asked about: its button sends the ticks and
// the reason as they are beside what it asked (asked, asked-reason). A probe unticked Q
// and ticked R after the question, and the confirmation rejected P and Q. Now a changed
// tick or reason decides nothing and asks again about what is ticked now.
func TestDashboardBulkConfirmationDecidesWhatIsTicked(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	c := orderstest.Client(t)
	_, csrf := d.signIn(t, c, managerEmail, managerPassword)
	for _, id := range []string{"ord-p", "ord-q", "ord-r"} {
		d.holdOrder(t, id, "eve@example.com")
	}
	hx := map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf}
	bulk := func(form url.Values, header map[string]string) dpage {
		t.Helper()
		p := d.request(t, c, "POST", "/dashboard/approvals/bulk", form, header)
		require.Equal(t, http.StatusOK, p.status, p.body)
		return p
	}
	waiting := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			status, _ := d.decidedBy(t, id)
			assert.Equal(t, "awaiting_approval", status, id)
		}
	}
	asked := func(p dpage) []string {
		return p.doc.Find(`[data-testid=bulk-confirm] input[name=asked]`).Map(func(_ int, s *goquery.Selection) string { return s.AttrOr("value", "") })
	}

	p := bulk(url.Values{"decision": {"reject"}, "reason": {"ring"}, "order": {"ord-p", "ord-q"}}, hx)
	assert.Equal(t, []string{"ord-p", "ord-q"}, asked(p))

	// Q unticked, R ticked: nothing is decided, and the question is about P and R.
	p = bulk(url.Values{"confirmed": {"reject"}, "reason": {"ring"}, "order": {"ord-p", "ord-r"}, "asked": {"ord-p", "ord-q"}, "asked-reason": {"ring"}}, hx)
	assert.Contains(t, p.doc.Find("[data-testid=bulk-changed]").Text(), "nothing was decided")
	assert.Equal(t, []string{"ord-p", "ord-r"}, asked(p))
	waiting("ord-p", "ord-q", "ord-r")

	// The reason changed: asked again, with the new reason.
	p = bulk(url.Values{"confirmed": {"reject"}, "reason": {"ring, again"}, "order": {"ord-p", "ord-r"}, "asked": {"ord-p", "ord-r"}, "asked-reason": {"ring"}}, hx)
	assert.Equal(t, 1, p.doc.Find("[data-testid=bulk-changed]").Length())
	assert.Equal(t, "ring, again", p.doc.Find(`[data-testid=bulk-confirm] input[name=asked-reason]`).AttrOr("value", ""))
	waiting("ord-p", "ord-q", "ord-r")

	// Confirmed as asked (the ticks in another order): P and R are rejected, Q still waits.
	p = bulk(url.Values{"confirmed": {"reject"}, "reason": {"ring"}, "order": {"ord-r", "ord-p"}, "asked": {"ord-p", "ord-r"}, "asked-reason": {"ring"}}, hx)
	assert.Equal(t, "Rejected 2 of 2 orders as "+managerEmail+".", p.doc.Find("[data-testid=bulk-summary]").Text())
	for _, id := range []string{"ord-p", "ord-r"} {
		status, _ := d.decidedBy(t, id)
		assert.Equal(t, "rejected", status, id)
	}
	waiting("ord-q")

	// Without htmx the confirmation is a page whose bulk form holds the ticks; what it
	// sends decides Q.
	p = bulk(url.Values{"decision": {"approve"}, "order": {"ord-q"}, "csrf_token": {csrf}}, nil)
	form := url.Values{}
	p.doc.Find(`#bulk-form input, [form=bulk-form]`).Each(func(_ int, s *goquery.Selection) {
		form.Add(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	assert.Equal(t, url.Values{"csrf_token": {csrf}, "order": {"ord-q"}, "reason": {""}, "asked": {"ord-q"}, "asked-reason": {""}, "confirmed": {"approve"}}, form)
	d.request(t, c, "POST", "/dashboard/approvals/bulk", form, nil)
	status, by := d.decidedBy(t, "ord-q")
	assert.Equal(t, "reserving_inventory", status)
	assert.Equal(t, managerEmail, by)
}

// secondManager creates bob@example.com's account and signs him in: his browser and its
// CSRF token.
func (d *dash) secondManager(t *testing.T) (*http.Client, string) {
	t.Helper()
	require.NoError(t, orders.CreateManager(context.Background(), d.pool, "bob@example.com", managerPassword))
	bob := orderstest.Client(t)
	_, csrf := d.signIn(t, bob, "bob@example.com", managerPassword)
	return bob, csrf
}

// A bulk decision refused for another manager's claim says where to decide the order: on
// its own card. It said to tick "Decide anyway", which the bulk form has not.
func TestDashboardBulkRefusalOfAClaimedOrderSaysWhereToDecideIt(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	d.holdOrder(t, "ord-claimed", "eve@example.com")
	bob, bobCSRF := d.secondManager(t)
	claimed := d.request(t, bob, "POST", "/dashboard/approvals/ord-claimed/claim", url.Values{"action": {"claim"}}, map[string]string{"HX-Request": "true", "X-CSRF-Token": bobCSRF})
	require.Equal(t, http.StatusOK, claimed.status, claimed.body)

	c := orderstest.Client(t)
	_, csrf := d.signIn(t, c, managerEmail, managerPassword)
	p := d.request(t, c, "POST", "/dashboard/approvals/bulk", url.Values{"confirmed": {"reject"}, "reason": {"ring"}, "order": {"ord-claimed"},
		"asked": {"ord-claimed"}, "asked-reason": {"ring"}}, map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf})
	require.Equal(t, http.StatusOK, p.status, p.body)
	refusal := p.doc.Find(`[data-testid=bulk-refused][data-order-id=ord-claimed]`).Text()
	assert.Contains(t, refusal, "bob@example.com is reviewing this order")
	assert.Contains(t, refusal, "decide it on its own card, with \u201cDecide anyway\u201d ticked.")
	status, _ := d.decidedBy(t, "ord-claimed")
	assert.Equal(t, "awaiting_approval", status)
}

// A bulk decision that meets an internal error on one order (its append refused by the
// database) decides the others and says which one it could not. It answered the whole
// form with a 500 page: the orders decided before it were decided, the manager was not
// told, and those after it were not tried.
func TestDashboardBulkDecisionGoesOnPastAnInternalError(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	ids := []string{"ord-bulk-a", "ord-bulk-b", "ord-bulk-c"}
	for _, id := range ids {
		d.holdOrder(t, id, "eve@example.com")
	}
	_, err := d.pool.Exec(context.Background(), `
		CREATE FUNCTION refuse_bulk_b() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'no room for ord-bulk-b'; END $$;
		CREATE TRIGGER refuse_bulk_b BEFORE INSERT ON events
			FOR EACH ROW WHEN (NEW.stream_id LIKE '%ord-bulk-b') EXECUTE FUNCTION refuse_bulk_b()`)
	require.NoError(t, err)

	c := orderstest.Client(t)
	_, csrf := d.signIn(t, c, managerEmail, managerPassword)
	p := d.request(t, c, "POST", "/dashboard/approvals/bulk", url.Values{"confirmed": {"reject"}, "reason": {"ring"}, "order": ids,
		"asked": ids, "asked-reason": {"ring"}}, map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf})
	require.Equal(t, http.StatusOK, p.status, p.body)
	assert.Equal(t, "Rejected 2 of 3 orders as "+managerEmail+". Not decided:", p.doc.Find("[data-testid=bulk-summary]").Text())
	assert.Equal(t, 1, p.doc.Find("[data-testid=bulk-refused]").Length())
	assert.Contains(t, p.doc.Find(`[data-testid=bulk-refused][data-order-id=ord-bulk-b]`).Text(), "an internal error stopped it")
	for id, want := range map[string]string{"ord-bulk-a": "rejected", "ord-bulk-b": "awaiting_approval", "ord-bulk-c": "rejected"} {
		status, _ := d.decidedBy(t, id)
		assert.Equal(t, want, status, id)
	}
}

// A claim box's form names the claim it shows: Claim on a free order takes it only while
// it is free, so the second of two managers claiming at once is told whose it is; "Claim
// instead" takes over the claim shown. Two claims at once were both told they held it.
func TestDashboardClaimFormsNameTheClaimTheyShow(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	d.holdOrder(t, "ord-claimed", "eve@example.com")
	bob, bobCSRF := d.secondManager(t)
	ana := orderstest.Client(t)
	_, anaCSRF := d.signIn(t, ana, managerEmail, managerPassword)
	// formOf is the claim form of the claim box in p, as Claim sends it.
	formOf := func(p dpage) url.Values {
		form := url.Values{}
		p.doc.Find(`[data-testid=claim] form input`).Each(func(_ int, in *goquery.Selection) {
			form.Set(in.AttrOr("name", ""), in.AttrOr("value", ""))
		})
		form.Set("action", "claim")
		return form
	}
	seenFree := formOf(d.request(t, ana, "GET", "/dashboard/orders/ord-claimed", nil, nil))
	assert.Empty(t, seenFree.Get("over"), "a free order's form names no claim")

	claimed := d.request(t, bob, "POST", "/dashboard/approvals/ord-claimed/claim", url.Values{"action": {"claim"}}, map[string]string{"HX-Request": "true", "X-CSRF-Token": bobCSRF})
	require.Equal(t, http.StatusOK, claimed.status, claimed.body)
	late := d.request(t, ana, "POST", "/dashboard/approvals/ord-claimed/claim", seenFree, map[string]string{"HX-Request": "true", "X-CSRF-Token": anaCSRF})
	require.Equal(t, http.StatusOK, late.status, late.body)
	assert.Equal(t, "bob@example.com", late.doc.Find(`[data-testid=claim]`).AttrOr("data-claimed-by", ""), "bob's, as she is told")
	assert.Contains(t, late.doc.Find(`[data-testid=claim-error]`).Text(), "bob@example.com claimed this order first")

	seenBob := formOf(late) // the box she is shown now
	assert.Equal(t, "bob@example.com", seenBob.Get("over"))
	took := d.request(t, ana, "POST", "/dashboard/approvals/ord-claimed/claim", seenBob, map[string]string{"HX-Request": "true", "X-CSRF-Token": anaCSRF})
	require.Equal(t, http.StatusOK, took.status, took.body)
	assert.Equal(t, managerEmail, took.doc.Find(`[data-testid=claim]`).AttrOr("data-claimed-by", ""), "Claim instead takes over the claim shown")
	assert.Empty(t, took.doc.Find(`[data-testid=claim-error]`).Text())
}

// Found by a probe: a mistyped dashboard address (a trailing slash, a form's action
// opened with GET, a page that does not exist) answered a manager's browser with the
// API's JSON. A browser now gets the dashboard's error page with the same status (a 405
// still says which methods are allowed); a program still gets the JSON.
func TestDashboardAnswersAMistypedAddressWithItsErrorPage(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	c := orderstest.Client(t)
	d.signIn(t, c, managerEmail, managerPassword)
	browser := map[string]string{"Accept": "text/html,application/xhtml+xml"}
	for path, status := range map[string]int{
		"/dashboard/nothing":             http.StatusNotFound,
		"/dashboard/orders/ord-1/":       http.StatusNotFound,
		"/dashboard/approvals/ord-1":     http.StatusNotFound,
		"/dashboard/tickets/59":          http.StatusMethodNotAllowed,
		"/dashboard/orders/ord-1/notes":  http.StatusMethodNotAllowed,
		"/dashboard/approvals/bulk":      http.StatusMethodNotAllowed,
		"/dashboard/orders/ord-1/./more": http.StatusNotFound,
	} {
		p := d.request(t, c, "GET", path, nil, browser)
		assert.Equal(t, status, p.status, path)
		if assert.NotNil(t, p.doc, "%s: an HTML page, got %s", path, p.body) {
			assert.NotEmpty(t, p.doc.Find(`[data-testid=error-message]`).Text(), path)
			assert.Equal(t, "/dashboard", p.doc.Find(`a[href="/dashboard"]`).AttrOr("href", ""), path)
		}
		assert.NotEmpty(t, p.header.Get("Content-Security-Policy"), path)
		if status == http.StatusMethodNotAllowed {
			assert.Equal(t, "POST", p.header.Get("Allow"), path)
		}
		api := d.request(t, c, "GET", path, nil, nil)
		assert.Equal(t, status, api.status, path)
		assert.True(t, strings.HasPrefix(api.header.Get("Content-Type"), "application/json"), "%s: %s", path, api.header.Get("Content-Type"))
	}
	// Outside the dashboard, a browser still gets the API's JSON.
	api := d.request(t, c, "GET", "/api/nothing", nil, browser)
	assert.Equal(t, http.StatusNotFound, api.status)
	assert.True(t, strings.HasPrefix(api.header.Get("Content-Type"), "application/json"))
}

// Found by a probe: with two sign-in forms open (two tabs, after a session ended), signing
// in on one refused the other as expired, although its manager was signed in by then. It
// now goes where it would have gone; another manager's form is still refused.
func TestDashboardSignInFormOfASignedInManagerLetsThemIn(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	require.NoError(t, orders.CreateManager(context.Background(), d.pool, "bob@example.com", "bob's password"))
	c := orderstest.Client(t)
	token := func() string {
		form := d.request(t, c, "GET", "/dashboard/signin?next=%2Fdashboard%2Ftickets", nil, nil)
		require.Equal(t, http.StatusOK, form.status)
		return form.doc.Find(`[data-testid=signin-form] input[name=csrf_token]`).AttrOr("value", "")
	}
	first, second := token(), token()
	in := d.request(t, c, "POST", "/dashboard/signin", url.Values{"email": {managerEmail}, "password": {managerPassword}, "csrf_token": {second}, "next": {"/dashboard/tickets"}}, nil)
	require.Equal(t, http.StatusSeeOther, in.status, in.body)

	other := d.request(t, c, "POST", "/dashboard/signin", url.Values{"email": {"bob@example.com"}, "password": {"bob's password"}, "csrf_token": {first}, "next": {"/dashboard/tickets"}}, nil)
	assert.Equal(t, http.StatusForbidden, other.status, "another manager's expired form is refused")
	again := d.request(t, c, "POST", "/dashboard/signin", url.Values{"email": {" ALICE@example.com"}, "password": {managerPassword}, "csrf_token": {first}, "next": {"/dashboard/tickets"}}, nil)
	assert.Equal(t, http.StatusSeeOther, again.status, again.body)
	assert.Equal(t, "/dashboard/tickets", again.header.Get("Location"))
	assert.Equal(t, http.StatusOK, d.request(t, c, "GET", "/dashboard/tickets", nil, nil).status, "still signed in")
}
