package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Found by a probe: a reason or a note typed while the session ended was lost. The action
// went to the sign-in page, and signing in again brought back an empty box. The tab keeps
// what was typed until an answer takes it, and then forgets it.
func TestDeskKeepsWhatWasTypedWhenTheSessionEnds(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	endSessions := func() {
		t.Helper()
		_, err := s.db.Exec(t.Context(), `DELETE FROM orders.dashboard_sessions`)
		require.NoError(t, err)
	}
	signInAgain := func(page chromedp.CSS) {
		t.Helper()
		do(t, alice,
			chromedp.WaitVisible(`[data-testid=signin-notice]`),
			chromedp.SendKeys(`[data-testid=signin-email]`, "alice@example.com"),
			chromedp.SendKeys(`[data-testid=signin-password]`, "alice-password"),
			chromedp.Click(`[data-testid=signin-submit]`),
			chromedp.WaitVisible(page),
		)
	}
	value := func(sel string) string {
		t.Helper()
		return get(t, alice, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).value`, sel)))
	}
	reason := fmt.Sprintf(`[data-testid=pending-row][data-order-id=%q] [data-testid=decide-reason]`, id)

	do(t, alice, chromedp.WaitVisible(readyRow(id)), chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "reshipper address"))
	endSessions()
	do(t, alice, chromedp.Click(in(id, `[data-testid=reject-button]`)))
	signInAgain(readyRow(id))
	assert.Equal(t, "awaiting_approval", s.order(t, id).Status, "nothing was decided without a session")
	assert.Equal(t, "reshipper address", value(reason), "the reason is back")
	do(t, alice,
		chromedp.Click(in(id, `[data-testid=reject-button]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log-entry][data-order-id=%q]`, id))),
	)
	assert.Equal(t, "reshipper address", s.waitStatus(t, id, "rejected").DecisionReason)

	page := s.orders + "/dashboard/orders/" + id
	do(t, alice,
		chromedp.Navigate(page),
		chromedp.WaitVisible(`[data-testid=note-text]`),
		chromedp.SendKeys(`[data-testid=note-text]`, "customer called back"),
	)
	endSessions()
	do(t, alice, chromedp.Click(`[data-testid=note-submit]`))
	signInAgain(`[data-testid=note-form]`)
	assert.Equal(t, "customer called back", value(`[data-testid=note-text]`), "the note is back")
	// A note the order refuses comes back with its message, and the box keeps the text
	// (the refusal is answered 200, as every refusal of the desk is: a probe's review found
	// the draft forgotten with it).
	refused := "customer called back \u202e"
	get(t, alice, chromedp.Evaluate[bool](fmt.Sprintf(`(e => (e.value = %q, e.dispatchEvent(new Event("input", {bubbles: true})), true))(document.querySelector("[data-testid=note-text]"))`, refused)))
	do(t, alice, chromedp.Click(`[data-testid=note-submit]`), chromedp.WaitVisible(`[data-testid=note-error]`),
		until(`!document.querySelector('.htmx-added, .htmx-settling')`))
	assert.Equal(t, refused, value(`[data-testid=note-text]`), "a refused note stays in its box")
	get(t, alice, chromedp.Evaluate[bool](`(e => (e.value = "customer called back", e.dispatchEvent(new Event("input", {bubbles: true})), true))(document.querySelector("[data-testid=note-text]"))`))
	do(t, alice,
		chromedp.Click(`[data-testid=note-submit]`),
		until(`document.querySelector('[data-testid=timeline]').textContent.includes('customer called back')`),
		until(`!document.querySelector('.htmx-added, .htmx-settling')`),
	)
	assert.Empty(t, value(`[data-testid=note-text]`), "the note sent leaves the box")
	do(t, alice, chromedp.Navigate(page), chromedp.WaitVisible(`[data-testid=note-text]`))
	assert.Empty(t, value(`[data-testid=note-text]`), "a note sent is no draft any more")

	// Signing out forgets what is typed, every draft of the tab (walking the keys while
	// removing them left one of seven: a probe): the next manager finds none of it.
	do(t, alice, chromedp.SendKeys(`[data-testid=note-text]`, "private remark"))
	kept := chromedp.Evaluate[int](`Object.keys(sessionStorage).filter(k => k.startsWith("ordermill-draft")).length`)
	require.Equal(t, 1, get(t, alice, kept), "the note is the one draft kept")
	get(t, alice, chromedp.Evaluate[bool](`([1, 2, 3, 4, 5, 6].forEach(n => sessionStorage.setItem("ordermill-draft\nalice@example.com\nreason o-" + n, "draft " + n)), true)`))
	require.Equal(t, 7, get(t, alice, kept))
	do(t, alice, chromedp.Click(`form.signout button`), chromedp.WaitVisible(`[data-testid=signin-email]`))
	assert.Zero(t, get(t, alice, kept))
}

// A ticket's card holds three forms; the answer to one redraws the card, and a comment
// typed in another was lost with it (left by a probe). It is kept now.
func TestDeskTicketKeepsACommentWhileAnotherFormIsAnswered(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	s.openTicket(t, id)
	ctx := context.Background()
	do(t, alice,
		chromedp.Navigate(s.orders+"/dashboard/tickets"),
		chromedp.WaitVisible(`[data-testid=ticket-text]`),
		chromedp.SendKeys(`[data-testid=ticket-text]`, "courier asked for a trace"),
		chromedp.Click(`[data-testid=ticket-assign-button]`),
		// The answer is in, and settled (htmx's load of the new card is done).
		until(`document.querySelector('[data-testid=ticket-assignee]').textContent.includes('alice@example.com')`+
			` && !document.querySelector('.htmx-added, .htmx-settling')`),
	)
	// The tickets list is a read model: it has the assignment once its projection has run.
	assert.True(t, poll(10*time.Millisecond, func() bool {
		var assignee string
		return s.db.QueryRow(ctx, `SELECT assignee FROM orders.support_tickets WHERE order_id = $1`, id).Scan(&assignee) == nil &&
			assignee == "alice@example.com"
	}), "the ticket was assigned")
	assert.Equal(t, "courier asked for a trace",
		get(t, alice, chromedp.Evaluate[string](`document.querySelector("[data-testid=ticket-text]").value`)), "the comment typed is still there")
}

// A reason being typed whose order another manager decided leaves the list with its row,
// and the focus falls to the page: the keys typed on were taken for shortcuts, k moved to
// the order above and a approved it after a confirmation an Enter accepts (a probe). Keys
// now do nothing until the manager clicks or presses Esc or Tab, and the page says why;
// Tab is never held (an accessibility probe: it was, and the keyboard was stuck).
func TestDeskKeysTypedOnAfterTheirRowLeftAreNoShortcuts(t *testing.T) {
	s, alice := deskManagers(t)
	above, typed, again := s.placeOrder(t, riskyOrder), s.placeOrder(t, riskyOrder), s.placeOrder(t, riskyOrder)
	var dialogs atomic.Int32
	require.NoError(t, chromedp.Listen(alice, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			go func() { // dismissed, or the page would wait on it
				_ = chromedp.Do(alice, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
					_, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
					return err
				}))
			}()
		}
	}))
	// decidedWhileTyped has Bob decide order id while Alice types its reason, and Alice type on.
	decidedWhileTyped := func(id string) {
		do(t, alice, chromedp.WaitVisible(readyRow(id)),
			chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "duplicate of an earlier order, "))
		require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, false, "bob was quicker").StatusCode())
		do(t, alice, chromedp.WaitNotPresent(pendingRow(id)),
			chromedp.KeyEvent("check again ka"),
			until(`!document.querySelector('[data-testid=alert]').hidden`))
		assert.Contains(t, textOf(t, alice, `[data-testid=alert]`), "keys do nothing until you click or press Esc")
		assert.Zero(t, dialogs.Load(), "no approval was asked")
		assert.Equal(t, "awaiting_approval", s.order(t, above).Status)
	}
	do(t, alice, chromedp.WaitVisible(readyRow(above)))
	decidedWhileTyped(typed)

	// Esc gives the shortcuts back.
	do(t, alice, chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent("j"),
		until(`document.activeElement && document.activeElement.matches('[data-testid=pending-row]')`))

	// So does Tab, which moves the focus on as ever.
	decidedWhileTyped(again)
	before := get(t, alice, chromedp.Evaluate[string](focused))
	do(t, alice, chromedp.KeyEvent(kb.Tab), until(`document.querySelector('[data-testid=alert]').hidden`))
	assert.NotEqual(t, before, get(t, alice, chromedp.Evaluate[string](focused)), "Tab moved the focus")
	assert.NotEqual(t, "page", get(t, alice, chromedp.Evaluate[string](focused)))
}
