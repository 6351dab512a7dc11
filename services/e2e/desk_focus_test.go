package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/ui"
)

// focused describes the element with the focus: its id, else its test id, else its tag.
const focused = `(e => e.id || e.dataset.testid || e.tagName.toLowerCase())(document.activeElement || document.body)`

// tabTo presses Tab until the element with test id testid has the focus (at most ten
// times), as a keyboard user gets there.
func tabTo(t *testing.T, ctx context.Context, testid string) {
	t.Helper()
	for range 10 {
		if get(t, ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(document.activeElement || {dataset: {}}).dataset.testid === %q`, testid))) {
			return
		}
		do(t, ctx, chromedp.KeyEvent(kb.Tab))
	}
	t.Fatalf("ten Tabs did not reach %s; the focus is on %s", testid, get(t, ctx, chromedp.Evaluate[string](focused)))
}

// alertShown is whether the page's alert bar shows, and what it says.
func alertShown(t *testing.T, ctx context.Context) string {
	t.Helper()
	return get(t, ctx, chromedp.Evaluate[string](`(b => b.hidden ? '' : b.textContent)(document.querySelector('[data-testid=alert]'))`))
}

// An accessibility probe: a manager's own decisions from the keyboard locked every key,
// Tab included, and said the order had been "decided elsewhere". A bulk decision
// confirmed with Enter on its button (the button went with the answer), and the last
// pending order decided from its reason box (no order was left to take the focus), each
// dropped the focus to the page. The focus now lands on what answered (the bulk result,
// the summary saying no order waits), no alert shows, and the keys go on working.
func TestDeskOwnKeyboardDecisionsKeepTheKeys(t *testing.T) {
	s, alice := deskManagers(t)
	ticked, last := s.placeOrder(t, riskyOrder), s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(readyRow(ticked)), chromedp.WaitVisible(readyRow(last)))

	// A bulk rejection, all from the keyboard.
	do(t, alice,
		chromedp.Focus(in(ticked, `[data-testid=bulk-select]`)), chromedp.KeyEvent(" "),
		until(fmt.Sprintf(`document.querySelector('[data-order-id=%q] [data-testid=bulk-select]').checked`, ticked)),
		chromedp.Focus(chromedp.CSS(`[data-testid=bulk-reason]`)), chromedp.KeyEvent("card testing ring"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-confirm-button]`+taken)),
	)
	tabTo(t, alice, "bulk-confirm-button")
	do(t, alice, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS(`[data-testid=bulk-summary]`)))
	assert.Equal(t, "card testing ring", s.waitStatus(t, ticked, "rejected").DecisionReason)
	assert.Equal(t, "bulk-result", get(t, alice, chromedp.Evaluate[string](focused)), "the focus is on the bulk decision's answer")
	do(t, alice, chromedp.WaitNotPresent(pendingRow(ticked)), press("j"))
	assert.Equal(t, last, get(t, alice, chromedp.Evaluate[string](focusedOrder)), "j goes on to the order left")
	assert.Empty(t, alertShown(t, alice), "nothing was decided elsewhere")

	// The last order, rejected from its reason box.
	do(t, alice, press("r"), chromedp.KeyEvent("reshipper address"+kb.Enter), chromedp.WaitVisible(chromedp.CSS(`[data-testid=pending-empty]`)))
	assert.Equal(t, "reshipper address", s.waitStatus(t, last, "rejected").DecisionReason)
	do(t, alice, until(`document.activeElement && document.activeElement.id === 'pending-summary'`))
	assert.Contains(t, get(t, alice, chromedp.Evaluate[string](`document.activeElement.textContent`)), "No orders are waiting for approval.")
	do(t, alice, press("j"))
	assert.Empty(t, alertShown(t, alice), "nothing was decided elsewhere")
	do(t, alice, chromedp.KeyEvent(kb.Tab))
	assert.Equal(t, "bulk-reason", get(t, alice, chromedp.Evaluate[string](focused)), "Tab goes on from the summary")
}

// The order page kept the focus nowhere (an accessibility probe): a decision, a note or
// any live update redrew the page's content and the focus fell to the page (the next Tab
// went to "Skip to content"), and the decision's "Approved … as …" was wiped two seconds
// later by the workflow's next events. The message now stands outside the redrawn
// content; the focus stays on the control that had it, else goes to the order's head;
// and a new status is said.
func TestDeskOrderPageKeepsTheFocusAndTheMessage(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	s.waitStatus(t, id, "awaiting_approval")
	do(t, alice,
		chromedp.Navigate(s.orders+"/dashboard/orders/"+id),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=decide-form]`+taken)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=decide-reason]`), "called the customer"),
	)
	tabTo(t, alice, "approve-button")
	do(t, alice, chromedp.KeyEvent(kb.Enter),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=decide-form]`)),
		// The workflow's next events redraw the content after the answer.
		until(`document.querySelector('[data-testid=timeline]').textContent.includes('Payment session')`),
	)
	assert.Equal(t, "order-head", get(t, alice, chromedp.Evaluate[string](focused)), "the control went with the decision: the order's head has the focus")
	assert.Equal(t, "Approved "+ui.ShortID(id)+" as alice@example.com: called the customer", textOf(t, alice, chromedp.CSS(`#order-message [data-testid=flash]`)),
		"the decision's message outlives the redraws")
	assert.Equal(t, "status", get(t, alice, chromedp.AttributeValue(chromedp.CSS(`[data-testid=order-message]`), "role")).Value)
	do(t, alice, until(`document.querySelector('[data-testid=order-status-said]').textContent === 'The order is now awaiting payment.'`))

	// A note from the keyboard: the button that sent it keeps the focus through the answer
	// and through another manager's note redrawn live.
	do(t, alice, chromedp.Focus(chromedp.CSS(`[data-testid=note-text]`)), chromedp.KeyEvent("customer confirmed"))
	tabTo(t, alice, "note-submit")
	do(t, alice, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS(`#order-message [data-testid=flash]`)),
		until(`document.querySelector('[data-testid=flash]').textContent === 'Note added.'`),
		until(`document.querySelector('[data-testid=timeline]').textContent.includes('customer confirmed')`))
	assert.Equal(t, "note-submit", get(t, alice, chromedp.Evaluate[string](focused)))
	bob := tab(t, alice)
	signIn(t, bob, s.orders, "bob@example.com", "bob-password")
	do(t, bob,
		chromedp.Navigate(s.orders+"/dashboard/orders/"+id),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=note-form]`+taken)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=note-text]`), "bob was here"),
		chromedp.Click(chromedp.CSS(`[data-testid=note-submit]`)),
	)
	do(t, alice, until(`document.querySelector('[data-testid=timeline]').textContent.includes('bob was here')`))
	assert.Equal(t, "note-submit", get(t, alice, chromedp.Evaluate[string](focused)), "a live redraw keeps the focus where it was")
	assert.Equal(t, "Note added.", textOf(t, alice, chromedp.CSS(`#order-message [data-testid=flash]`)))
	require.NotContains(t, get(t, alice, chromedp.Location()), "signin")
}
