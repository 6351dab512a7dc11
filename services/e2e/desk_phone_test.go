package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

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
	do(t, alice, chromedp.WaitVisible(readyRow(id)), chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	// Bob reviews it, and it has a support ticket with a comment: the claim box with its
	// "Decide anyway", and a ticket card, must fit too.
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "manager:bob@example.com"}, func(o *order.Order) ([]order.Event, error) {
			now := time.Now()
			claimed, err := o.Claim("bob@example.com", "", now, now.Add(time.Hour))
			opened, _ := o.OpenSupportTicket("delivery_failed", "the courier reported the parcel lost at a very long depot name", now)
			return append(claimed, opened...), err
		})
		return err
	}))
	_, err := s.db.Exec(context.Background(), `INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
		VALUES ('order_events.1', 'projections', 'msg-1', '{"n": 1}', jsonb_build_object('name', 'order.placed.v1', 'order_id', $1::text),
			'a very long error message without spaces: ' || repeat('x', 200))`, id)
	require.NoError(t, err)
	for _, page := range []struct{ path, ready string }{
		{"/dashboard/dead-letters", `[data-testid=dead-letter]`},
		{"/dashboard/approvals", fmt.Sprintf(`[data-testid=pending-row][data-order-id=%q] [data-testid=claim-override]`, id)},
		{"/dashboard/tickets", `[data-testid=ticket] [data-testid=ticket-close-form]`},
		{"/dashboard/orders/" + id, `[data-testid=workflow]`},
		{"/dashboard/orders", `[data-testid=orders-table]`},
		{"/dashboard", `[data-testid=chart-per-hour]`},
	} {
		do(t, alice, chromedp.Navigate(s.orders+page.path), chromedp.WaitVisible(chromedp.CSS(page.ready)))
		assert.Empty(t, get(t, alice, chromedp.Evaluate[[]string](overflowing)), "%s overflows at 390 px", page.path)
	}
	do(t, alice, chromedp.Navigate(s.orders+"/dashboard/approvals"), chromedp.WaitVisible(readyRow(id)))
	screenshot(t, alice, "desk-pending-phone")
}
