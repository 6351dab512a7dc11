package dashboard_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
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

// An export reads its rows a page at a time, each page after the last row of the one
// before, in every sort, and holds no connection while the client is slow to take them: a
// probe stopped order intake with six downloads that read nothing, each holding a
// connection of the pool on its query's cursor.
func TestOrdersExportPagesAndHoldsNoConnectionForASlowClient(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	const n = 1_234 // more than two pages
	_, err := d.pool.Exec(t.Context(), `
		INSERT INTO orders.order_summaries (order_id, status, customer_id, customer_email, new_customer,
			total_cents, currency, item_count, risk_score, cancel_reason, created_at, updated_at, last_position)
		SELECT format('ord-%s', lpad(i::text, 5, '0')), 'completed', 'cust-' || i, 'c' || i || '@example.com', false,
			(i % 97) * 100, 'USD', 1, CASE WHEN i % 5 = 0 THEN NULL ELSE i % 100 END, '',
			now() - (i % 300) * interval '1 minute', now(), i
		FROM generate_series(1, $1) AS i`, n)
	require.NoError(t, err)
	c := orderstest.Client(t)
	d.signIn(t, c, managerEmail, managerPassword)
	for _, query := range []string{"", "dir=asc", "sort=total", "sort=risk&dir=asc"} {
		p := d.request(t, c, "GET", "/dashboard/orders.csv?"+query, nil, nil)
		require.Equal(t, http.StatusOK, p.status)
		records, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
		require.NoError(t, err)
		require.Len(t, records, n+1, query)
		seen := map[string]bool{}
		for _, r := range records[1:] {
			assert.False(t, seen[r[0]], "%s: %s twice", query, r[0])
			seen[r[0]] = true
		}
		if query == "sort=total" {
			for i := 2; i < len(records); i++ {
				prev, next := records[i-1][4], records[i][4]
				var a, b float64
				_, _ = fmt.Sscan(prev, &a)
				_, _ = fmt.Sscan(next, &b)
				require.GreaterOrEqual(t, a, b, "largest first, across pages")
			}
		}
	}

	// A client that asks and reads nothing: the server fills the socket's buffers and
	// waits on it, with no query of the export left open. (Enough rows that the buffers
	// cannot take them all: about 9 MB of CSV.)
	_, err = d.pool.Exec(t.Context(), `
		INSERT INTO orders.order_summaries (order_id, status, customer_id, customer_email, new_customer,
			total_cents, currency, item_count, risk_score, cancel_reason, created_at, updated_at, last_position)
		SELECT format('ord-big-%s', i), 'completed', repeat('c', 40) || i, repeat('e', 40) || i || '@example.com', false,
			100, 'USD', 1, 10, '', now(), now(), $1 + i
		FROM generate_series(1, 50000) AS i`, n)
	require.NoError(t, err)
	req, conn := exportConn(t, d, c)
	if tcp, ok := conn.(*net.TCPConn); ok {
		require.NoError(t, tcp.SetReadBuffer(4096))
	}
	require.NoError(t, req.Write(conn))
	status, err := bufio.NewReader(io.LimitReader(conn, 64)).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "HTTP/1.1 200 OK\r\n", status, "the export began")
	var db string
	require.NoError(t, d.pool.QueryRow(t.Context(), `SELECT current_database()`).Scan(&db))
	// Once the buffers are full the export waits on the client alone: no query of it stays
	// open (the old one stayed active, writing to a client that did not read, for good).
	require.Eventually(t, func() bool {
		var open int
		err := d.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = $1 AND state = 'active' AND query LIKE '%order_summaries%' AND pid <> pg_backend_pid()`, db).Scan(&open)
		return err == nil && open == 0
	}, 10*time.Second, 10*time.Millisecond, "no export query waits on the client")
	var waiting int
	require.NoError(t, d.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = $1 AND wait_event = 'ClientWrite'`, db).Scan(&waiting))
	assert.Zero(t, waiting)
}

// An export that cannot read its next page is cut off, never ended: a client that gets a
// clean end of a chunked body takes what it has for the whole file. Here the next page's
// query is cancelled while the first page is still on its way to the client.
func TestOrdersExportThatCannotGoOnIsCutOffNotEnded(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	// A first page far bigger than the sockets' buffers (500 rows of 20 kB), so the server
	// is still writing it, with no query open, when the table is locked; then more rows.
	_, err := d.pool.Exec(t.Context(), `
		INSERT INTO orders.order_summaries (order_id, status, customer_id, customer_email, new_customer,
			total_cents, currency, item_count, risk_score, cancel_reason, created_at, updated_at, last_position)
		SELECT format('ord-%s', lpad(i::text, 5, '0')), 'completed', 'cust-' || i,
			CASE WHEN i <= 500 THEN repeat('e', 20000) ELSE '' END || i || '@example.com', false,
			100, 'USD', 1, 10, '', now() - i * interval '1 second', now(), i
		FROM generate_series(1, 600) AS i`)
	require.NoError(t, err)
	c := orderstest.Client(t)
	d.signIn(t, c, managerEmail, managerPassword)
	req, conn := exportConn(t, d, c)
	require.NoError(t, req.Write(conn))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the export began")

	// The first page is read, so the second page's query runs; it waits on the lock.
	lock, err := d.pool.Begin(t.Context())
	require.NoError(t, err)
	defer func() { _ = lock.Rollback(context.Background()) }()
	_, err = lock.Exec(t.Context(), `LOCK TABLE orders.order_summaries IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	type result struct {
		body []byte
		err  error
	}
	read := make(chan result, 1)
	go func() {
		body, err := io.ReadAll(resp.Body)
		read <- result{body, err}
	}()
	var db string
	require.NoError(t, d.pool.QueryRow(t.Context(), `SELECT current_database()`).Scan(&db))
	var waiting int
	require.Eventually(t, func() bool {
		err := d.pool.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity
			WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE '%order_summaries%'`, db).Scan(&waiting)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the second page's query waits on the lock")
	var cancelled bool
	require.NoError(t, d.pool.QueryRow(t.Context(), `SELECT pg_cancel_backend($1)`, waiting).Scan(&cancelled))
	require.True(t, cancelled)

	got := <-read
	require.ErrorIs(t, got.err, io.ErrUnexpectedEOF, "the download is cut, not ended")
	records, err := csv.NewReader(strings.NewReader(string(got.body))).ReadAll()
	require.NoError(t, err, "what came is whole rows")
	assert.Len(t, records, 501, "the header and the first page, nothing after")
}

// exportConn is the signed-in client c's export request and a connection of its own to
// send it on, for a test that reads the answer at its own pace.
func exportConn(t *testing.T, d *dash, c *http.Client) (*http.Request, net.Conn) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", d.srv.URL+"/dashboard/orders.csv", nil)
	require.NoError(t, err)
	for _, ck := range c.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	conn, err := net.Dial("tcp", d.srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return req, conn
}

// The list colours risk by the threshold the saga holds orders at, whatever it is: at
// RISK_THRESHOLD=0 every order waits for a manager, and a score of 15 is no low risk (the
// list fell back to 70 for a 0).
func TestOrdersListColoursByAThresholdOfZero(t *testing.T) {
	t.Parallel()
	d := newDashWith(t, orders.Config{Workflow: sagas.Config{RiskThreshold: 0, ApprovalTimeout: time.Hour, PaymentTimeout: time.Hour, DeliveryTimeout: time.Hour}})
	_, err := d.pool.Exec(context.Background(), `
		INSERT INTO orders.order_summaries (order_id, status, customer_id, customer_email, new_customer,
			total_cents, currency, item_count, risk_score, cancel_reason, created_at, updated_at, last_position)
		VALUES ('ord-zero-1', 'awaiting_approval', 'cust-1', 'a@example.com', false, 1250, 'USD', 1, 15, '', now(), now(), 1)`)
	require.NoError(t, err)
	c := orderstest.Client(t)
	d.signIn(t, c, managerEmail, managerPassword)
	p := d.request(t, c, "GET", "/dashboard/orders", nil, nil)
	require.Equal(t, http.StatusOK, p.status, p.body)
	assert.Equal(t, "risk-high", p.doc.Find(`[data-order-id="ord-zero-1"] [data-testid=order-risk]`).AttrOr("data-band", ""))
}
