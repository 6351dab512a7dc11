package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// orderState reads what the order page says of the order: badge, approval step, timeline.
func orderState(t *testing.T, ctx context.Context) (status, approval, timeline string) {
	t.Helper()
	status = get(t, ctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid=order-head] [data-testid=status-badge]`), "data-status")).Value
	approval = get(t, ctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid=step-approval]`), "data-state")).Value
	timeline = textOf(t, ctx, chromedp.CSS(`[data-testid=timeline]`))
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
	// The decision's message stays on the page (outside the content the live stream
	// redraws): cleared, so the message waited for is the one of the page the click loads,
	// and the marker below is not set on the page it leaves.
	get(t, alice, chromedp.Evaluate[bool](`document.querySelector('[data-testid=order-message]').replaceChildren() === undefined`))
	watch(t, s, id, alice,
		chromedp.Click(chromedp.CSS(`[data-testid=simulate-pay]`)+taken), // in the content the live update replaced
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=flash]`)),
	)
	assert.Contains(t, textOf(t, alice, chromedp.CSS(`[data-testid=flash]`)), "payment simulator sent")
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

// Found by a probe: the order page redraws its whole card for every event of the order,
// and "Decide anyway", ticked against another manager's claim, came back unticked when
// that manager added a note, so the decision was refused. The tick stands while the claim
// it overrides does.
func TestDeskOrderPageKeepsDecideAnywayTicked(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	s.waitStatus(t, id, "awaiting_approval")
	bob := tab(t, alice)
	signIn(t, bob, s.orders, "bob@example.com", "bob-password")
	do(t, bob,
		chromedp.Navigate(s.orders+"/dashboard/orders/"+id),
		chromedp.WaitVisible(in(id, `[data-testid=claim-button]`)),
		chromedp.Click(in(id, `[data-testid=claim-button]`)),
		chromedp.WaitVisible(in(id, `[data-testid=release-button]`)),
	)
	do(t, alice,
		chromedp.Navigate(s.orders+"/dashboard/orders/"+id),
		chromedp.WaitVisible(in(id, `[data-testid=claim-override]`)),
		chromedp.Click(in(id, `[data-testid=claim-override]`)),
		chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "reshipper address"),
	)
	do(t, bob,
		chromedp.SendKeys(chromedp.CSS(`[data-testid=note-text]`), "still checking"),
		chromedp.Click(chromedp.CSS(`[data-testid=note-submit]`)),
	)
	do(t, alice, until(`document.querySelector('[data-testid=timeline]').textContent.includes('still checking')`))
	assert.True(t, get(t, alice, chromedp.Evaluate[bool](`document.querySelector('[data-testid=claim-override]').checked`)),
		"the tick survives the note's redraw")
	do(t, alice, chromedp.Click(in(id, `[data-testid=reject-button]`)))
	o := s.waitStatus(t, id, "rejected")
	assert.Equal(t, "alice@example.com", o.DecidedBy)
}
