package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The dead-letters page shows each letter's message (payload and metadata as indented
// JSON) and error; re-driving one, or a whole topic, needs the session's CSRF token and a
// confirmation, and is recorded with the manager's name.
func TestDashboardDeadLettersRedrive(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	c := orderstest.Client(t)
	_, csrf := d.signIn(t, c, managerEmail, managerPassword)
	ctx := context.Background()
	var first, second int64
	insert := `INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`
	require.NoError(t, d.pool.QueryRow(ctx, insert, "order_events.2", "projections", "msg-a",
		`{"streamId": "ord-dl", "name": "order.placed.v2"}`, `{"name": "order.placed.v2", "correlation_id": "ord-dl"}`, "projection exploded").Scan(&first))
	require.NoError(t, d.pool.QueryRow(ctx, insert, "payments_commands", "payments", "msg-b",
		`{"orderId": "ord-dl2"}`, `{"name": "payment.charge.v1"}`, "card network down").Scan(&second))

	page := d.request(t, c, "GET", "/dashboard/dead-letters", nil, nil)
	require.Equal(t, http.StatusOK, page.status, page.body)
	row := page.doc.Find(`[data-testid=dead-letter][data-id="` + itoa(first) + `"]`)
	require.Equal(t, 1, row.Length(), page.body)
	assert.Equal(t, "projection exploded", row.Find("[data-testid=dead-letter-error]").Text())
	detail := page.doc.Find(`[data-testid=dead-letter-detail][data-id="` + itoa(first) + `"]`)
	assert.Equal(t, "{\n  \"name\": \"order.placed.v2\",\n  \"streamId\": \"ord-dl\"\n}", detail.Find("[data-testid=dead-letter-payload]").Text())
	assert.Contains(t, detail.Find("[data-testid=dead-letter-metadata]").Text(), "\n  \"correlation_id\": \"ord-dl\"")
	assert.Equal(t, 2, page.doc.Find("[data-testid=dead-letter-topic]").Length())
	form := row.Find("[data-testid=redrive-form]")
	action, _ := form.Attr("action")
	assert.Equal(t, "/dashboard/dead-letters/"+itoa(first)+"/redrive", action)
	token, _ := form.Find("input[name=csrf_token]").Attr("value")
	assert.Equal(t, csrf, token, "the re-drive form carries the session's CSRF token")

	redriven := func() int {
		var n int
		require.NoError(t, d.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters WHERE redriven_at IS NOT NULL`).Scan(&n))
		return n
	}
	t.Run("without or with a wrong CSRF token it is forbidden", func(t *testing.T) {
		assert.Equal(t, http.StatusForbidden, d.request(t, c, "POST", action, url.Values{"confirm": {"yes"}}, nil).status)
		assert.Equal(t, http.StatusForbidden, d.request(t, c, "POST", action, url.Values{"confirm": {"yes"}, "csrf_token": {"wrong"}}, nil).status)
		assert.Equal(t, http.StatusUnauthorized, d.request(t, orderstest.Client(t), "POST", action, url.Values{"confirm": {"yes"}}, nil).status)
		assert.Zero(t, redriven())
	})
	t.Run("the button asks for a confirmation first", func(t *testing.T) {
		p := d.request(t, c, "POST", action, url.Values{"csrf_token": {csrf}}, nil)
		require.Equal(t, http.StatusOK, p.status, p.body)
		confirm := p.doc.Find("[data-testid=redrive-confirm]")
		require.Equal(t, 1, confirm.Length(), p.body)
		assert.Contains(t, confirm.Text(), "projection exploded")
		assert.Equal(t, 1, confirm.Find(`[data-testid=dead-letter][data-id="`+itoa(first)+`"]`).Length())
		// Its table names its columns as the page's does, for a screen reader too (it had
		// no header row).
		assert.Equal(t, columnHeads(page.doc.Find("[data-testid=dead-letters]")), columnHeads(confirm.Find("[data-testid=redrive-letters]")))
		var labels []string
		confirm.Find(`[data-testid=dead-letter] td`).Each(func(_ int, td *goquery.Selection) {
			labels = append(labels, td.AttrOr("data-label", ""))
		})
		assert.Equal(t, labels, columnHeads(confirm.Find("[data-testid=redrive-letters]")), "each column's head names what its cards label")
		f := confirm.Find("[data-testid=redrive-confirm-form]")
		v, _ := f.Find("input[name=confirm]").Attr("value")
		assert.Equal(t, "yes", v)
		tok, _ := f.Find("input[name=csrf_token]").Attr("value")
		assert.Equal(t, csrf, tok)
		assert.Zero(t, redriven(), "asking is not doing")
	})
	t.Run("confirmed, it is re-driven once and marked with who did it", func(t *testing.T) {
		p := d.request(t, c, "POST", action, url.Values{"csrf_token": {csrf}, "confirm": {"yes"}}, nil)
		require.Equal(t, http.StatusSeeOther, p.status, p.body)
		assert.Equal(t, "/dashboard/dead-letters?redriven=1", p.header.Get("Location"))
		assert.Equal(t, 1, redriven())
		var group string
		require.NoError(t, d.pool.QueryRow(ctx, `SELECT metadata->>'_ordermill_redrive_for' FROM "watermill_order_events.2" WHERE uuid = 'msg-a'`).Scan(&group))
		assert.Equal(t, "projections", group)
		again := d.request(t, c, "POST", action, url.Values{"csrf_token": {csrf}, "confirm": {"yes"}}, nil)
		assert.Equal(t, "/dashboard/dead-letters?redriven=0", again.header.Get("Location"))
		assert.Equal(t, 1, redriven())

		list := d.request(t, c, "GET", "/dashboard/dead-letters?redriven=1", nil, nil)
		assert.Contains(t, list.doc.Find("[data-testid=flash]").Text(), "1 dead letter(s) re-driven")
		done := list.doc.Find(`[data-testid=dead-letter][data-id="` + itoa(first) + `"]`)
		assert.Contains(t, done.Find("[data-testid=dead-letter-redriven]").Text(), "by "+managerEmail)
		assert.Zero(t, done.Find("[data-testid=redrive-form]").Length(), "a re-driven letter has no button")
	})
	t.Run("a whole topic, confirmed", func(t *testing.T) {
		p := d.request(t, c, "POST", "/dashboard/dead-letters/redrive", url.Values{"csrf_token": {csrf}, "topic": {"payments_commands"}}, nil)
		require.Equal(t, http.StatusOK, p.status, p.body)
		assert.Contains(t, p.doc.Find("[data-testid=redrive-confirm] h2").Text(), "all 1 open dead letters of payments_commands")
		assert.Equal(t, 1, redriven())
		confirm := url.Values{"csrf_token": {csrf}, "confirm": {"yes"}}
		p.doc.Find("[data-testid=redrive-confirm-form] input[type=hidden]").Each(func(_ int, in *goquery.Selection) {
			name, _ := in.Attr("name")
			value, _ := in.Attr("value")
			confirm.Set(name, value)
		})
		// A letter that fails while the manager reads the question is not among those
		// confirmed: it went back too, unreviewed (a review).
		var later int64
		require.NoError(t, d.pool.QueryRow(ctx, insert, "payments_commands", "payments", "msg-c",
			`{"orderId": "ord-dl3"}`, `{"name": "payment.charge.v1"}`, "card network down").Scan(&later))
		p = d.request(t, c, "POST", "/dashboard/dead-letters/redrive", confirm, nil)
		require.Equal(t, http.StatusSeeOther, p.status, p.body)
		assert.Equal(t, "/dashboard/dead-letters?redriven=1", p.header.Get("Location"))
		assert.Equal(t, 2, redriven())
		list := d.request(t, c, "GET", "/dashboard/dead-letters", nil, nil)
		assert.Equal(t, 1, list.doc.Find(`[data-testid=redrive-form]`).Length(), "the later letter waits for its own question")
		assert.Equal(t, 1, list.doc.Find(`[data-testid=dead-letter][data-id="`+itoa(later)+`"] [data-testid=redrive-form]`).Length())

		stale := url.Values{"csrf_token": {csrf}, "topic": {"payments_commands"}, "confirm": {"yes"}}
		assert.Equal(t, http.StatusBadRequest, d.request(t, c, "POST", "/dashboard/dead-letters/redrive", stale, nil).status,
			"a confirmation that names no letters re-drives none")
		assert.Equal(t, 2, redriven())
	})
}

// columnHeads are the texts of a table's column headers, those marked scope=col in its head.
func columnHeads(table *goquery.Selection) []string {
	var heads []string
	table.Find(`thead th[scope=col]`).Each(func(_ int, th *goquery.Selection) {
		heads = append(heads, th.Text())
	})
	return heads
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
