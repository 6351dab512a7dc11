package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/ui"
)

// Issue 12: another manager's decision used to make a row vanish without a word. The
// pending page now logs it: who decided, what, and why.
func TestDeskOthersDecisionsAreLogged(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(readyRow(id)))
	bob := tab(t, alice)
	signIn(t, bob, s.orders, "bob@example.com", "bob-password")
	do(t, bob,
		chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "reshipper address"),
		chromedp.Click(in(id, `[data-testid=reject-button]`)),
		chromedp.WaitNotPresent(pendingRow(id)),
	)
	entry := chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log] [data-testid=decision-log-entry][data-order-id=%q]`, id))
	do(t, alice, chromedp.WaitNotPresent(pendingRow(id)), chromedp.WaitVisible(entry))
	text := textOf(t, alice, entry)
	assert.Contains(t, text, "Rejected "+ui.ShortID(id)+" as bob@example.com: reshipper address")
	logged := get(t, bob, chromedp.Nodes(chromedp.CSSAll(`[data-testid=decision-log-entry]`)))
	assert.Len(t, logged, 1, "Bob's own decision is logged once, by its answer")
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
	do(t, alice, chromedp.WaitVisible(readyRow(id)))
	s.waitStatus(t, id, "cancelled")
	do(t, alice, chromedp.WaitNotPresent(pendingRow(id)), chromedp.WaitVisible(entry))
	assert.Contains(t, textOf(t, alice, entry), ui.ShortID(id)+" was cancelled automatically: no decision before its deadline")
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
	do(t, alice, chromedp.WaitVisible(readyRow(id)), chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "velocity check"))
	assert.Equal(t, "Nobody is reviewing this order.", textOf(t, alice, in(id, `[data-testid=claim-text]`)))
	bob := tab(t, alice)
	signIn(t, bob, s.orders, "bob@example.com", "bob-password")
	do(t, bob,
		chromedp.WaitVisible(readyRow(id)),
		chromedp.Click(in(id, `[data-testid=claim-button]`)),
		chromedp.WaitVisible(in(id, `[data-testid=release-button]`)),
	)
	assert.Contains(t, textOf(t, bob, in(id, `[data-testid=claim-text]`)), "You are reviewing this order, since")

	do(t, alice, until(claimOf(id)+` === 'bob@example.com'`))
	assert.Regexp(t, `^bob@example.com is reviewing, since \d\d:\d\d UTC\.$`, textOf(t, alice, in(id, `[data-testid=claim-text]`)))
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
	assert.Contains(t, textOf(t, alice, in(id, `[data-testid=decide-error]`)), "bob@example.com is reviewing this order")
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
	timeline := textOf(t, alice, chromedp.CSS(`[data-testid=timeline]`))
	assert.Equal(t, 2, strings.Count(timeline, "Claimed for review by bob@example.com until"), timeline)
}

// Issue 12's bulk decisions: Alice ticks two of three pending orders and rejects them
// with one reason. The first click only asks (nothing is decided yet); the confirmation
// decides each order with its own event and logs each; the unticked order still waits.
func TestDeskBulkDecisions(t *testing.T) {
	s, alice := deskManagers(t)
	first, second, third := s.placeOrder(t, riskyOrder), s.placeOrder(t, riskyOrder), s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(readyRow(first)), chromedp.WaitVisible(readyRow(second)), chromedp.WaitVisible(readyRow(third)))

	// Nothing ticked: refused.
	do(t, alice, chromedp.Click(chromedp.CSS(`[data-testid=bulk-approve]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-error]`)))
	assert.Equal(t, "Select the orders to decide first.", textOf(t, alice, chromedp.CSS(`[data-testid=bulk-error]`)))

	do(t, alice,
		chromedp.Click(in(first, `[data-testid=bulk-select]`)),
		chromedp.Click(in(second, `[data-testid=bulk-select]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=bulk-reason]`), "card testing ring"),
		chromedp.Click(chromedp.CSS(`[data-testid=bulk-reject]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-confirm]`)),
	)
	question := textOf(t, alice, chromedp.CSS(`[data-testid=bulk-question]`))
	assert.Contains(t, question, "Reject 2 orders with the reason \u201ccard testing ring\u201d?")
	assert.Contains(t, question, ui.ShortID(first))
	assert.Contains(t, question, ui.ShortID(second))
	assert.NotContains(t, question, ui.ShortID(third))
	for _, id := range []string{first, second, third} {
		assert.Equal(t, "awaiting_approval", s.order(t, id).Status, "asking decides nothing")
	}

	do(t, alice,
		chromedp.Click(chromedp.CSS(`[data-testid=bulk-confirm-button]`)+taken), // swapped in by the first click's answer
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-summary]`)),
		chromedp.WaitNotPresent(pendingRow(first)),
		chromedp.WaitNotPresent(pendingRow(second)),
	)
	assert.Equal(t, "Rejected 2 of 2 orders as alice@example.com.", textOf(t, alice, chromedp.CSS(`[data-testid=bulk-summary]`)))
	// The reason went with the decision: it stayed in its box, and decided the next bulk
	// decision too (a probe's approvals came out "fraud ring").
	do(t, alice, until(`document.querySelector('[data-testid=bulk-reason]').value === ''`))
	assert.Zero(t, get(t, alice, chromedp.Evaluate[int](`Object.keys(sessionStorage).filter(k => k.startsWith("ordermill-draft")).length`)))
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
	do(t, alice, chromedp.WaitVisible(readyRow(third)))
}

// A bulk confirmation is of what is ticked when it is given (found by a probe): P and Q
// ticked and asked about, then Q unticked and R ticked, and the card's "Reject 2 orders"
// rejected P and Q. A change of the ticks or the reason now takes the card away; and
// should the ticks change without the page hearing of it, the server decides nothing
// and asks again about what is ticked.
func TestDeskBulkConfirmationFollowsTheTicks(t *testing.T) {
	s, alice := deskManagers(t)
	p, q, r := s.placeOrder(t, riskyOrder), s.placeOrder(t, riskyOrder), s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(readyRow(p)), chromedp.WaitVisible(readyRow(q)), chromedp.WaitVisible(readyRow(r)))
	confirm := chromedp.CSS(`[data-testid=bulk-confirm]`)
	question := func() string { return textOf(t, alice, chromedp.CSS(`[data-testid=bulk-question]`)) }
	waiting := func() {
		t.Helper()
		for _, id := range []string{p, q, r} {
			assert.Equal(t, "awaiting_approval", s.order(t, id).Status, "nothing is decided")
		}
	}

	do(t, alice,
		chromedp.Click(in(p, `[data-testid=bulk-select]`)),
		chromedp.Click(in(q, `[data-testid=bulk-select]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=bulk-reason]`), "card testing ring"),
		chromedp.Click(chromedp.CSS(`[data-testid=bulk-reject]`)),
		chromedp.WaitVisible(confirm),
		chromedp.Click(in(q, `[data-testid=bulk-select]`)),
		chromedp.WaitNotPresent(confirm),
		chromedp.Click(in(r, `[data-testid=bulk-select]`)),
	)
	waiting()

	// Asked again, the question is about P and R; a reason typed after it takes it away too.
	do(t, alice, chromedp.Click(chromedp.CSS(`[data-testid=bulk-reject]`)), chromedp.WaitVisible(confirm))
	assert.Contains(t, question(), ui.ShortID(p))
	assert.Contains(t, question(), ui.ShortID(r))
	assert.NotContains(t, question(), ui.ShortID(q))
	do(t, alice, chromedp.SendKeys(chromedp.CSS(`[data-testid=bulk-reason]`), "!"), chromedp.WaitNotPresent(confirm))

	// R unticked by a script, which the page does not hear of: the card's button sends the
	// ticks as they are, and the server asks about P alone.
	do(t, alice, chromedp.Click(chromedp.CSS(`[data-testid=bulk-reject]`)), chromedp.WaitVisible(confirm))
	get(t, alice, chromedp.Evaluate[bool](fmt.Sprintf(`(document.querySelector('[data-order-id=%q] [data-testid=bulk-select]').checked = false, true)`, r)))
	do(t, alice,
		chromedp.Click(chromedp.CSS(`[data-testid=bulk-confirm-button]`)+taken),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-changed]`)),
	)
	waiting()
	assert.Contains(t, question(), "Reject 1 order with the reason \u201ccard testing ring!\u201d?")
	assert.Contains(t, question(), ui.ShortID(p))

	do(t, alice,
		chromedp.Click(chromedp.CSS(`[data-testid=bulk-confirm-button]`)+taken),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-summary]`)),
	)
	assert.Equal(t, "Rejected 1 of 1 orders as alice@example.com.", textOf(t, alice, chromedp.CSS(`[data-testid=bulk-summary]`)))
	assert.Equal(t, "card testing ring!", s.waitStatus(t, p, "rejected").DecisionReason)
	assert.Equal(t, "awaiting_approval", s.order(t, q).Status)
	assert.Equal(t, "awaiting_approval", s.order(t, r).Status)
}

// Issue 12's small things on the pending page: the tab title leads with the pending count
// and follows it live; "waiting" and "time left" tick in the browser; buttons have
// names that say which order they act on; the score is announced with its meaning; and
// a dark system preference gives a dark page.
func TestDeskSmallThings(t *testing.T) {
	s, alice := deskManagers(t)
	first := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/approvals"), chromedp.WaitVisible(readyRow(first)))
	assert.Equal(t, "(1) Pending approvals · Ordermill", get(t, alice, chromedp.Title()))
	second := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(readyRow(second)), until(`document.title === '(2) Pending approvals · Ordermill'`))

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
	short := ui.ShortID(first)
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
	do(t, alice, darkTheme)
	dark := get(t, alice, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	assert.Equal(t, "rgb(246, 247, 249)", light)
	assert.Equal(t, "rgb(17, 22, 29)", dark)
	assert.Equal(t, "rgb(26, 34, 45)", get(t, alice, chromedp.Evaluate[string](
		fmt.Sprintf(`getComputedStyle(document.querySelector('[data-testid=pending-row][data-order-id=%q]')).backgroundColor`, first))))
}

// darkTheme makes the tab's system prefer a dark theme.
var darkTheme = chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
	return err
})

// fieldContrasts is the contrast ratio (WCAG) of the text in each box and menu of the page
// to its background, by the box's test id.
const fieldContrasts = `(() => {
	const lum = c => c.match(/[\d.]+/g).slice(0, 3).map(v => v / 255)
		.map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4))
		.reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
	return Object.fromEntries([...document.querySelectorAll('input:not([type=hidden], [type=checkbox]), select, textarea')].map(e => {
		const s = getComputedStyle(e), a = lum(s.color), b = lum(s.backgroundColor);
		return [e.dataset.testid, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
	}));
})()`

// In a dark theme the text boxes were white with near-white text (1.2:1): the light
// theme's white background out-ranked the dark theme's. Every box and menu of every page
// now reads at 4.5:1 at least, in both themes.
func TestDeskFieldsAreReadableInBothThemes(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(readyRow(id)))
	s.openTicket(t, id)
	signedOut := tab(t, alice)
	for _, theme := range []string{"light", "dark"} {
		if theme == "dark" {
			do(t, alice, darkTheme)
			do(t, signedOut, darkTheme)
		}
		seen := map[string]float64{}
		for _, page := range []struct {
			ctx         context.Context
			path, ready string
		}{
			{alice, "/dashboard/approvals", `[data-testid=bulk-reason]`},
			{alice, "/dashboard/orders", `[data-testid=orders-search]`},
			{alice, "/dashboard/orders/" + id, `[data-testid=note-text]`},
			{alice, "/dashboard/tickets", `[data-testid=ticket-text]`},
			{signedOut, "/dashboard/signin", `[data-testid=signin-email]`},
		} {
			do(t, page.ctx, chromedp.Navigate(s.orders+page.path), chromedp.WaitVisible(chromedp.CSS(page.ready)))
			for field, ratio := range get(t, page.ctx, chromedp.Evaluate[map[string]float64](fieldContrasts)) {
				seen[field] = ratio
				assert.GreaterOrEqual(t, ratio, 4.5, "%s theme, %s: %s", theme, page.path, field)
			}
		}
		for _, field := range []string{"decide-reason", "bulk-reason", "orders-search", "orders-status", "note-text", "ticket-text", "ticket-resolution", "signin-email", "signin-password"} {
			assert.Contains(t, seen, field, "%s theme", theme)
		}
	}
}

// The dashboard's clocks count on the server's time, not the browser's: with the
// manager's computer two days fast, live orders showed "overdue", waiting "2d", and a
// claim the server still enforces "lapsed" (a review).
func TestDeskClocksKeepTheServersTime(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	do(t, alice,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
				Source: `(() => { const real = Date.now; Date.now = () => real() + 2*24*3600*1000; })()`})
			return err
		}),
		chromedp.Navigate(s.orders+"/dashboard/approvals"),
		chromedp.WaitVisible(readyRow(id)),
		chromedp.Click(in(id, `[data-testid=claim-button]`)),
		chromedp.WaitVisible(in(id, `[data-testid=release-button]`)),
	)
	// "Waiting" counts from a time set 2h 5m before the server's: once it reads so, the
	// clocks have ticked on the page as it is.
	get(t, alice, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const served = Date.parse(document.body.dataset.serverNow);
		document.querySelector('[data-testid=pending-row][data-order-id=%q] [data-testid=pending-waiting]').dataset.since = new Date(served - (2*60+5)*60000 - 1000).toISOString();
		return true })()`, id)))
	do(t, alice, until(fmt.Sprintf(`document.querySelector('[data-order-id=%q] [data-testid=pending-waiting]').textContent === '2h 5m'`, id)))
	assert.Regexp(t, `^5\dm$`, textOf(t, alice, in(id, `[data-testid=pending-time-left]`)), "an hour to decide, counted on the server's clock")
	assert.NotContains(t, textOf(t, alice, in(id, `[data-testid=claim-text]`)), "lapsed")
}
