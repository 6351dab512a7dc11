package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// Issue 12: support tickets are assigned, commented and closed, each an event of the
// ticket's order; the answer shows the action at once, the projection follows both live
// and after a rebuild, and the overview's count means open tickets.
func TestTicketsAreAssignedCommentedAndClosed(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	ctx := context.Background()
	id := "tk-1"
	d.holdOrder(t, id, "erin@example.com")
	require.NoError(t, pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "saga"}, func(o *order.Order) ([]order.Event, error) {
			return o.OpenSupportTicket("delivery_failed", "parcel lost", time.Now())
		})
		return err
	}))
	_, err := projections.Rebuild(ctx, d.pool, projections.Options{})
	require.NoError(t, err)

	require.NoError(t, orders.CreateManager(ctx, d.pool, "bob@example.com", "bob's long password"))
	c := orderstest.Client(t)
	_, csrf := d.signIn(t, c, managerEmail, managerPassword)
	overview := d.request(t, c, "GET", "/dashboard", nil, nil)
	assert.Equal(t, "1", overview.doc.Find(`[data-testid=count-tickets] .n`).Text())
	page := d.request(t, c, "GET", "/dashboard/tickets", nil, nil)
	card := page.doc.Find(`[data-testid=ticket]`)
	require.Equal(t, 1, card.Length(), page.body)
	ticket := card.AttrOr("data-id", "")
	assert.Equal(t, "open", card.AttrOr("data-status", ""))
	assert.Equal(t, "Nobody is assigned.", strings.TrimSpace(card.Find(`[data-testid=ticket-assignee]`).Text()))

	act := func(form url.Values) *goquery.Selection {
		t.Helper()
		form.Set("csrf_token", csrf)
		p := d.request(t, c, "POST", "/dashboard/tickets/"+ticket, form, map[string]string{"HX-Request": "true"})
		require.Equal(t, http.StatusOK, p.status, p.body)
		return p.doc.Find(`[data-testid=ticket]`)
	}
	card = act(url.Values{"action": {"assign"}, "to": {"nobody-at-all"}})
	assert.Equal(t, `"nobody-at-all" is no manager's address: assign the ticket to someone who signs in to the dashboard`,
		card.Find(`[data-testid=ticket-error]`).Text(), "a typo hands the ticket to nobody")
	card = act(url.Values{"action": {"assign"}, "to": {""}})
	assert.Equal(t, "Assigned to alice@example.com", strings.TrimSpace(card.Find(`[data-testid=ticket-assignee]`).Text()), "an empty assignee means me")
	card = act(url.Values{"action": {"assign"}, "to": {" ALICE@Example.com "}})
	assert.Equal(t, "Assigned to alice@example.com", strings.TrimSpace(card.Find(`[data-testid=ticket-assignee]`).Text()),
		"the account's address, however it was typed")
	card = act(url.Values{"action": {"comment"}, "text": {"called the courier"}})
	assert.Contains(t, card.Find(`[data-testid=ticket-comment]`).Text(), "alice@example.com")
	assert.Contains(t, card.Find(`[data-testid=ticket-comment]`).Text(), "called the courier")
	card = act(url.Values{"action": {"close"}, "resolution": {" "}})
	assert.Equal(t, "resolution is required", card.Find(`[data-testid=ticket-error]`).Text())
	assert.Equal(t, "open", card.AttrOr("data-status", ""))
	card = act(url.Values{"action": {"close"}, "resolution": {"reshipped"}})
	assert.Equal(t, "closed", card.AttrOr("data-status", ""))
	assert.Contains(t, card.Find(`[data-testid=ticket-closed]`).Text(), "Closed by alice@example.com")
	assert.Zero(t, card.Find(`[data-testid=ticket-close-form]`).Length(), "a closed ticket cannot be closed again")
	card = act(url.Values{"action": {"assign"}, "to": {"bob@example.com"}})
	assert.Equal(t, "The \u201cdelivery failed\u201d ticket is closed: it can only be commented on.", card.Find(`[data-testid=ticket-error]`).Text(),
		"the kind as the card names it, not as stored")

	check := func(when string) {
		t.Helper()
		page := d.request(t, c, "GET", "/dashboard/tickets", nil, nil)
		card := page.doc.Find(`[data-testid=ticket]`)
		assert.Equal(t, "closed", card.AttrOr("data-status", ""), when)
		assert.Equal(t, "Assigned to alice@example.com", strings.TrimSpace(card.Find(`[data-testid=ticket-assignee]`).Text()), when)
		assert.Equal(t, 1, card.Find(`[data-testid=ticket-comment]`).Length(), "%s: %s", when, page.body)
		assert.Contains(t, card.Find(`[data-testid=ticket-closed]`).Text(), "reshipped", when)
		overview := d.request(t, c, "GET", "/dashboard", nil, nil)
		assert.Equal(t, "0", overview.doc.Find(`[data-testid=count-tickets] .n`).Text(), when)
	}
	// The projection as the live consumer runs it, twice (a redelivery changes nothing)...
	recorded, err := eventstore.Load(ctx, d.pool, id)
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return projections.SupportTickets.ApplyBatch(ctx, tx, recorded) }))
	}
	check("live")
	// ...and as a replay rebuilds it.
	_, err = projections.Rebuild(ctx, d.pool, projections.Options{})
	require.NoError(t, err)
	check("rebuilt")
	h, err := orderstream.LoadHistory(ctx, d.pool, id)
	require.NoError(t, err)
	var summaries []string
	for _, e := range projections.TimelineOf(h) {
		summaries = append(summaries, e.Summary)
	}
	timeline := strings.Join(summaries, " | ")
	assert.Contains(t, timeline, "Support ticket (delivery failed) assigned to alice@example.com by alice@example.com")
	assert.Contains(t, timeline, "Support ticket (delivery failed) closed by alice@example.com: reshipped")
}
