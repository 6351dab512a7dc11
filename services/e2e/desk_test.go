package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/orders"
)

// riskyOrder is a body the risk check holds: 10 base + 50 amount + 25 new customer = 85.
const riskyOrder = `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"newCustomer":true,"customerEmail":"mallory@example.com"}`

// in selects sel inside the pending row of order id, once htmx has taken it over.
func in(id, sel string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`[data-testid=pending-row][data-order-id=%q] %s`, id, sel)) + taken
}

// textOf reads the visible text of the first element sel matches, once there is one. It
// finds and reads the element in one evaluation in the page: chromedp.Text does the two in
// separate round trips and fails ("No node with given id found") when a live update
// replaces the element between them.
func textOf(t *testing.T, ctx context.Context, sel chromedp.CSS) string {
	t.Helper()
	return get(t, ctx, chromedp.Poll[struct{ Text string }](
		fmt.Sprintf(`(e => e && {Text: e.innerText})(document.querySelector(%q))`, string(sel)),
		chromedp.WithPollingMutation())).Text
}

// until waits, without sleeping, until the page's expression is true: it is evaluated
// again on every change of the DOM.
func until(expression string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expression, chromedp.WithPollingMutation())
}

// consoleErrors collects the errors and uncaught exceptions a tab reports, from now on.
func consoleErrors(t *testing.T, ctx context.Context) func() []string {
	t.Helper()
	var mu sync.Mutex
	var out []string
	listen, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go func() {
		for m, err := range chromedp.Console(listen) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				out = append(out, m.String())
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), out...)
	}
}

// watch runs steps on an order page like do, and on failure says what the page and
// the API showed, to tell a slow machine from a page that stopped following.
func watch(t *testing.T, s *system, id string, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`[data-testid=order-version]`)))
		sse, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ' ' + document.body.getAttribute('sse-connect') + ' ' + (document.querySelector('[data-testid=flash]') || {}).textContent`))
		t.Fatalf("%v; the order is %s; the page shows %s (stream %s)", err, s.order(t, id).Status, html, sse)
	}
}

// deskManagers starts a system in dev mode with two managers, and signs Alice in.
func deskManagers(t *testing.T) (*system, context.Context) {
	t.Helper()
	s := start(t, options{workflow: defaultOptions().workflow, devMode: true})
	require.NoError(t, orders.CreateManager(context.Background(), s.db, "alice@example.com", "alice-password"))
	require.NoError(t, orders.CreateManager(context.Background(), s.db, "bob@example.com", "bob-password"))
	alice := browser(t)
	signIn(t, alice, s.orders, "alice@example.com", "alice-password")
	return s, alice
}

// Bug 1 of issue 12: Enter in the reason box submitted the form with its first button,
// Approve. Enter now rejects with the typed reason, and asks for one when there is none.
func TestDeskEnterNeverApproves(t *testing.T) {
	s, alice := deskManagers(t)
	first := s.placeOrder(t, riskyOrder)
	second := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(readyRow(first)), chromedp.WaitVisible(readyRow(second)))

	do(t, alice,
		chromedp.SendKeys(in(first, `[data-testid=decide-reason]`), "stolen card, reject"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log-entry][data-order-id=%q]`, first))),
	)
	o := s.waitStatus(t, first, "rejected")
	assert.Equal(t, "stolen card, reject", o.DecisionReason)
	assert.Equal(t, "alice@example.com", o.DecidedBy)

	// Enter with nothing typed asks for a reason and decides nothing.
	do(t, alice,
		chromedp.Focus(in(second, `[data-testid=decide-reason]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(in(second, `[data-testid=decide-error]`)),
	)
	assert.Equal(t, "awaiting_approval", s.order(t, second).Status)
}

// Bug 3 of issue 12: a rejection without a reason replaced the card by a bare error and
// lost the focus. The card stays whole, the message sits next to the reason box, and the
// focus is back in it.
func TestDeskRejectWithoutReasonKeepsTheCard(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	do(t, alice,
		chromedp.WaitVisible(readyRow(id)),
		chromedp.Click(in(id, `[data-testid=reject-button]`)),
		chromedp.WaitVisible(in(id, `[data-testid=decide-form] [data-testid=decide-error]`)),
	)
	assert.Equal(t, "Give a reason to reject the order.", textOf(t, alice, in(id, `[data-testid=decide-error]`)))
	assert.Equal(t, "mallory@example.com", textOf(t, alice, in(id, `[data-testid=pending-customer]`)))
	assert.Equal(t, "50,000.00 USD", textOf(t, alice, in(id, `[data-testid=pending-total]`)))
	factors := get(t, alice, chromedp.Nodes(chromedp.CSSAll(fmt.Sprintf(`[data-order-id=%q] [data-testid=pending-factor]`, id))))
	assert.Len(t, factors, 2, "amount and new customer")
	do(t, alice, until(fmt.Sprintf(`document.activeElement && document.activeElement.id === %q`, "reason-"+id)))
	assert.Equal(t, "true", get(t, alice, chromedp.AttributeValue(in(id, `[data-testid=decide-reason]`), "aria-invalid")).Value)
	assert.Equal(t, "awaiting_approval", s.order(t, id).Status)

	// The reason typed into the kept card now rejects.
	do(t, alice,
		chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "address on a blocklist"),
		chromedp.Click(in(id, `[data-testid=reject-button]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log-entry][data-order-id=%q]`, id))),
	)
	assert.Equal(t, "address on a blocklist", s.waitStatus(t, id, "rejected").DecisionReason)
}

// Two sign-in pages open in one browser (a probe's): each minted its own token into the
// one cookie, and the older page's sign-in was refused with a bare 403, the password typed
// lost. Both pages now share the browser's token.
func TestDeskTwoSignInPagesOfOneBrowser(t *testing.T) {
	s := start(t, options{workflow: defaultOptions().workflow, devMode: true})
	require.NoError(t, orders.CreateManager(context.Background(), s.db, "alice@example.com", "alice-password"))
	older := browser(t)
	newer, cancel := chromedp.NewContext(older) // another tab of the same browser: its cookies
	t.Cleanup(cancel)
	for _, tab := range []context.Context{older, newer} {
		do(t, tab, chromedp.Navigate(s.orders+"/dashboard/approvals"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=signin-email]`)))
	}
	do(t, older,
		chromedp.SendKeys(chromedp.CSS(`[data-testid=signin-email]`), "alice@example.com"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=signin-password]`), "alice-password"),
		chromedp.Click(chromedp.CSS(`[data-testid=signin-submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=pending-summary]`)),
	)
	assert.Equal(t, "alice@example.com", textOf(t, older, chromedp.CSS(`[data-testid=signed-in-as]`)))
}
