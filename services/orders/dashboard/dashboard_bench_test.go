package dashboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
	"github.com/stretchr/testify/require"
)

// benchOrders is how many orders the read models hold in the benchmark.
const benchOrders = 100_000

// seedReadModels bulk-inserts benchOrders order summaries (spread over 30 days, 1% held
// for approval with their pending_approvals rows) plus tickets and dead letters, the way a
// busy shop's read models would look. It writes the read models directly: the benchmark
// measures reading and rendering, not the projections.
func seedReadModels(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO orders.order_summaries (order_id, status, customer_id, customer_email, new_customer,
			total_cents, currency, item_count, risk_score, created_at, updated_at, last_position)
		SELECT format('%s-%s', md5(i::text), i), s.status, 'c' || (i % 20000), 'customer' || (i % 20000) || '@example.com',
			i % 7 = 0, 1000 + (i * 7919) % 5000000, 'USD', 1 + i % 5, 10 + (i * 31) % 91,
			now() - make_interval(secs => (i * 30 * 86400.0 / $1)), now(), i
		FROM generate_series(1, $1) AS i
		CROSS JOIN LATERAL (SELECT CASE
			WHEN i % 100 = 0 THEN 'awaiting_approval'
			WHEN i % 10 = 1 THEN 'awaiting_payment'
			WHEN i % 20 = 2 THEN 'cancelled'
			WHEN i % 50 = 3 THEN 'rejected'
			WHEN i % 25 = 4 THEN 'awaiting_delivery'
			ELSE 'completed' END AS status) s`, benchOrders)
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO orders.pending_approvals (order_id, status, customer_id, customer_email, new_customer, total_cents,
			currency, items, risk_score, risk_threshold, risk_factors, held_since, approval_deadline, last_position)
		SELECT order_id, 'awaiting_approval', customer_id, customer_email, new_customer, total_cents, currency,
			'[{"sku":"SKU-002","quantity":1},{"sku":"SKU-001","quantity":3}]', 70 + risk_score % 30, 70,
			'[{"code":"amount_over_20000","description":"order total exceeds $20,000","points":50},{"code":"new_customer","description":"first order from this customer","points":25}]',
			created_at, created_at + interval '24 hours', last_position
		FROM orders.order_summaries WHERE status = 'awaiting_approval'
		ON CONFLICT (order_id) DO NOTHING`)
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO orders.support_tickets (order_id, kind, reason, created_at)
		SELECT order_id, 'delivery_failed', 'the courier reported the delivery as failed', created_at
		FROM orders.order_summaries WHERE status = 'awaiting_delivery' LIMIT 2000`)
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
		SELECT 'order_events', 'projection.order_summaries', md5(i::text), '{}',
			jsonb_build_object('correlation_id', 'ord-' || i, 'name', 'order.placed.v1'), 'boom'
		FROM generate_series(1, 500) AS i`)
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, `ANALYZE`)
	require.NoError(tb, err)
}

// BenchmarkDashboardPages measures a signed-in page render end to end (session lookup,
// read-model queries, templ rendering) through the orders handler at 100,000 orders:
//
//	go test -run '^$' -bench BenchmarkDashboardPages -benchtime 200x ./services/orders/
//
// Each page reports its p50 and p99 in milliseconds; the target is p99 < 50 ms.
func BenchmarkDashboardPages(b *testing.B) {
	d := newDash(b)
	// A customer with earlier orders in the seed, so the page reads a history.
	d.holdOrder(b, "bench-detail", "customer4243@example.com")
	seedReadModels(b, d.pool)
	c := orderstest.Client(b)
	res, _ := d.signIn(b, c, managerEmail, managerPassword)
	require.Equal(b, http.StatusSeeOther, res.status, res.body)
	dashURL, err := url.Parse(d.srv.URL + "/dashboard/")
	require.NoError(b, err)
	cookies := c.Jar.Cookies(dashURL)
	require.NotEmpty(b, cookies)

	// A cursor 90,000 orders deep, as the list's "next page" link would carry it.
	var deepAt time.Time
	var deepID string
	require.NoError(b, d.pool.QueryRow(context.Background(), `SELECT created_at, order_id FROM orders.order_summaries
		ORDER BY created_at DESC, order_id DESC OFFSET 90000 LIMIT 1`).Scan(&deepAt, &deepID))
	deep := url.QueryEscape(deepAt.UTC().Format(time.RFC3339Nano) + "|" + deepID)

	handler := d.srv.Config.Handler
	// rows is how many times each page must show its marker: proof the page rendered the
	// data it was asked for, not an empty result.
	pages := []struct {
		name, path, marker string
		rows               int
	}{
		{"overview", "/dashboard", `data-testid="count-completed" data-count="78000"`, 1},
		{"pending", "/dashboard/approvals", `data-testid="pending-row"`, 100},
		{"orders", "/dashboard/orders", `data-testid="order-row"`, 50},
		{"orders-by-status", "/dashboard/orders?status=awaiting_payment", `data-testid="status-badge" data-status="awaiting_payment"`, 50},
		{"orders-search-email", "/dashboard/orders?q=customer4242%40", `data-testid="order-row"`, 5},
		{"orders-search-id", "/dashboard/orders?q=" + deepID[:10], `data-testid="order-row"`, 1},
		// Issue 12's search: anywhere in the id, customer id or email, any case (trigram index).
		{"orders-search-anywhere", "/dashboard/orders?q=STOMER4242%40EXAM", `data-testid="order-row"`, 5},
		{"orders-search-inside-id", "/dashboard/orders?q=" + deepID[3:13], `data-testid="order-row"`, 1},
		{"orders-search-common", "/dashboard/orders?q=example.com", `data-testid="order-row"`, 50},
		{"orders-deep-page", "/dashboard/orders?cursor=" + deep, `data-testid="order-row"`, 50},
		{"order-detail", "/dashboard/orders/bench-detail", `data-testid="timeline-entry"`, 3},
		{"tickets", "/dashboard/tickets", `data-testid="ticket"`, 200},
		{"dead-letters", "/dashboard/dead-letters", `data-testid="dead-letter"`, 200},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, p.path, nil)
				for _, ck := range cookies {
					req.AddCookie(ck)
				}
				rec := httptest.NewRecorder()
				start := time.Now()
				handler.ServeHTTP(rec, req)
				took = append(took, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p.path, rec.Code, rec.Body.String())
				}
				if n := strings.Count(rec.Body.String(), p.marker); n != p.rows {
					b.Fatalf("%s shows %d × %s, want %d", p.path, n, p.marker, p.rows)
				}
			}
			slices.Sort(took)
			quantile := func(q float64) float64 {
				return float64(took[int(q*float64(len(took)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(quantile(0.50), "p50-ms")
			b.ReportMetric(quantile(0.99), "p99-ms")
			b.ReportMetric(0, "ns/op") // the quantiles say more than the mean
		})
	}
}
