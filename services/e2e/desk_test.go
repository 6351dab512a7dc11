package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/services/orders"
)

// riskyOrder is a body the risk check holds: 10 base + 50 amount + 25 new customer = 85.
const riskyOrder = `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"newCustomer":true,"customerEmail":"mallory@example.com"}`

// in selects sel inside the pending row of order id.
func in(id, sel string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`[data-testid=pending-row][data-order-id=%q] %s`, id, sel))
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
	do(t, alice, chromedp.WaitVisible(pendingRow(first)), chromedp.WaitVisible(pendingRow(second)))

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
		chromedp.WaitVisible(pendingRow(id)),
		chromedp.Click(in(id, `[data-testid=reject-button]`)),
		chromedp.WaitVisible(in(id, `[data-testid=decide-form] [data-testid=decide-error]`)),
	)
	assert.Equal(t, "Give a reason to reject the order.", get(t, alice, chromedp.Text(in(id, `[data-testid=decide-error]`))))
	assert.Equal(t, "mallory@example.com", get(t, alice, chromedp.Text(in(id, `[data-testid=pending-customer]`))))
	assert.Equal(t, "50,000.00 USD", get(t, alice, chromedp.Text(in(id, `[data-testid=pending-total]`))))
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

// orderState reads what the order page says of the order: badge, approval step, timeline.
func orderState(t *testing.T, ctx context.Context) (status, approval, timeline string) {
	t.Helper()
	status = get(t, ctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid=order-head] [data-testid=status-badge]`), "data-status")).Value
	approval = get(t, ctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid=step-approval]`), "data-state")).Value
	timeline = get(t, ctx, chromedp.Text(chromedp.CSS(`[data-testid=timeline]`)))
	return status, approval, timeline
}

// Bug 2 of issue 12: after a decision on the order page, the card said "Approved" while
// the badge, the diagram and the timeline still said it waited, and htmx logged a missing
// target. The page now follows the order live: after its own decision, after a simulator
// click, and after another manager's decision, with nothing in the console.
func TestDeskOrderPageFollowsTheOrderLive(t *testing.T) {
	s, alice := deskManagers(t)
	errs := consoleErrors(t, alice)
	id := s.placeOrder(t, riskyOrder)
	s.waitStatus(t, id, "awaiting_approval")
	do(t, alice,
		chromedp.Navigate(s.orders+"/dashboard/orders/"+id),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=decide-form]`)),
	)
	get(t, alice, chromedp.Evaluate[bool](`window.__noReload = true`))

	// Her own decision.
	watch(t, s, id, alice,
		chromedp.SendKeys(chromedp.CSS(`[data-testid=decide-reason]`), "called the customer"),
		chromedp.Click(chromedp.CSS(`[data-testid=approve-button]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=decide-form]`)),
		until(`document.querySelector('[data-testid=timeline]').textContent.includes('Approved by alice@example.com: called the customer')`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=step-payment][data-state=current]`)),
		until(`document.querySelector('[data-testid=timeline]').textContent.includes('Payment session')`),
	)
	status, approval, timeline := orderState(t, alice)
	assert.Equal(t, "awaiting_payment", status)
	assert.Equal(t, "done", approval)
	assert.Contains(t, timeline, "Payment session")
	assert.True(t, get(t, alice, chromedp.Evaluate[bool](`window.__noReload === true`)), "updated without a reload")

	// A simulator click: the webhook travels through the payment simulator, and the page
	// follows the order without a reload.
	_, err := s.recordedSession(t.Context(), id)
	require.NoError(t, err)
	watch(t, s, id, alice,
		chromedp.Click(chromedp.CSS(`[data-testid=simulate-pay]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=flash]`)),
	)
	get(t, alice, chromedp.Evaluate[bool](`window.__noReload = true`))
	do(t, alice, chromedp.WaitVisible(chromedp.CSS(`[data-testid=step-delivery][data-state=current]`)))
	status, _, timeline = orderState(t, alice)
	assert.Equal(t, "awaiting_delivery", status)
	assert.Contains(t, timeline, "Shipped with")
	assert.True(t, get(t, alice, chromedp.Evaluate[bool](`window.__noReload === true`)), "followed the simulator without a reload")

	// Another manager's decision reaches the page Alice is looking at.
	other := s.placeOrder(t, riskyOrder)
	s.waitStatus(t, other, "awaiting_approval")
	do(t, alice,
		chromedp.Navigate(s.orders+"/dashboard/orders/"+other),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=decide-form]`)),
	)
	get(t, alice, chromedp.Evaluate[bool](`window.__noReload = true`))
	bob := tab(t, alice)
	signIn(t, bob, s.orders, "bob@example.com", "bob-password")
	do(t, bob,
		chromedp.SendKeys(in(other, `[data-testid=decide-reason]`), "reshipper address"),
		chromedp.Click(in(other, `[data-testid=reject-button]`)),
		chromedp.WaitNotPresent(pendingRow(other)),
	)
	do(t, alice,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=status-badge][data-status=rejected]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=decide-form]`)),
		until(`document.querySelector('[data-testid=timeline]').textContent.includes('Rejected by bob@example.com: reshipper address')`),
	)
	assert.True(t, get(t, alice, chromedp.Evaluate[bool](`window.__noReload === true`)), "followed Bob's decision without a reload")
	assert.Empty(t, errs(), "the browser console stays clean")
	assert.False(t, strings.Contains(get(t, alice, chromedp.Location()), "signin"))
}

// Issue 12: another manager's decision used to make a row vanish without a word. The
// pending page now logs it: who decided, what, and why.
func TestDeskOthersDecisionsAreLogged(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(pendingRow(id)))
	bob := tab(t, alice)
	signIn(t, bob, s.orders, "bob@example.com", "bob-password")
	do(t, bob,
		chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "reshipper address"),
		chromedp.Click(in(id, `[data-testid=reject-button]`)),
		chromedp.WaitNotPresent(pendingRow(id)),
	)
	entry := chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log] [data-testid=decision-log-entry][data-order-id=%q]`, id))
	do(t, alice, chromedp.WaitNotPresent(pendingRow(id)), chromedp.WaitVisible(entry))
	text := get(t, alice, chromedp.Text(entry))
	assert.Contains(t, text, "Rejected "+id[:8]+" as bob@example.com: reshipper address")
	logged := get(t, bob, chromedp.Nodes(chromedp.CSSAll(`[data-testid=decision-log-entry]`)))
	assert.Len(t, logged, 1, "Bob's own decision is logged once, by its answer")
}

// overflowing lists the elements that stick out of the viewport to the right: on a phone
// nothing may need a sideways scroll.
const overflowing = `[...document.querySelectorAll('body *')].filter(e => {
	const r = e.getBoundingClientRect();
	return r.width > 0 && r.right > document.documentElement.clientWidth + 0.5 && !e.closest('.sr-only');
}).map(e => e.tagName.toLowerCase() + (e.dataset.testid ? '[' + e.dataset.testid + ']' : '') + '.' + e.className)`

// Issue 12: at 390 px (a phone) the pending list (with a claim), the tickets, the order
// page and the orders list fit the screen: no element overflows the viewport.
func TestDeskPhoneLayout(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, `{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"newCustomer":true,"customerEmail":"a.very.long.address.for.a.phone@example.com",
		"shippingAddress":{"name":"Ann Lee","line1":"1 Rue de la Grande Armée, bâtiment B","city":"Paris","postalCode":"75017","country":"FR"},
		"billingAddress":{"name":"Ann Lee","line1":"2 Hauptstraße","city":"Berlin","postalCode":"10115","country":"DE"}}`)
	do(t, alice, chromedp.WaitVisible(pendingRow(id)), chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	// Bob reviews it, and it has a support ticket with a comment: the claim box with its
	// "Decide anyway", and a ticket card, must fit too.
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "manager:bob@example.com"}, func(o *order.Order) ([]order.Event, error) {
			now := time.Now()
			claimed, err := o.Claim("bob@example.com", now, now.Add(time.Hour))
			opened, _ := o.OpenSupportTicket("delivery_failed", "the courier reported the parcel lost at a very long depot name", now)
			return append(claimed, opened...), err
		})
		return err
	}))
	for _, page := range []struct{ path, ready string }{
		{"/dashboard/approvals", fmt.Sprintf(`[data-testid=pending-row][data-order-id=%q] [data-testid=claim-override]`, id)},
		{"/dashboard/tickets", `[data-testid=ticket] [data-testid=ticket-close-form]`},
		{"/dashboard/orders/" + id, `[data-testid=workflow]`},
		{"/dashboard/orders", `[data-testid=orders-table]`},
		{"/dashboard", `[data-testid=chart-per-hour]`},
	} {
		do(t, alice, chromedp.Navigate(s.orders+page.path), chromedp.WaitVisible(chromedp.CSS(page.ready)))
		assert.Empty(t, get(t, alice, chromedp.Evaluate[[]string](overflowing)), "%s overflows at 390 px", page.path)
	}
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/approvals"), chromedp.WaitVisible(pendingRow(id)))
	screenshot(t, alice, "desk-pending-phone")
}

// press types one key as a keyboard does: a single keyDown carrying its text, so that a
// page cancelling the keydown also cancels the character (chromedp.KeyEvent sends the
// character as an event of its own).
func press(key string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		events := kb.Encode([]rune(key)[0]) // keyDown, char, keyUp
		down := *events[0]
		down.Text, down.UnmodifiedText = key, key
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, *events[len(events)-1])
		return err
	})
}

// focusedOrder is the order of the row that has the focus, or "".
const focusedOrder = `(document.activeElement.closest('[data-testid=pending-row]') || {dataset: {}}).dataset.orderId || ''`

// Issue 12's keyboard: j/k move between rows, r goes to the reason box, a approves after
// a confirmation (dismissed: nothing happens; accepted: approved), ? lists the shortcuts.
func TestDeskKeyboardShortcuts(t *testing.T) {
	s, alice := deskManagers(t)
	first := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(pendingRow(first)))
	second := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(pendingRow(second)))

	var answer atomic.Bool
	var asked atomic.Int32
	dialogs := chromedp.Events(alice, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			if ev.Type == page.DialogTypeConfirm {
				asked.Add(1)
			}
			_, _ = chromedp.Call(alice, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: answer.Load()})
		}
	}()

	do(t, alice, chromedp.KeyEvent("j"))
	assert.Equal(t, first, get(t, alice, chromedp.Evaluate[string](focusedOrder)))
	do(t, alice, chromedp.KeyEvent("j"))
	assert.Equal(t, second, get(t, alice, chromedp.Evaluate[string](focusedOrder)))
	do(t, alice, chromedp.KeyEvent("k"))
	assert.Equal(t, first, get(t, alice, chromedp.Evaluate[string](focusedOrder)))

	do(t, alice, chromedp.KeyEvent("a"))
	assert.Equal(t, int32(1), asked.Load(), "a asks first")
	assert.Equal(t, "awaiting_approval", s.order(t, first).Status, "a dismissed confirmation approves nothing")

	answer.Store(true)
	do(t, alice, chromedp.KeyEvent("a"), chromedp.WaitNotPresent(pendingRow(first)))
	assert.Equal(t, "alice@example.com", s.waitStatus(t, first, "awaiting_payment").DecidedBy)

	do(t, alice, chromedp.KeyEvent("j"), press("r"), chromedp.KeyEvent("x"))
	assert.Equal(t, "reason-"+second, get(t, alice, chromedp.Evaluate[string](`document.activeElement.id`)))
	assert.Equal(t, "x", get(t, alice, chromedp.Value(in(second, `[data-testid=decide-reason]`))), "r itself is not typed; what follows is")

	do(t, alice, chromedp.Blur(in(second, `[data-testid=decide-reason]`)), chromedp.KeyEvent("?"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=shortcuts]`)))
	assert.Contains(t, get(t, alice, chromedp.Text(chromedp.CSS(`[data-testid=shortcuts]`))), "approve the selected order, after a confirmation")
}

// claimOf is who the claim box of order id names, as the page shows it.
func claimOf(id string) string {
	return fmt.Sprintf(`(document.querySelector('[data-testid=pending-row][data-order-id=%q] [data-testid=claim]') || {dataset: {}}).dataset.claimedBy`, id)
}

// Issue 12's claims, across two browser contexts: Bob claims an order and Alice sees
// "bob@example.com is reviewing" arrive live, without losing what she typed; his release
// reaches her too. When he claims again, her decision asks for a confirmation first and
// goes through once she ticks "Decide anyway". The claims are order events: the order's
// timeline lists them.
func TestDeskClaims(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(pendingRow(id)), chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "velocity check"))
	assert.Equal(t, "Nobody is reviewing this order.", get(t, alice, chromedp.Text(in(id, `[data-testid=claim-text]`))))
	bob := tab(t, alice)
	signIn(t, bob, s.orders, "bob@example.com", "bob-password")
	do(t, bob,
		chromedp.WaitVisible(pendingRow(id)),
		chromedp.Click(in(id, `[data-testid=claim-button]`)),
		chromedp.WaitVisible(in(id, `[data-testid=release-button]`)),
	)
	assert.Contains(t, get(t, bob, chromedp.Text(in(id, `[data-testid=claim-text]`))), "You are reviewing this order, since")

	do(t, alice, until(claimOf(id)+` === 'bob@example.com'`))
	assert.Regexp(t, `^bob@example.com is reviewing, since \d\d:\d\d UTC\.$`, get(t, alice, chromedp.Text(in(id, `[data-testid=claim-text]`))))
	assert.Equal(t, "velocity check", get(t, alice, chromedp.Value(in(id, `[data-testid=decide-reason]`))), "the claim arrives without wiping the form")

	// Bob gives the order up; Alice sees that too.
	do(t, bob, chromedp.Click(in(id, `[data-testid=release-button]`)), chromedp.WaitVisible(in(id, `[data-testid=claim-button]`)))
	do(t, alice, until(claimOf(id)+` === ''`))

	// He claims it again: Alice's rejection asks first and decides nothing.
	do(t, bob, chromedp.Click(in(id, `[data-testid=claim-button]`)), chromedp.WaitVisible(in(id, `[data-testid=release-button]`)))
	do(t, alice,
		until(claimOf(id)+` === 'bob@example.com'`),
		chromedp.Click(in(id, `[data-testid=reject-button]`)),
		chromedp.WaitVisible(in(id, `[data-testid=decide-error]`)),
	)
	assert.Contains(t, get(t, alice, chromedp.Text(in(id, `[data-testid=decide-error]`))), "bob@example.com is reviewing this order")
	assert.Equal(t, "awaiting_approval", s.order(t, id).Status)

	// With "Decide anyway" ticked, her rejection goes through.
	do(t, alice,
		chromedp.Click(in(id, `[data-testid=claim-override]`)),
		chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "velocity check"),
		chromedp.Click(in(id, `[data-testid=reject-button]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log-entry][data-order-id=%q]`, id))),
	)
	o := s.waitStatus(t, id, "rejected")
	assert.Equal(t, "alice@example.com", o.DecidedBy)
	do(t, bob, chromedp.WaitNotPresent(pendingRow(id)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log] [data-testid=decision-log-entry][data-order-id=%q]`, id))))

	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/orders/"+id),
		until(`document.querySelector('[data-testid=timeline]').textContent.includes('Claim released by bob@example.com')`))
	timeline := get(t, alice, chromedp.Text(chromedp.CSS(`[data-testid=timeline]`)))
	assert.Equal(t, 2, strings.Count(timeline, "Claimed for review by bob@example.com until"), timeline)
}

// Issue 12's bulk decisions: Alice ticks two of three pending orders and rejects them
// with one reason. The first click only asks (nothing is decided yet); the confirmation
// decides each order with its own event and logs each; the unticked order still waits.
func TestDeskBulkDecisions(t *testing.T) {
	s, alice := deskManagers(t)
	first, second, third := s.placeOrder(t, riskyOrder), s.placeOrder(t, riskyOrder), s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(pendingRow(first)), chromedp.WaitVisible(pendingRow(second)), chromedp.WaitVisible(pendingRow(third)))

	// Nothing ticked: refused.
	do(t, alice, chromedp.Click(chromedp.CSS(`[data-testid=bulk-approve]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-error]`)))
	assert.Equal(t, "Select the orders to decide first.", get(t, alice, chromedp.Text(chromedp.CSS(`[data-testid=bulk-error]`))))

	do(t, alice,
		chromedp.Click(in(first, `[data-testid=bulk-select]`)),
		chromedp.Click(in(second, `[data-testid=bulk-select]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=bulk-reason]`), "card testing ring"),
		chromedp.Click(chromedp.CSS(`[data-testid=bulk-reject]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-confirm]`)),
	)
	question := get(t, alice, chromedp.Text(chromedp.CSS(`[data-testid=bulk-question]`)))
	assert.Contains(t, question, "Reject 2 orders with the reason \u201ccard testing ring\u201d?")
	assert.Contains(t, question, first[:8])
	assert.Contains(t, question, second[:8])
	assert.NotContains(t, question, third[:8])
	for _, id := range []string{first, second, third} {
		assert.Equal(t, "awaiting_approval", s.order(t, id).Status, "asking decides nothing")
	}

	do(t, alice,
		chromedp.Click(chromedp.CSS(`[data-testid=bulk-confirm-button]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-summary]`)),
		chromedp.WaitNotPresent(pendingRow(first)),
		chromedp.WaitNotPresent(pendingRow(second)),
	)
	assert.Equal(t, "Rejected 2 of 2 orders as alice@example.com.", get(t, alice, chromedp.Text(chromedp.CSS(`[data-testid=bulk-summary]`))))
	for _, id := range []string{first, second} {
		o := s.waitStatus(t, id, "rejected")
		assert.Equal(t, "alice@example.com", o.DecidedBy)
		assert.Equal(t, "card testing ring", o.DecisionReason)
		var rejections int
		require.NoError(t, s.db.QueryRow(context.Background(),
			`SELECT count(*) FROM events WHERE stream_id = $1 AND event_name = 'order.rejected.v1'`, id).Scan(&rejections))
		assert.Equal(t, 1, rejections, "each order gets its own event")
		do(t, alice, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log-entry][data-order-id=%q]`, id))))
	}
	assert.Equal(t, "awaiting_approval", s.order(t, third).Status)
	do(t, alice, chromedp.WaitVisible(pendingRow(third)))
}

// Issue 12's small things on the pending page: the tab title leads with the pending count
// and follows it live; "waiting" and "time left" tick in the browser; buttons have
// names that say which order they act on; the score is announced with its meaning; and
// a dark system preference gives a dark page.
func TestDeskSmallThings(t *testing.T) {
	s, alice := deskManagers(t)
	first := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/approvals"), chromedp.WaitVisible(pendingRow(first)))
	assert.Equal(t, "(1) Pending approvals · Ordermill", get(t, alice, chromedp.Title()))
	second := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(pendingRow(second)), until(`document.title === '(2) Pending approvals · Ordermill'`))

	// The clocks are worked out again from the times the server wrote.
	get(t, alice, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const row = document.querySelector('[data-testid=pending-row][data-order-id=%q]');
		row.querySelector('[data-testid=pending-waiting]').dataset.since = new Date(Date.now() - (2*60+5)*60000 - 1000).toISOString();
		row.querySelector('[data-testid=pending-time-left]').dataset.deadline = new Date(Date.now() + 30*60000 - 1000).toISOString();
		return true })()`, first)))
	do(t, alice,
		until(fmt.Sprintf(`document.querySelector('[data-order-id=%q] [data-testid=pending-waiting]').textContent === '2h 5m'`, first)),
		until(fmt.Sprintf(`document.querySelector('[data-order-id=%q] [data-testid=pending-time-left]').textContent === '29m'`, first)),
	)
	assert.Contains(t, get(t, alice, chromedp.AttributeValue(in(first, `[data-testid=pending-time-left]`), "class")).Value, "urgent", "under an hour left is urgent")

	// Names and meanings for assistive technology.
	short := first[:8]
	assert.Equal(t, "Approve order "+short, get(t, alice, chromedp.AttributeValue(in(first, `[data-testid=approve-button]`), "aria-label")).Value)
	assert.Equal(t, "Reject order "+short, get(t, alice, chromedp.AttributeValue(in(first, `[data-testid=reject-button]`), "aria-label")).Value)
	assert.Equal(t, "Claim order "+short, get(t, alice, chromedp.AttributeValue(in(first, `[data-testid=claim-button]`), "aria-label")).Value)
	assert.Equal(t, "Select order "+short, get(t, alice, chromedp.AttributeValue(in(first, `[data-testid=bulk-select]`), "aria-label")).Value)
	unnamed := get(t, alice, chromedp.Evaluate[[]string](`[...document.querySelectorAll('button, input[type=checkbox]')].filter(b =>
		!(b.getAttribute('aria-label') || b.textContent.trim() || (b.labels && b.labels.length))).map(b => b.outerHTML)`))
	assert.Empty(t, unnamed, "every control has an accessible name")
	score := get(t, alice, chromedp.AttributeValue(in(first, `[data-testid=pending-score]`), "aria-label")).Value
	assert.Equal(t, "risk score 85 of 100, at or above the threshold 70: held for review", score)

	// Dark mode follows the system's preference.
	light := get(t, alice, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	do(t, alice, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	dark := get(t, alice, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	assert.Equal(t, "rgb(246, 247, 249)", light)
	assert.Equal(t, "rgb(17, 22, 29)", dark)
	assert.Equal(t, "rgb(26, 34, 45)", get(t, alice, chromedp.Evaluate[string](
		fmt.Sprintf(`getComputedStyle(document.querySelector('[data-testid=pending-row][data-order-id=%q]')).backgroundColor`, first))))
}

// Issue 12: an order whose deadline passes leaves the pending list with a word in the
// live log, not silently.
func TestDeskAutoCancelledOrderIsLogged(t *testing.T) {
	opt := options{workflow: defaultOptions().workflow, devMode: true}
	opt.workflow.ApprovalTimeout = 8 * time.Second
	s := start(t, opt)
	require.NoError(t, orders.CreateManager(context.Background(), s.db, "alice@example.com", "alice-password"))
	alice := browser(t)
	signIn(t, alice, s.orders, "alice@example.com", "alice-password")
	id := s.placeOrder(t, riskyOrder)
	entry := chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log] [data-testid=decision-log-entry][data-order-id=%q]`, id))
	do(t, alice, chromedp.WaitVisible(pendingRow(id)))
	s.waitStatus(t, id, "cancelled")
	do(t, alice, chromedp.WaitNotPresent(pendingRow(id)), chromedp.WaitVisible(entry))
	assert.Contains(t, get(t, alice, chromedp.Text(entry)), id[:8]+" was cancelled automatically: no decision before its deadline")
}

// Issue 12: a note one manager adds, from a browser context of his own, reaches the order
// page another manager has open, live, and is kept as an order event.
func TestDeskNotesReachAnotherManagerLive(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	s.waitStatus(t, id, "awaiting_approval")
	do(t, alice,
		chromedp.Navigate(s.orders+"/dashboard/orders/"+id),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=note-form]`)),
	)
	get(t, alice, chromedp.Evaluate[bool](`window.__noReload = true`))
	bob := tab(t, alice)
	signIn(t, bob, s.orders, "bob@example.com", "bob-password")
	do(t, bob,
		chromedp.Navigate(s.orders+"/dashboard/orders/"+id),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=note-form]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=note-text]`), "customer confirmed by phone"),
		chromedp.Click(chromedp.CSS(`[data-testid=note-submit]`)),
		until(`document.querySelector('[data-testid=timeline]').textContent.includes('customer confirmed by phone')`),
	)
	do(t, alice, until(`document.querySelector('[data-testid=timeline]').textContent.includes('customer confirmed by phone')`))
	assert.True(t, get(t, alice, chromedp.Evaluate[bool](`window.__noReload === true`)), "Bob's note reached Alice without a reload")
	var notes int
	require.NoError(t, s.db.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE stream_id = $1 AND event_name = 'order.note_added.v1'`, id).Scan(&notes))
	assert.Equal(t, 1, notes, "the note is one order event")
}
