package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	cdpfetch "github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Found by a probe of the desk: the pending page's stream address kept the rows the page
// was first rendered with, so after a break the server compared its list with those and
// left a decided order on the page, or replaced the list and what was typed in it. The
// page now writes each update's rows into its address. And an action the server refused
// showed nothing at all; it now says what was not done.
func TestDeskStreamFollowsTheRowsAndSaysWhatWasNotDone(t *testing.T) {
	s, alice := deskManagers(t)
	shown := func() string {
		t.Helper()
		u, err := url.Parse(get(t, alice, chromedp.Evaluate[string](`document.body.getAttribute("sse-connect")`)))
		require.NoError(t, err)
		assert.Equal(t, "pending", u.Query().Get("list"))
		return u.Query().Get("shown")
	}
	first := shown()
	id := s.placeOrder(t, riskyOrder)
	do(t, alice, chromedp.WaitVisible(readyRow(id)))
	changed := get(t, alice, chromedp.Poll[bool](
		fmt.Sprintf(`new URL(document.body.getAttribute("sse-connect"), location.href).searchParams.get("shown") !== %q`, first),
		chromedp.WithPollingMutation()))
	assert.True(t, changed, "the address names the rows the update left on the page")

	assert.False(t, get(t, alice, chromedp.Evaluate[bool](`!document.querySelector("[data-testid=alert]").hidden`)), "nothing to say yet")
	// A refused decision: the page's CSRF token no longer matches its session's.
	get(t, alice, chromedp.Evaluate[bool](`(document.body.setAttribute("hx-headers", JSON.stringify({"X-CSRF-Token": "stale"})), true)`))
	do(t, alice,
		chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "reshipper address"),
		chromedp.Click(in(id, `[data-testid=reject-button]`)),
		chromedp.WaitVisible(`[data-testid=alert]`),
	)
	assert.Contains(t, textOf(t, alice, `[data-testid=alert]`), "Not done: missing or wrong CSRF token")
	do(t, alice, chromedp.WaitVisible(readyRow(id)))
	s.waitStatus(t, id, "awaiting_approval")
}

// Found by a probe: any new event of an order re-sent its page over the live stream and
// wiped the note being typed there. The note box keeps it now.
func TestDeskOrderPageKeepsANoteBeingTyped(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	do(t, alice,
		chromedp.Navigate(s.orders+"/dashboard/orders/"+id),
		chromedp.WaitVisible(`[data-testid=note-text]`),
		chromedp.SendKeys(`[data-testid=note-text]`, "half a note"),
	)
	require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, true, "known customer").StatusCode())
	do(t, alice, chromedp.WaitVisible(`[data-testid=step-approval][data-state=done]`))
	assert.Equal(t, "half a note", get(t, alice, chromedp.Evaluate[string](`document.querySelector("[data-testid=note-text]").value`)))
}

// Found by a probe on a slow network: the live stream deleted the row of an order the
// manager had just decided before the decision's answer came, so the answer had nowhere
// to go and the manager's own decision vanished unconfirmed. The row now waits for it.
// The answer is held in the browser (at the response stage) until the stream has said
// the order left the list.
func TestDeskKeepsTheRowOfADecisionUntilItsAnswer(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	held := approveWithTheAnswerHeld(t, alice, id, "slow network")
	// On its way, the action says so and cannot be sent twice: its buttons are disabled
	// (on a slow network nothing showed that a click had been taken).
	assert.True(t, get(t, alice, chromedp.Evaluate[bool](fmt.Sprintf(
		`[...document.querySelectorAll('#pending-%s [data-testid=decide-form] button')].every(b => b.disabled)`, id))),
		"the decision's buttons are disabled while it is on its way")
	assert.Equal(t, "progress", get(t, alice, chromedp.Evaluate[string](fmt.Sprintf(
		`getComputedStyle(document.querySelector('#pending-%s [data-testid=decide-form]')).cursor`, id))))
	// Decided: the stream says the order left the list, while its answer waits.
	do(t, alice, until(`document.querySelector('[data-testid=pending-summary]').dataset.total === '0'`))
	assert.True(t, get(t, alice, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.getElementById(%q)`, "pending-"+id))),
		"the row being decided stays for its answer")
	do(t, alice, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpfetch.ContinueRequest, cdpfetch.ContinueRequestParams{RequestID: held})
		return err
	}))
	do(t, alice, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid=decision-result][data-order-id=%q]`, id))))
	assert.Contains(t, textOf(t, alice, chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log-entry][data-order-id=%q]`, id))), "Approved")
}

// A decision whose answer is lost on the way back (the connection cut at the response
// stage) may have been taken: the bar says so, not "nothing was changed" (a probe's
// decision was recorded while the page said that), and the row the stream said left the
// list goes once the request has failed, instead of staying under a count without it.
func TestDeskSaysALostAnswerMayHaveBeenTaken(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	held := approveWithTheAnswerHeld(t, alice, id, "answer lost")
	do(t, alice, until(`document.querySelector('[data-testid=pending-summary]').dataset.total === '0'`))
	do(t, alice, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpfetch.FailRequest, cdpfetch.FailRequestParams{RequestID: held, ErrorReason: network.ErrorReasonConnectionClosed})
		return err
	}))
	do(t, alice, until(`!document.getElementById(`+strconv.Quote("pending-"+id)+`)`))
	assert.Contains(t, textOf(t, alice, chromedp.CSS(`[data-testid=alert]`)), "may or may not have been taken")
	assert.Equal(t, "awaiting_payment", s.waitStatus(t, id, "awaiting_payment").Status, "it was taken")
}

// approveWithTheAnswerHeld approves order id on the pending page with reason, and holds
// the answer in the browser, at the response stage, until the test continues or fails it.
func approveWithTheAnswerHeld(t *testing.T, tab context.Context, id, reason string) cdpfetch.RequestID {
	t.Helper()
	do(t, tab, chromedp.WaitVisible(readyRow(id)))
	paused := make(chan cdpfetch.RequestID, 1)
	// The listener lives as long as the tab (an action's context ends with the action).
	require.NoError(t, chromedp.Listen(tab, func(ev any) {
		if e, ok := ev.(*cdpfetch.EventRequestPaused); ok {
			select {
			case paused <- e.RequestID:
			default:
			}
		}
	}))
	do(t, tab, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpfetch.Enable, cdpfetch.EnableParams{Patterns: []*cdpfetch.RequestPattern{
			{URLPattern: "*/decide", RequestStage: cdpfetch.RequestStageResponse}}})
		return err
	}))
	do(t, tab,
		chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), reason),
		chromedp.Click(in(id, `[data-testid=approve-button]`)),
	)
	select {
	case held := <-paused:
		return held
	case <-time.After(20 * time.Second):
		t.Fatal("the decision's answer was not held")
	}
	return ""
}

// A manager's own decision is said in their other tabs too: the row left the list there
// without a word (a probe took it for lost). The tab that decided keeps one entry for it,
// whichever of its answer and the stream comes first.
func TestDeskSaysAManagersOwnDecisionInTheirOtherTab(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	other := tab(t, alice) // another window, signed in as the same manager
	signIn(t, other, s.orders, "alice@example.com", "alice-password")
	do(t, other, chromedp.WaitVisible(readyRow(id)))
	entry := chromedp.CSS(fmt.Sprintf(`[data-testid=decision-log-entry][data-order-id=%q]`, id))
	do(t, alice, chromedp.WaitVisible(readyRow(id)),
		chromedp.SendKeys(in(id, `[data-testid=decide-reason]`), "stolen card"),
		chromedp.Click(in(id, `[data-testid=reject-button]`)),
		chromedp.WaitVisible(entry))
	do(t, other, chromedp.WaitVisible(entry))
	assert.Contains(t, textOf(t, other, entry), "Rejected")
	assert.Contains(t, textOf(t, other, entry), "stolen card")
	count := fmt.Sprintf(`document.querySelectorAll('[data-testid=decision-log-entry][data-order-id=%q]').length`, id)
	do(t, alice, until(`document.querySelector('[data-testid=pending-summary]').dataset.total === '0'`))
	assert.Equal(t, 1, get(t, alice, chromedp.Evaluate[int](count)), "one entry in the tab that decided")
}

// A stream that falls silent without breaking (a half-open connection) left the page
// looking live and stale for ever. The page expects the server's keep-alive at least
// every data-keep-alive milliseconds; here it is told a millisecond, so the stream it has
// is silent for far longer than twice that. It says it is not connected and connects
// again (the new connection held in the browser meanwhile), and once back it shows the
// order placed while it was away.
func TestDeskNoticesASilentStream(t *testing.T) {
	s, alice := deskManagers(t)
	every := get(t, alice, chromedp.Evaluate[string](`document.body.dataset.keepAlive`))
	assert.Equal(t, "25000", every, "the page is told the server's keep-alive")
	bar := `document.querySelector('[data-testid=live-status]')`
	do(t, alice, until(`document.querySelector('[data-testid=pending-summary]').dataset.total === '0'`))

	paused := make(chan cdpfetch.RequestID, 1)
	require.NoError(t, chromedp.Listen(alice, func(ev any) {
		if e, ok := ev.(*cdpfetch.EventRequestPaused); ok {
			select {
			case paused <- e.RequestID:
			default:
			}
		}
	}))
	do(t, alice, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpfetch.Enable, cdpfetch.EnableParams{Patterns: []*cdpfetch.RequestPattern{
			{URLPattern: "*/dashboard/events*", RequestStage: cdpfetch.RequestStageRequest}}})
		return err
	}))
	get(t, alice, chromedp.Evaluate[bool](`(document.body.dataset.keepAlive = "1", true)`))
	var held cdpfetch.RequestID
	select {
	case held = <-paused:
	case <-time.After(20 * time.Second):
		t.Fatal("the page did not connect again")
	}
	do(t, alice, until(`!`+bar+`.hidden`))
	assert.Contains(t, textOf(t, alice, chromedp.CSS(`[data-testid=live-status]`)), "Not connected")

	id := s.placeOrder(t, riskyOrder)
	get(t, alice, chromedp.Evaluate[bool](`(document.body.dataset.keepAlive = `+strconv.Quote(every)+`, true)`))
	do(t, alice, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpfetch.ContinueRequest, cdpfetch.ContinueRequestParams{RequestID: held})
		return err
	}))
	do(t, alice, until(bar+`.hidden`), chromedp.WaitVisible(readyRow(id)))
}
