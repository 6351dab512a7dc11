package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/ui"
)

// chromiumPath is Debian's Chromium, which `make test` installs when it is missing.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir receives the main pages as PNG test artifacts (git-ignored).
var screenshotDir = filepath.Join("..", "..", "artifacts", "screenshots")

// browser starts a headless Chromium with a fresh profile for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("%s not found: run `make chromium` (make test does it) or apt-get install chromium", chromiumPath)
	}
	if missing := ui.MissingVendorFiles(); len(missing) > 0 {
		t.Fatalf("the dashboard was built without %v: run `make assets` (make test does it)", missing)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Two managers are two tabs of one browser, and a test waits on the page that is
		// not in front: Chromium throttles a background page's timers (htmx settles a
		// swap 20 ms after it with one) and lowers its renderer's priority.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx)) // start the browser on the long-lived context
	return ctx
}

// tab opens another browser context (its own cookies): a second manager's window.
func tab(t *testing.T, browserCtx context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx))
	return ctx
}

// do runs browser steps with a bound, so a missing element fails the test instead of
// hanging it; a failure logs the page as it was (noStepError), to tell what it showed
// instead.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	noStepError(t, ctx, chromedp.Do(c, steps...))
}

// noStepError fails the test on a browser step's error, logging the page as it was.
func noStepError(t *testing.T, ctx context.Context, err error) {
	t.Helper()
	if err != nil {
		t.Logf("the page when the step failed:\n%s", pageNow(ctx))
		require.NoError(t, err)
	}
}

// pageNow is the page's address and its body's HTML (the first 32 KB), or why they could
// not be read.
func pageNow(ctx context.Context) string {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	page, err := chromedp.Run(c, chromedp.Evaluate[string](`location.href + "\n" + document.body.outerHTML`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	const limit = 32 << 10
	if len(page) > limit {
		page = page[:limit] + "…"
	}
	return page
}

func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	noStepError(t, ctx, err)
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := get(t, ctx, chromedp.FullScreenshot(100))
	require.NoError(t, os.MkdirAll(screenshotDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644))
}

func signIn(t *testing.T, ctx context.Context, base, email, password string) {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(base+"/dashboard/approvals"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=signin-email]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=signin-email]`), email),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=signin-password]`), password),
		chromedp.Click(chromedp.CSS(`[data-testid=signin-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=pending-summary]`)),
	)
}

func pendingRow(id string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`[data-testid=pending-row][data-order-id=%q]`, id))
}

// taken is a selector suffix that matches only what htmx has taken over. htmx marks the
// nodes it swaps in with htmx-added and wires their forms up in its settle step, 20 ms
// later; a click in between submits the form without htmx, as a plain post.
const taken = `:not(.htmx-added, .htmx-added *)`

// readyRow is order id's pending row once its buttons answer through htmx.
func readyRow(id string) chromedp.CSS {
	return pendingRow(id) + taken
}

// The manager's day in a real browser: sign in, watch a risky order arrive without
// reloading, approve one and reject another in place, see a colleague's decision take a
// row off the list, and be refused without a session or with a forged CSRF token.
func TestDashboardInABrowser(t *testing.T) {
	s := start(t, options{workflow: defaultOptions().workflow, devMode: true})
	ctx := context.Background()
	require.NoError(t, orders.CreateManager(ctx, s.db, "alice@example.com", "alice-password"))
	require.NoError(t, orders.CreateManager(ctx, s.db, "bob@example.com", "bob-password"))

	alice := browser(t)
	signIn(t, alice, s.orders, "alice@example.com", "alice-password")
	assert.Equal(t, "alice@example.com", textOf(t, alice, chromedp.CSS(`[data-testid=signed-in-as]`)))
	// A page reload would drop this mark: it proves rows arrive live.
	get(t, alice, chromedp.Evaluate[bool](`window.__noReload = true`))

	// A high-risk order appears without a reload.
	first := s.placeOrder(t, `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"newCustomer":true}`)
	do(t, alice, chromedp.WaitVisible(readyRow(first)))
	score := textOf(t, alice, chromedp.CSS(fmt.Sprintf(`[data-order-id=%q] [data-testid=pending-score]`, first)))
	assert.Equal(t, "85", score, "10 base + 50 amount + 25 new customer")
	assert.True(t, get(t, alice, chromedp.Evaluate[bool](`window.__noReload === true`)), "the page was not reloaded")
	assert.Equal(t, "1", textOf(t, alice, chromedp.CSS(`[data-testid=nav-pending-count]`)))
	screenshot(t, alice, "pending")

	// Approve it in place.
	do(t, alice,
		chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`[data-order-id=%q] [data-testid=decide-reason]`, first)), "verified by phone"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-order-id=%q] [data-testid=approve-button]`, first))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log-entry][data-order-id=%q]`, first))),
		chromedp.WaitNotPresent(pendingRow(first)),
	)
	o := s.waitStatus(t, first, "awaiting_payment")
	assert.Equal(t, "alice@example.com", o.DecidedBy)
	assert.Equal(t, "verified by phone", o.DecisionReason)
	assert.True(t, get(t, alice, chromedp.Evaluate[bool](`window.__noReload === true`)), "decided without a reload")

	// The order page shows where it stands.
	do(t, alice,
		chromedp.Navigate(s.orders+"/dashboard/orders/"+first),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=workflow]`)),
	)
	assert.Equal(t, "awaiting_payment", get(t, alice, chromedp.AttributeValue(chromedp.CSS(`[data-testid=order-head] [data-testid=status-badge]`), "data-status")).Value)
	assert.Equal(t, "current", get(t, alice, chromedp.AttributeValue(chromedp.CSS(`[data-testid=step-payment]`), "data-state")).Value)
	assert.Equal(t, "done", get(t, alice, chromedp.AttributeValue(chromedp.CSS(`[data-testid=step-approval]`), "data-state")).Value)
	assert.Contains(t, textOf(t, alice, chromedp.CSS(`[data-testid=timeline]`)), "Approved by alice@example.com: verified by phone")

	// The dev simulator marks it paid with a signed webhook; the order moves on. (Only a
	// payment of the order's recorded session pays it, so the customer pays once it is.)
	_, err := s.recordedSession(t.Context(), first)
	require.NoError(t, err)
	do(t, alice, chromedp.WaitVisible(chromedp.CSS(`[data-testid=simulate-pay]`)))
	// The live stream may replace the button (the saga's last events before the payment
	// wait arrive) between the browser finding it and clicking it ("Could not find node
	// with given id"); the page's own script finds and clicks it in one step.
	assert.True(t, get(t, alice, chromedp.Evaluate[bool](`(document.querySelector('[data-testid=simulate-pay]').click(), true)`)))
	do(t, alice, chromedp.WaitVisible(chromedp.CSS(`[data-testid=flash]`)))
	s.waitStatus(t, first, "awaiting_delivery")
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/orders/"+first), chromedp.WaitVisible(chromedp.CSS(`[data-testid=step-delivery][data-state=current]`)))
	screenshot(t, alice, "order-detail")

	// Bob signs in in his own window; both see the next order.
	bob := tab(t, alice)
	signIn(t, bob, s.orders, "bob@example.com", "bob-password")
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/approvals"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=pending-summary]`)))
	second := s.placeOrder(t, `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"newCustomer":true,"customerEmail":"mallory@example.com"}`)
	third := s.placeOrder(t, `{"items":[{"sku":"SKU-028","quantity":75}],"total":9000,"newCustomer":true,"customerEmail":"carol@example.com"}`)
	do(t, alice, chromedp.WaitVisible(readyRow(second)), chromedp.WaitVisible(readyRow(third)))
	do(t, bob, chromedp.WaitVisible(readyRow(second)), chromedp.WaitVisible(readyRow(third)))

	// Alice types a reason into the third row while Bob rejects the second: the second
	// leaves Alice's list, and what she typed survives the live update.
	do(t, alice, chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`[data-order-id=%q] [data-testid=decide-reason]`, third)), "half-typed"))
	do(t, bob,
		chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`[data-order-id=%q] [data-testid=decide-reason]`, second)), "card reported stolen"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-order-id=%q] [data-testid=reject-button]`, second))),
		chromedp.WaitNotPresent(pendingRow(second)),
	)
	do(t, alice, chromedp.WaitNotPresent(pendingRow(second)))
	o = s.waitStatus(t, second, "rejected")
	assert.Equal(t, "bob@example.com", o.DecidedBy)
	assert.Equal(t, "half-typed", get(t, alice, chromedp.Value(chromedp.CSS(fmt.Sprintf(`[data-order-id=%q] [data-testid=decide-reason]`, third)))))

	// Without a session, or with a forged CSRF token, a decision is refused.
	status := s.call(t, "POST", s.orders+"/dashboard/approvals/"+third+"/decide", "decision=approve", http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Hx-Request": {"true"},
	}, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	forged := get(t, alice, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"X-CSRF-Token": "forged", "HX-Request": "true"},
		body: new URLSearchParams({decision: "approve"})}).then(r => r.status)`, "/dashboard/approvals/"+third+"/decide"), chromedp.EvalAwaitPromise))
	assert.Equal(t, http.StatusForbidden, forged)
	missing := get(t, alice, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q, {method: "POST", body: new URLSearchParams({decision: "approve"})}).then(r => r.status)`,
		"/dashboard/approvals/"+third+"/decide"), chromedp.EvalAwaitPromise))
	assert.Equal(t, http.StatusForbidden, missing)
	assert.Equal(t, "awaiting_approval", s.order(t, third).Status, "the refused requests changed nothing")
	do(t, alice, chromedp.WaitVisible(readyRow(third)))

	// The other pages render and are captured for a look.
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=chart-per-hour]`)))
	assert.Equal(t, "3", textOf(t, alice, chromedp.CSS(`[data-testid=count-total] .n`)))
	screenshot(t, alice, "overview")
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/orders"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=orders-table]`)))
	screenshot(t, alice, "orders")
	do(t, alice,
		chromedp.Navigate(s.orders+"/dashboard/orders?q="+url.QueryEscape("MALLORY@")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid=order-row][data-order-id=%q]`, second))),
	)
	rows := get(t, alice, chromedp.Nodes(chromedp.CSSAll(`[data-testid=order-row]`)))
	assert.Len(t, rows, 1, "the search finds only mallory's order")
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/tickets"), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/dead-letters"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=dead-letters]`)))

	// On a phone-sized screen the pending list still reads top to bottom.
	do(t, alice,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(s.orders+"/dashboard/approvals"),
		chromedp.WaitVisible(readyRow(third)),
	)
	screenshot(t, alice, "pending-phone")
	assert.False(t, strings.Contains(get(t, alice, chromedp.Location()), "signin"))
}
