package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
)

// The ticket desk's refusals were one alert per card, tied to no field; what was done
// was not said; and closing a ticket took away the form with the focus and dropped it to
// the page (an accessibility probe). A refusal now sits at its field as on the pending
// page (aria-invalid, aria-describedby, the focus in the field), a success is said in the
// page's polite region, and a closed ticket's card takes the focus.
func TestDeskTicketFieldsSayWhatIsWrong(t *testing.T) {
	s, alice := deskManagers(t)
	id := s.placeOrder(t, riskyOrder)
	s.openTicket(t, id)
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/tickets"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=ticket-close-form]`+taken)))
	invalid := func(field, message string) {
		t.Helper()
		sel := `[data-testid=ticket-` + field + `][aria-invalid=true]`
		do(t, alice, chromedp.WaitVisible(chromedp.CSS(sel)), until(`document.activeElement.matches('`+sel+`')`))
		assert.Equal(t, message, get(t, alice, chromedp.Evaluate[string](`document.getElementById(document.activeElement.getAttribute('aria-describedby')).textContent`)))
	}
	do(t, alice, chromedp.Focus(chromedp.CSS(`[data-testid=ticket-resolution]`)), chromedp.KeyEvent(kb.Enter))
	invalid("resolution", "resolution is required")
	do(t, alice, chromedp.Focus(chromedp.CSS(`[data-testid=ticket-to]`+taken)), chromedp.KeyEvent("not an email"+kb.Enter))
	invalid("to", `"not an email" is no manager's address: assign the ticket to someone who signs in to the dashboard`)
	assert.Equal(t, 1, len(get(t, alice, chromedp.Nodes(chromedp.CSSAll(`[data-testid=ticket-error]`)))), "one message, at the field it is about")

	do(t, alice, chromedp.Focus(chromedp.CSS(`[data-testid=ticket-text]`+taken)), chromedp.KeyEvent("called the courier"+kb.Enter),
		until(`document.querySelector('[data-testid=ticket-said]').textContent === 'Comment added.'`))
	do(t, alice, chromedp.Focus(chromedp.CSS(`[data-testid=ticket-resolution]`+taken)), chromedp.KeyEvent("reshipped"+kb.Enter),
		until(`document.querySelector('[data-testid=ticket-said]').textContent === 'Ticket closed.'`),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid=ticket-close-form]`)))
	assert.Equal(t, "ticket", get(t, alice, chromedp.Evaluate[string](`document.activeElement.dataset.testid || document.activeElement.tagName`)),
		"the closed ticket's card has the focus")
}
