package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

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
