package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/ordersclient"
)

// limitedOrder takes all five units of the scarce SKU.
const limitedOrder = `{"items":[{"sku":"SKU-LIMITED","quantity":5}],"total":100,"customerEmail":"vic@example.com"}`

// unauthorized sends a request and requires a 401 with the JSON error body.
func (s *system) unauthorized(t *testing.T, method, url string, body any, header http.Header) {
	t.Helper()
	var e errorBody
	code := s.call(t, method, url, body, header, &e)
	require.Equal(t, http.StatusUnauthorized, code, "%s %s: %+v", method, url, e)
	require.Equal(t, "unauthorized", e.Error.Code, "%s %s", method, url)
	require.NotEmpty(t, e.Error.Message, "%s %s", method, url)
}

// session waits for the order's payment session and returns its id, asking as the orders
// service does.
func (s *system) session(t *testing.T, orderID string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sess struct{ SessionID string }
		if s.call(t, "GET", s.payments+"/api/payments/sessions/"+orderID, nil, bearer(ordersServiceToken), &sess) == http.StatusOK {
			return sess.SessionID
		}
		require.True(t, time.Now().Before(deadline), "order %s never got a payment session", orderID)
		time.Sleep(20 * time.Millisecond)
	}
}

// Finding 1 of issue 8: the payments, warehouse and delivery procedures answered anyone.
// Each now wants the calling service's bearer token; without it, with a wrong one or with
// a token meant for something else (a manager's), it answers 401 and changes nothing.
func TestInternalProceduresRefuseCallersWithoutTheServiceToken(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	// Once the order records its payment session the workflow rests until a webhook:
	// nothing writes any more on its own.
	s.waitPaymentURL(t, id)
	before := s.storedRows(t)
	stockBefore := s.stock(t, "SKU-001")

	procedures := []struct {
		name, method, url string
		body              any
	}{
		{"payments: read a session", "GET", s.payments + "/api/payments/sessions/" + id, nil},
		{"payments.process (simulator)", "POST", s.payments + "/api/payments/process", fmt.Sprintf(`{"orderId":%q,"outcome":"completed"}`, id)},
		{"inventory.check-availability", "POST", s.warehouse + "/api/inventory/check-availability", `{"lines":[{"sku":"SKU-001","quantity":1}]}`},
		{"inventory.reserve", "POST", s.warehouse + "/api/inventory/reserve", `{"orderId":"o-1","lines":[{"sku":"SKU-001","quantity":1}]}`},
		{"inventory.release", "POST", s.warehouse + "/api/inventory/release", fmt.Sprintf(`{"orderId":%q,"reason":"x"}`, id)},
		{"warehouse: read a reservation", "GET", s.warehouse + "/api/inventory/reservations/" + id, nil},
		{"delivery.create-shipment", "POST", s.delivery + "/api/shipments", `{"orderId":"o-1","lines":[{"sku":"SKU-001","quantity":1}]}`},
		{"delivery.get-status", "GET", s.delivery + "/api/shipments/" + id, nil},
		{"courier simulator", "POST", s.delivery + "/api/shipments/" + id + "/simulate", `{"status":"delivered"}`},
	}
	credentials := map[string]http.Header{
		"no credential":              nil,
		"a wrong token":              bearer("not-the-token"),
		"a manager's token":          bearer(managerToken),
		"the token, not as a bearer": {"Authorization": {ordersServiceToken}},
		"an empty bearer":            {"Authorization": {"Bearer "}},
	}
	for _, p := range procedures {
		for what, header := range credentials {
			t.Run(p.name+" with "+what, func(t *testing.T) {
				s.unauthorized(t, p.method, p.url, p.body, header)
			})
		}
	}
	assert.Equal(t, before, s.storedRows(t), "a refused call stores nothing")
	assert.Equal(t, stockBefore, s.stock(t, "SKU-001"), "GET /api/inventory stays public, and nothing moved")
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status, "nobody paid")

	// The orders service's token opens them: the refusals above were for the credential.
	var res struct{ Available bool }
	require.Equal(t, http.StatusOK, s.call(t, "POST", s.warehouse+"/api/inventory/check-availability",
		`{"lines":[{"sku":"SKU-001","quantity":1}]}`, bearer(ordersServiceToken), &res))
	assert.True(t, res.Available)
}

// Finding 1 of issue 8: outside dev mode the provider and courier simulators, and the
// checkout page that drives the payment simulator, do not exist, whatever the credential.
func TestSimulatorsExistOnlyInDevMode(t *testing.T) {
	opt := defaultOptions()
	opt.noSimulators = true
	s := start(t, opt)
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	sess := s.session(t, id)
	// Paid by the provider's signed webhook, so the order has a shipment a courier could move.
	body, header := s.signedProviderPayment(t, id, "evt_paid", "completed", "pi_1")
	require.Equal(t, http.StatusAccepted, s.postPayment(t, body, header).StatusCode())
	s.waitStatus(t, id, "awaiting_delivery")

	for _, r := range []struct {
		method, url string
		body        any
		header      http.Header
	}{
		{"POST", s.payments + "/api/payments/process", fmt.Sprintf(`{"orderId":%q,"outcome":"completed"}`, id), bearer(ordersServiceToken)},
		{"POST", s.delivery + "/api/shipments/" + id + "/simulate", `{"status":"delivered"}`, bearer(ordersServiceToken)},
		{"GET", s.payments + "/pay/" + sess, nil, nil},
		{"POST", s.payments + "/pay/" + sess, "outcome=failed", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}},
	} {
		assert.Equal(t, http.StatusNotFound, s.call(t, r.method, r.url, r.body, r.header, nil), "%s %s", r.method, r.url)
	}
	assert.Equal(t, "awaiting_delivery", s.order(t, id).Status)
}

// browserClient keeps cookies and does not follow redirects, like a browser whose steps a
// test inspects one by one.
func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// formPage is an HTML page with the response's headers.
type formPage struct {
	status int
	header http.Header
	body   string
}

func fetch(t *testing.T, c *http.Client, method, target string, form url.Values) formPage {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return formPage{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

var csrfField = regexp.MustCompile(`name="csrf_token"[^>]*value="([^"]+)"`)

// csrfToken reads the first form's CSRF token from a page.
func (p formPage) csrfToken(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	require.NotNil(t, m, "the page has a form with a CSRF token: %s", p.body)
	return m[1]
}

// Findings 1 and 15 of issue 8: the checkout page (dev mode only) took a POST from any
// site, with no token, and had no CSP. A POST now needs the token its page set (double
// submit: the form's field must match the page's cookie), and the page allows no script,
// no framing and form posts only to itself.
func TestCheckoutPageIsProtectedLikeAnyForm(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	sess := s.session(t, id)
	page := s.payments + "/pay/" + sess

	// Another site's form posts without the page's cookie or token.
	attacker := browserClient(t)
	assert.Equal(t, http.StatusForbidden, fetch(t, attacker, "POST", page, url.Values{"outcome": {"failed"}}).status)
	assert.Equal(t, http.StatusForbidden, fetch(t, attacker, "POST", page, url.Values{"outcome": {"failed"}, "csrf_token": {"guess"}}).status)
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status, "the refused posts changed nothing")

	customer := browserClient(t)
	p := fetch(t, customer, "GET", page, nil)
	require.Equal(t, http.StatusOK, p.status)
	csp := p.header.Get("Content-Security-Policy")
	for _, directive := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		assert.Contains(t, csp, directive)
	}
	assert.Equal(t, "nosniff", p.header.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-referrer", p.header.Get("Referrer-Policy"), "the session id in the URL stays on this page")
	token := p.csrfToken(t)

	// The cookie alone (a cross-site post from the customer's own browser) is not enough,
	// nor is the token without the cookie.
	assert.Equal(t, http.StatusForbidden, fetch(t, customer, "POST", page, url.Values{"outcome": {"failed"}}).status)
	assert.Equal(t, http.StatusForbidden, fetch(t, attacker, "POST", page, url.Values{"outcome": {"failed"}, "csrf_token": {token}}).status)
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status)

	paid := fetch(t, customer, "POST", page, url.Values{"outcome": {"completed"}, "csrf_token": {token}})
	require.Equal(t, http.StatusSeeOther, paid.status, paid.body)
	s.waitStatus(t, id, "awaiting_delivery")
}

// Finding 2 of issue 8: anyone could release a waiting order's stock, and a second order
// then took the same units. The release procedure now wants the orders service's token:
// the attack is refused, the victim's units stay held, the next order for them is turned
// away, and the victim's order completes with the units it paid for.
func TestNobodyReleasesAnotherOrdersStock(t *testing.T) {
	s := start(t, defaultOptions())
	victim := s.placeOrder(t, limitedOrder)
	s.waitStatus(t, victim, "awaiting_payment")
	held := stock{SKU: "SKU-LIMITED", Available: 0, Reserved: 5}
	require.Equal(t, held, s.stock(t, "SKU-LIMITED"))

	release := fmt.Sprintf(`{"orderId":%q,"reason":"customer asked"}`, victim)
	s.unauthorized(t, "POST", s.warehouse+"/api/inventory/release", release, nil)
	s.unauthorized(t, "POST", s.warehouse+"/api/inventory/release", release, bearer(managerToken))
	assert.Equal(t, held, s.stock(t, "SKU-LIMITED"), "the refused release gave nothing back")

	second := s.placeOrder(t, limitedOrder)
	s.waitCancelled(t, second)
	assert.Equal(t, "out_of_stock", s.order(t, second).CancelReason)
	assert.Equal(t, held, s.stock(t, "SKU-LIMITED"), "the second order took none of the victim's units")

	s.pay(t, victim, "completed")
	s.waitStatus(t, victim, "awaiting_delivery")
	s.courier(t, victim, "delivered")
	s.waitStatus(t, victim, "completed")
	assert.Equal(t, held, s.stock(t, "SKU-LIMITED"), "five units sold, once")
}

// Finding 2 of issue 8: a release, however often and by whichever path it arrives (the
// workflow's compensation on the log, the procedure called again and again at once),
// gives an order's units back once, and stock never goes above what there was.
func TestAReleaseGivesStockBackOnce(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, limitedOrder)
	s.waitStatus(t, id, "awaiting_payment")

	release := fmt.Sprintf(`{"orderId":%q,"reason":"payment failed"}`, id)
	type result struct {
		released bool
		err      error
	}
	results := make(chan result, 8)
	for range cap(results) {
		go func() {
			var res struct{ Released bool }
			code, err := s.request(t.Context(), "POST", s.warehouse+"/api/inventory/release", release, bearer(ordersServiceToken), &res)
			results <- result{code == http.StatusOK && res.Released, err}
		}()
	}
	// The workflow's own release, on the log: from the payment failing, or, when a
	// procedure call's release came first, from the cancellation that release brings
	// about, which expires the session and so refuses the payment (a 409).
	s.session(t, id)
	code := s.call(t, "POST", s.payments+"/api/payments/process", map[string]string{"orderId": id, "outcome": "failed"}, bearer(ordersServiceToken), nil)
	require.Contains(t, []int{http.StatusOK, http.StatusConflict}, code)
	released := 0
	for range cap(results) {
		r := <-results
		require.NoError(t, r.err)
		if r.released {
			released++
		}
	}
	s.waitStatus(t, id, "cancelled")
	s.waitStock(t, "SKU-LIMITED", stock{SKU: "SKU-LIMITED", Available: 5, Reserved: 0})
	assert.LessOrEqual(t, released, 1, "at most one procedure call gave the units back")

	releases := func() (n int) {
		require.NoError(t, s.db.QueryRow(context.Background(),
			`SELECT count(*) FROM events WHERE stream_id = $1 AND event_name = $2`, inventory.StreamID(id), inventory.ReleasedName).Scan(&n))
		return n
	}
	assert.Equal(t, 1, releases(), "one release recorded")
	// A late duplicate would come from the log: once the workflow and the warehouse have
	// handled every message, none is left to come.
	s.waitLag(t, "orders", s.orders)
	s.waitLag(t, "warehouse", s.warehouse)
	assert.Equal(t, stock{SKU: "SKU-LIMITED", Available: 5, Reserved: 0}, s.stock(t, "SKU-LIMITED"))
	assert.Equal(t, 1, releases(), "still one release recorded")
}

// The release procedure gave a live order's stock back while the order went on as if it
// held it, and the units were sold again. Now the workflow hears of it: an order still
// waiting for its payment is cancelled (nothing is sold without its stock), and a paid
// one gets a stock_released ticket for a person.
func TestStockReleasedOutsideTheWorkflowStopsTheOrder(t *testing.T) {
	s := start(t, defaultOptions())
	release := func(id string) {
		var res struct{ Released bool }
		require.Equal(t, http.StatusOK, s.call(t, "POST", s.warehouse+"/api/inventory/release", fmt.Sprintf(`{"orderId":%q,"reason":"operator"}`, id), bearer(ordersServiceToken), &res))
		require.True(t, res.Released)
	}
	waiting := s.placeOrder(t, limitedOrder)
	s.waitStatus(t, waiting, "awaiting_payment")
	release(waiting)
	o := s.waitStatus(t, waiting, "cancelled")
	assert.Equal(t, "stock_not_held", o.CancelReason, "released, not out of stock")
	email, timeline := s.cancellationWords(t, waiting)
	assert.Contains(t, email, "was cancelled: the items reserved for it were released before it was paid.")
	assert.Contains(t, timeline, "Cancelled (stock not held): its reservation ")
	s.waitStock(t, "SKU-LIMITED", stock{SKU: "SKU-LIMITED", Available: 5, Reserved: 0})

	paid := s.placeOrder(t, limitedOrder)
	s.waitStatus(t, paid, "awaiting_payment")
	s.pay(t, paid, "completed")
	s.waitStatus(t, paid, "awaiting_delivery")
	release(paid)
	s.waitTicket(t, paid, "stock_released")
	assert.Equal(t, "awaiting_delivery", s.order(t, paid).Status, "a person settles a paid order")
	s.verifyRebuild(t)
}

// Finding 13 of issue 8: X-Manager let an API approval name any decider. The decider is
// now the manager the bearer token belongs to; X-Manager is ignored.
func TestAnApprovalIsDecidedByTheTokensManager(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")

	reason := "known customer"
	res, err := s.api.ApproveOrderWithResponse(t.Context(), ordersclient.ApproveOrderJSONRequestBody{OrderId: id, Approved: true, Reason: &reason},
		ordersclient.WithHeaders(http.Header{"Authorization": {"Bearer " + managerToken}, "X-Manager": {"mallory@example.com"}}))
	require.NoError(t, err)
	require.NotNil(t, res.JSON200, "status %d: %s", res.StatusCode(), res.Body)
	assert.Equal(t, apiManager, res.JSON200.DecidedBy)
	assert.Equal(t, apiManager, s.waitStatus(t, id, "awaiting_payment").DecidedBy)

	var actor string
	require.NoError(t, s.db.QueryRow(context.Background(),
		`SELECT metadata->>'actor' FROM events WHERE stream_id = $1 AND event_name LIKE 'order.approved%'`, id).Scan(&actor))
	assert.Equal(t, "manager:"+apiManager, actor)
}

// Finding 1 of issue 8: the dashboard's dev-mode simulator buttons call the simulators,
// which now want a service token; the orders service presents its own.
func TestDashboardSimulatorButtonsPresentTheServiceToken(t *testing.T) {
	opt := defaultOptions()
	opt.devMode = true
	s := start(t, opt)
	require.NoError(t, orders.CreateManager(context.Background(), s.db, "alice@example.com", "alice-long-password"))
	id := s.placeOrder(t, lowRisk)
	_, err := s.recordedSession(t.Context(), id) // only a payment of the recorded session pays the order
	require.NoError(t, err)

	alice := browserClient(t)
	signin := fetch(t, alice, "GET", s.orders+"/dashboard/signin", nil)
	require.Equal(t, http.StatusOK, signin.status)
	res := fetch(t, alice, "POST", s.orders+"/dashboard/signin", url.Values{
		"email": {"alice@example.com"}, "password": {"alice-long-password"}, "csrf_token": {signin.csrfToken(t)}})
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	orderPage := fetch(t, alice, "GET", s.orders+"/dashboard/orders/"+id, nil)
	require.Equal(t, http.StatusOK, orderPage.status)
	csrf := orderPage.csrfToken(t)

	for _, step := range []struct{ action, status string }{{"pay", "awaiting_delivery"}, {"delivered", "completed"}} {
		if step.action == "delivered" {
			// The courier needs the shipment the workflow books after payment.
			s.waitStatus(t, id, "awaiting_delivery")
		}
		clicked := fetch(t, alice, "POST", s.orders+"/dashboard/orders/"+id+"/simulate", url.Values{"action": {step.action}, "csrf_token": {csrf}})
		require.Equal(t, http.StatusSeeOther, clicked.status, clicked.body)
		assert.Equal(t, "/dashboard/orders/"+id+"?simulated="+step.action, clicked.header.Get("Location"))
		s.waitStatus(t, id, step.status)
	}
}
