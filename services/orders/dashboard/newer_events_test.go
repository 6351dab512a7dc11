package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/orderstream/orderstreamtest"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// An order with an event a newer release appended (a rolling upgrade) has its page in
// this release: the order as far as this release knows it, the event in the timeline as
// what it is, and a note that the page may be incomplete. The page was an error
// ("unknown order event", a 500), and so were the ticket desk's actions on its tickets.
// The decision stays on the page: it is taken on the order's state as the command path
// reads it, the newer release's own snapshot when it is in this release's layout, and
// refused, saying why, when this release would have to fold the events to decide.
func TestAnOrderWithANewerReleasesEventHasItsPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDash(t)
	c := orderstest.Client(t)
	_, csrf := d.signIn(t, c, managerEmail, managerPassword)
	htmx := map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf}
	withNewerEvent := func(id string, layout orderstreamtest.Layout) *order.Order {
		t.Helper()
		d.holdOrder(t, id, "erin@example.com")
		o, err := orderstream.Load(ctx, d.pool, id)
		require.NoError(t, err)
		orderstreamtest.AppendNewerEvent(t, d.pool, o, layout)
		return o
	}

	for _, layout := range []orderstreamtest.Layout{orderstreamtest.SameLayout, orderstreamtest.NewerLayout} {
		id := fmt.Sprint("ord-newer-", layout)
		withNewerEvent(id, layout)
		var position int64
		require.NoError(t, d.pool.QueryRow(ctx, `SELECT position FROM events WHERE stream_id = $1 AND event_name = $2`, id, orderstreamtest.NewerEvent).Scan(&position))

		p := d.request(t, c, "GET", "/dashboard/orders/"+id, nil, nil)
		require.Equal(t, http.StatusOK, p.status, p.body)
		assert.Equal(t, "awaiting_approval", p.doc.Find("[data-testid=order-head] [data-status]").AttrOr("data-status", ""), p.body)
		note := p.doc.Find("[data-testid=order-unknown-events]")
		assert.Contains(t, note.Text(), "This page may be incomplete")
		assert.Contains(t, note.Text(), orderstreamtest.NewerEvent)
		entry := p.doc.Find(`[data-testid=timeline-entry][data-event="` + orderstreamtest.NewerEvent + `"]`)
		require.Equal(t, 1, entry.Length(), p.body)
		assert.Equal(t, orderstreamtest.NewerActor, entry.Find("[data-testid=timeline-actor]").Text())
		assert.Contains(t, entry.Text(), fmt.Sprintf("%s (position %d): recorded by a newer release; this release cannot show it", orderstreamtest.NewerEvent, position))
		assert.NotEmpty(t, entry.Find("time").AttrOr("datetime", ""))
		assert.Equal(t, 1, p.doc.Find("[data-testid=order-live] [data-testid=pending-row]").Length(), "the decision stays on the page")
	}

	decide := func(id string) dpage {
		t.Helper()
		return d.request(t, c, "POST", "/dashboard/approvals/"+id+"/decide",
			url.Values{"decision": {"approve"}, "return": {"order"}, "csrf_token": {csrf}}, htmx)
	}
	p := decide(fmt.Sprint("ord-newer-", orderstreamtest.SameLayout))
	require.Equal(t, http.StatusOK, p.status, p.body)
	status, by := d.decidedBy(t, fmt.Sprint("ord-newer-", orderstreamtest.SameLayout))
	assert.Equal(t, "reserving_inventory", status)
	assert.Equal(t, managerEmail, by)

	id := fmt.Sprint("ord-newer-", orderstreamtest.NewerLayout)
	p = decide(id)
	require.Equal(t, http.StatusOK, p.status, p.body)
	assert.Contains(t, p.doc.Find("[data-testid=decide-error]").Text(), "has an event this release of the service does not know ("+orderstreamtest.NewerEvent, p.body)
	h, err := orderstream.LoadHistory(ctx, d.pool, id)
	require.NoError(t, err)
	assert.Equal(t, order.StatusAwaitingApproval, h.Order.Status, "nothing decided")

	// The ticket desk works on the tickets of such an order.
	ticketed := "ord-newer-ticket"
	o := withNewerEvent(ticketed, orderstreamtest.SameLayout)
	require.NoError(t, pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		_, err := orderstream.UpdateLoaded(ctx, tx, o, eventstore.Metadata{CorrelationID: ticketed, Actor: "saga"}, func(o *order.Order) ([]order.Event, error) {
			return o.OpenSupportTicket("delivery_failed", "parcel lost", time.Now())
		})
		return err
	}))
	_, err = projections.Rebuild(ctx, d.pool, projections.Options{})
	require.NoError(t, err)
	var ticket int64
	require.NoError(t, d.pool.QueryRow(ctx, `SELECT position FROM events WHERE stream_id = $1 AND event_name = $2`, ticketed, order.NameSupportTicketOpened).Scan(&ticket))
	p = d.request(t, c, "POST", fmt.Sprint("/dashboard/tickets/", ticket), url.Values{"action": {"comment"}, "text": {"called the courier"}, "csrf_token": {csrf}}, htmx)
	require.Equal(t, http.StatusOK, p.status, p.body)
	assert.Contains(t, strings.TrimSpace(p.doc.Find(`[data-testid=ticket-comment]`).Text()), "called the courier")
}
