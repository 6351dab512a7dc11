package dashboard_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 12's orders list: the search matches anywhere in the order id, the customer id
// and the email, whatever the case; risk is coloured by band; a cancelled order says why;
// and the current filter downloads as CSV.
func TestOrdersListSearchColoursAndExport(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	_, err := d.pool.Exec(context.Background(), `
		INSERT INTO orders.order_summaries (order_id, status, customer_id, customer_email, new_customer,
			total_cents, currency, item_count, risk_score, cancel_reason, created_at, updated_at, last_position)
		VALUES ('ord-aaa-111', 'completed', 'cust-Zeta', 'Zoe.Smith@Example.com', false, 1250, 'USD', 1, 15, '', now() - interval '3 hours', now(), 1),
		       ('ord-bbb-222', 'cancelled', 'cust-omega', 'bob@example.org', false, 990000, 'EUR', 2, 55, 'timed_out', now() - interval '2 hours', now(), 2),
		       ('ord-ccc-333', 'rejected', 'cust-zeta-2', '=cmd@evil.example', true, 5000000, 'USD', 1, 85, 'rejected', now() - interval '1 hour', now(), 3)`)
	require.NoError(t, err)
	c := orderstest.Client(t)
	d.signIn(t, c, managerEmail, managerPassword)
	list := func(query string) []string {
		t.Helper()
		p := d.request(t, c, "GET", "/dashboard/orders?"+query, nil, nil)
		require.Equal(t, http.StatusOK, p.status, p.body)
		var out []string
		p.doc.Find(`[data-testid=order-row]`).Each(func(_ int, s *goquery.Selection) { out = append(out, s.AttrOr("data-order-id", "")) })
		return out
	}
	ids := func(q string) []string { t.Helper(); return list("q=" + q) }
	assert.Equal(t, []string{"ord-aaa-111"}, ids("SMITH"), "inside the email, any case")
	assert.Equal(t, []string{"ord-ccc-333", "ord-aaa-111"}, ids("ZETA"), "inside the customer id, newest first")
	assert.Equal(t, []string{"ord-bbb-222"}, ids("bb-22"), "inside the order id")
	assert.Empty(t, ids("%25"), "a LIKE wildcard is a plain character")

	p := d.request(t, c, "GET", "/dashboard/orders", nil, nil)
	row := func(id string) *goquery.Selection {
		return p.doc.Find(`[data-testid=order-row][data-order-id="` + id + `"]`)
	}
	assert.Equal(t, "risk-low", row("ord-aaa-111").Find(`[data-testid=order-risk]`).AttrOr("data-band", ""))
	assert.Equal(t, "risk-raised", row("ord-bbb-222").Find(`[data-testid=order-risk]`).AttrOr("data-band", ""))
	assert.Equal(t, "risk-high", row("ord-ccc-333").Find(`[data-testid=order-risk]`).AttrOr("data-band", ""))
	assert.Equal(t, "timed out: its approval or payment deadline passed", row("ord-bbb-222").Find(`[data-testid=order-why]`).Text())
	assert.Zero(t, row("ord-aaa-111").Find(`[data-testid=order-why]`).Length())

	// Columns sort, both ways, and keyset pages follow the sort.
	assert.Equal(t, []string{"ord-ccc-333", "ord-bbb-222", "ord-aaa-111"}, list("sort=total"))
	assert.Equal(t, []string{"ord-aaa-111", "ord-bbb-222", "ord-ccc-333"}, list("sort=total&dir=asc"))
	assert.Equal(t, []string{"ord-ccc-333", "ord-bbb-222", "ord-aaa-111"}, list("sort=risk"))
	assert.Equal(t, []string{"ord-aaa-111", "ord-bbb-222", "ord-ccc-333"}, list("dir=asc"), "placed, oldest first")
	assert.Equal(t, []string{"ord-aaa-111"}, list("sort=total&cursor="+url.QueryEscape("k:990000|ord-bbb-222")))
	sorted := d.request(t, c, "GET", "/dashboard/orders?sort=total", nil, nil)
	assert.Equal(t, "descending", sorted.doc.Find(`[data-testid=sort-total]`).AttrOr("aria-sort", ""))
	assert.Equal(t, "/dashboard/orders?dir=asc&sort=total", sorted.doc.Find(`[data-testid=sort-total-link]`).AttrOr("href", ""), "a second click turns it round")
	assert.Equal(t, "/dashboard/orders.csv?sort=total", sorted.doc.Find(`[data-testid=orders-export]`).AttrOr("href", ""))

	filtered := d.request(t, c, "GET", "/dashboard/orders?q=zeta", nil, nil)
	export := filtered.doc.Find(`[data-testid=orders-export]`).AttrOr("href", "")
	assert.Equal(t, "/dashboard/orders.csv?q=zeta", export, "the export carries the current filter")
	csvPage := d.request(t, c, "GET", export, nil, nil)
	require.Equal(t, http.StatusOK, csvPage.status)
	assert.Equal(t, "text/csv; charset=utf-8", csvPage.header.Get("Content-Type"))
	assert.Contains(t, csvPage.header.Get("Content-Disposition"), "attachment")
	records, err := csv.NewReader(strings.NewReader(csvPage.body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 3, csvPage.body)
	assert.Equal(t, []string{"order_id", "status", "customer_id", "customer_email", "total", "currency", "items", "risk_score", "cancel_reason", "created_at", "updated_at"}, records[0])
	assert.Equal(t, []string{"ord-ccc-333", "rejected", "cust-zeta-2", "'=cmd@evil.example", "50000.00", "USD", "1", "85", "rejected"}, records[1][:9],
		"a value a spreadsheet would run as a formula is quoted")
	assert.Equal(t, "ord-aaa-111", records[2][0])

	// Signed out, there is nothing to download.
	assert.Equal(t, http.StatusSeeOther, d.request(t, orderstest.Client(t), "GET", "/dashboard/orders.csv", nil, nil).status)
}
