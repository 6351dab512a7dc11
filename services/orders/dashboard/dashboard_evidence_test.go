package dashboard_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/projections/ordergen"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// evidenceDash is a dashboard with the warehouse's catalog behind it and typed
// confirmation above 10,000.
func evidenceDash(t *testing.T) *dash {
	t.Helper()
	pool := pgtest.Pool(t)
	svc := orders.New(pool, slog.New(slog.DiscardHandler), orders.Config{
		ManagerTokens: map[string]string{"api@example.com": "token"}, OperatorToken: orderstest.OperatorToken,
		WarehouseURL: orderstest.CatalogURL(t, pool), ConfirmApprovalAbove: 10_000_00,
	})
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	require.NoError(t, orders.CreateManager(context.Background(), pool, managerEmail, managerPassword))
	return &dash{pool: pool, srv: srv, client: orderstest.Client(t)}
}

// history writes orders through the real store, each a list of steps, one after the
// other, and rebuilds the read models.
func (d *dash) history(t testing.TB, orders ...[]ordergen.Step) {
	t.Helper()
	ctx := context.Background()
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	var b ordergen.Batch
	for _, steps := range orders {
		o := &order.Order{}
		for _, s := range steps {
			at = at.Add(time.Second)
			require.NoError(t, b.Do(o, s, at))
		}
	}
	require.NoError(t, pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return b.Write(ctx, tx) }))
	_, err := projections.Rebuild(ctx, d.pool, projections.Options{})
	require.NoError(t, err)
}

func place(id, email string, total order.Cents, ship, bill string) ordergen.Step {
	return ordergen.Place(order.PlaceOrder{OrderID: id, CustomerEmail: email, Total: total, Currency: "EUR",
		Items:           []order.Item{{SKU: "SKU-001", Quantity: 2}},
		ShippingAddress: &order.Address{Name: "Ann Lee", Line1: "1 Rue Haute", City: "Paris", PostalCode: "75001", Country: ship},
		BillingAddress:  &order.Address{Name: "Ann Lee", Line1: "2 Hauptstraße", City: "Berlin", PostalCode: "10115", Country: bill}})
}

// Issue 12's evidence: the pending card and the order page show both addresses with
// their countries, the products' catalog names, the customer's earlier orders and how the
// score came about.
func TestDashboardShowsTheEvidenceForADecision(t *testing.T) {
	t.Parallel()
	d := evidenceDash(t)
	const who = "ann@example.com"
	factors := []order.RiskFactor{
		{Code: "amount_over_20000", Description: "order total exceeds 20,000 EUR", Points: 50},
		{Code: "address_mismatch", Description: "shipping and billing addresses are in different countries or postal codes", Points: 20},
	}
	d.history(t,
		[]ordergen.Step{place("ord-done", who, 120_00, "FR", "FR"), ordergen.Assess(10), ordergen.Reserve("r1"), ordergen.OpenSession("s1"),
			ordergen.Pay("p1"), ordergen.Ship("sh1"), ordergen.Courier("delivered", ""), ordergen.Complete()},
		[]ordergen.Step{place("ord-gone", who, 80_00, "FR", "FR"), ordergen.Cancel(order.ReasonPaymentFailed, "card declined")},
		[]ordergen.Step{place("ord-held", who, 25_000_00, "FR", "DE"), ordergen.Assess(80, factors...)},
		[]ordergen.Step{place("ord-else", "someone@example.com", 10_00, "FR", "FR"), ordergen.Assess(10)},
	)
	_, csrf := d.signIn(t, d.client, managerEmail, managerPassword)
	require.NotEmpty(t, csrf)

	check := func(t *testing.T, card *goquery.Selection) {
		assert.Equal(t, "FR", card.Find("[data-testid=ship-country]").Text())
		assert.Equal(t, "DE", card.Find("[data-testid=bill-country]").Text())
		assert.Contains(t, card.Find("[data-testid=ship-address]").Text(), "1 Rue Haute, 75001 Paris")
		assert.Equal(t, 1, card.Find("[data-testid=country-mismatch]").Length())
		assert.Equal(t, "base 10 + 50 + 20 = 80 (threshold 70)", card.Find("[data-testid=score-explained]").First().Text())
		h := card.Find("[data-testid=history]")
		assert.Contains(t, h.Find("[data-testid=history-count]").Text(), "2")
		assert.Equal(t, "200.00 EUR", h.Find("[data-testid=history-totals]").Text(), "120.00 + 80.00 EUR")
		assert.Equal(t, "1 completed", h.Find("[data-testid=history-completed]").Text())
		assert.Equal(t, "1 cancelled", h.Find("[data-testid=history-cancelled]").Text())
		assert.Equal(t, "0 rejected", h.Find("[data-testid=history-rejected]").Text())
		var links []string
		h.Find("[data-testid=history-order]").Each(func(_ int, s *goquery.Selection) { links = append(links, s.AttrOr("href", "")) })
		assert.Equal(t, []string{"/dashboard/orders/ord-gone", "/dashboard/orders/ord-done"}, links, "newest first, not the order itself nor another customer's")
		assert.Equal(t, "/dashboard/orders?email="+url.QueryEscape(who), h.Find("[data-testid=history-all]").AttrOr("href", ""))
	}
	t.Run("every order of the customer, and only theirs", func(t *testing.T) {
		// hanna's email holds ann's: a search for any part listed her orders as ann's (a probe).
		d.history(t, []ordergen.Step{place("ord-hanna", "h"+who, 30_00, "FR", "FR"), ordergen.Assess(10)})
		p := d.request(t, d.client, "GET", "/dashboard/orders?email="+url.QueryEscape(strings.ToUpper(who)), nil, nil)
		require.Equal(t, http.StatusOK, p.status, p.body)
		var ids []string
		p.doc.Find("[data-testid=order-row]").Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("data-order-id", "")) })
		assert.ElementsMatch(t, []string{"ord-done", "ord-gone", "ord-held"}, ids)
		assert.Contains(t, p.doc.Find("[data-testid=orders-customer]").Text(), "orders of "+strings.ToUpper(who))
		assert.Equal(t, "/dashboard/orders", p.doc.Find("[data-testid=orders-every-customer]").AttrOr("href", ""))
	})
	t.Run("pending card", func(t *testing.T) {
		p := d.request(t, d.client, "GET", "/dashboard/approvals", nil, nil)
		require.Equal(t, http.StatusOK, p.status, p.body)
		card := p.doc.Find(`[data-testid=pending-row][data-order-id=ord-held]`)
		require.Equal(t, 1, card.Length())
		check(t, card)
		assert.Equal(t, "2 × Espresso Cups (set of 4) (SKU-001)", card.Find("[data-testid=pending-items]").Text(), "the catalog's name, beside the SKU")
		assert.Equal(t, "ord-held", card.Find("[data-testid=decide-confirm]").Parent().Find("strong").Text(), "25,000 EUR is above the confirmation amount")
		assert.Equal(t, 0, p.doc.Find(`[data-order-id=ord-else] [data-testid=decide-confirm]`).Length(), "10 EUR is not")
	})
	t.Run("order page", func(t *testing.T) {
		p := d.request(t, d.client, "GET", "/dashboard/orders/ord-held", nil, nil)
		require.Equal(t, http.StatusOK, p.status, p.body)
		check(t, p.doc.Find("[data-testid=order-addresses]").AddSelection(p.doc.Find("[data-testid=order-history]")).AddSelection(p.doc.Find("[data-testid=order-risk]")))
	})
	t.Run("a bulk approval leaves the very large orders to be approved on their own", func(t *testing.T) {
		// It asked "Approve 2 orders?" and then refused the large one for want of its id.
		hx := map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf}
		p := d.request(t, d.client, "POST", "/dashboard/approvals/bulk", url.Values{"decision": {"approve"}, "order": {"ord-held", "ord-else"}}, hx)
		require.Equal(t, http.StatusOK, p.status, p.body)
		assert.Contains(t, p.doc.Find("[data-testid=bulk-error]").Text(), "untick ord-held to approve the others at once")
		assert.Zero(t, p.doc.Find("[data-testid=bulk-confirm]").Length(), "no confirmation to give")
		status, _ := d.decidedBy(t, "ord-held")
		assert.Equal(t, "awaiting_approval", status)
		p = d.request(t, d.client, "POST", "/dashboard/approvals/bulk", url.Values{"decision": {"approve"}, "order": {"ord-else"}}, hx)
		assert.Equal(t, 1, p.doc.Find("[data-testid=bulk-confirm]").Length(), "the others are asked about")
		p = d.request(t, d.client, "POST", "/dashboard/approvals/bulk", url.Values{"decision": {"reject"}, "reason": {"fraud"}, "order": {"ord-held"}}, hx)
		assert.Equal(t, 1, p.doc.Find("[data-testid=bulk-confirm]").Length(), "a rejection needs no id")
	})
	t.Run("a very large order is approved only once its id is typed", func(t *testing.T) {
		hx := map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf}
		p := d.request(t, d.client, "POST", "/dashboard/approvals/ord-held/decide", url.Values{"decision": {"approve"}, "confirm": {"ord"}}, hx)
		require.Equal(t, http.StatusOK, p.status, p.body)
		// Said at the box it is about, which has the focus (it was said at the reason box).
		assert.Equal(t, `"ord" is not this order's id. This order totals 25,000.00 EUR: type ord-held to approve it.`, p.doc.Find("[data-testid=decide-confirm-error]").Text())
		assert.Equal(t, 0, p.doc.Find("[data-testid=decide-error]").Length(), "nothing is said at the reason box")
		confirm := p.doc.Find("[data-testid=pending-row] [data-testid=decide-confirm]")
		assert.Equal(t, 1, confirm.Length(), "the card stays, asking again")
		assert.Equal(t, "true", confirm.AttrOr("aria-invalid", ""))
		assert.Equal(t, p.doc.Find("[data-testid=decide-confirm-error]").AttrOr("id", "-"), confirm.AttrOr("aria-describedby", ""))
		_, focused := confirm.Attr("autofocus")
		assert.True(t, focused)
		_, reasonFocused := p.doc.Find("[data-testid=decide-reason]").Attr("autofocus")
		assert.False(t, reasonFocused)
		p = d.request(t, d.client, "POST", "/dashboard/approvals/ord-held/decide", url.Values{"decision": {"approve"}}, hx)
		assert.Equal(t, "This order totals 25,000.00 EUR: type ord-held to approve it.", p.doc.Find("[data-testid=decide-confirm-error]").Text())
		// What was typed stays in the boxes: an approval sent again after a mistyped id was
		// recorded without the reason typed before it.
		p = d.request(t, d.client, "POST", "/dashboard/approvals/ord-held/decide", url.Values{"decision": {"approve"}, "reason": {"checked by phone"}, "confirm": {"ord-hel"}}, hx)
		assert.Equal(t, "checked by phone", p.doc.Find("[data-testid=decide-reason]").AttrOr("value", ""))
		assert.Equal(t, "ord-hel", p.doc.Find("[data-testid=decide-confirm]").AttrOr("value", ""))
		// Enter in the id box sends the form's first button, Reject: with the id typed, a
		// reject decides nothing (it rejected orders their manager was approving).
		p = d.request(t, d.client, "POST", "/dashboard/approvals/ord-held/decide", url.Values{"decision": {"reject"}, "reason": {"checked by phone"}, "confirm": {"ord-held"}}, hx)
		require.Equal(t, http.StatusOK, p.status, p.body)
		assert.Contains(t, p.doc.Find("[data-testid=decide-confirm-error]").Text(), "nothing was decided. Press Approve to approve it")
		assert.Equal(t, "ord-held", p.doc.Find("[data-testid=decide-confirm]").AttrOr("value", ""))
		status, _ := d.decidedBy(t, "ord-held")
		assert.Equal(t, "awaiting_approval", status, "not rejected")
		// Without JS the page says it at the same box.
		p = d.request(t, d.client, "POST", "/dashboard/approvals/ord-held/decide", url.Values{"decision": {"approve"}, "csrf_token": {csrf}}, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, p.status)
		assert.Equal(t, "This order totals 25,000.00 EUR: type ord-held to approve it.", p.doc.Find("[data-order-id=ord-held] [data-testid=decide-confirm-error]").Text())
		status, _ = d.decidedBy(t, "ord-held")
		assert.Equal(t, "awaiting_approval", status)

		// The id in capitals is the id.
		p = d.request(t, d.client, "POST", "/dashboard/approvals/ord-held/decide", url.Values{"decision": {"approve"}, "confirm": {" ORD-HELD "}}, hx)
		require.Equal(t, http.StatusOK, p.status, p.body)
		assert.Equal(t, 1, p.doc.Find("[data-testid=decision-result]").Length())
		status, by := d.decidedBy(t, "ord-held")
		assert.Equal(t, "reserving_inventory", status)
		assert.Equal(t, managerEmail, by)
	})
}

// Notes are order events: the order page adds them, refuses an empty one next to the
// field, and shows them in the timeline, rebuilt from the log like every other entry.
func TestDashboardNotesAreOrderEvents(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	d.holdOrder(t, "ord-note", "carol@example.com")
	_, csrf := d.signIn(t, d.client, managerEmail, managerPassword)
	hx := map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf}

	p := d.request(t, d.client, "POST", "/dashboard/orders/ord-note/notes", url.Values{"text": {"   "}}, hx)
	require.Equal(t, http.StatusOK, p.status, p.body)
	assert.Contains(t, p.doc.Find("[data-testid=note-form] [data-testid=note-error]").Text(), "text")
	assert.Equal(t, "true", p.doc.Find("[data-testid=note-text]").AttrOr("aria-invalid", ""))

	p = d.request(t, d.client, "POST", "/dashboard/orders/ord-note/notes", url.Values{"text": {"customer called: travelling, card is real"}}, hx)
	require.Equal(t, http.StatusOK, p.status, p.body)
	assert.Equal(t, "Note added.", p.doc.Find("[data-testid=flash]").Text())
	assert.Equal(t, http.StatusForbidden, d.request(t, d.client, "POST", "/dashboard/orders/ord-note/notes", url.Values{"text": {"x"}}, map[string]string{"HX-Request": "true"}).status)
	assert.Equal(t, http.StatusNotFound, d.request(t, d.client, "POST", "/dashboard/orders/nope/notes", url.Values{"text": {"x"}}, hx).status)

	_, err := projections.Rebuild(context.Background(), d.pool, projections.Options{})
	require.NoError(t, err)
	p = d.request(t, d.client, "GET", "/dashboard/orders/ord-note", nil, nil)
	entry := p.doc.Find(`[data-testid=timeline-entry][data-event="order.note_added.v1"]`)
	require.Equal(t, 1, entry.Length(), p.body)
	assert.Contains(t, entry.Text(), "Note by "+managerEmail+": customer called: travelling, card is real")
	assert.Equal(t, "manager:"+managerEmail, entry.Find("[data-testid=timeline-actor]").Text())
	assert.Equal(t, 1, p.doc.Find("[data-testid=decide-form]").Length(), "a note decides nothing")
}
