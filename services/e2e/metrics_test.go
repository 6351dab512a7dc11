package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/warehouse"
)

// scrape reads a service's /metrics, which must parse as Prometheus's text format.
func (s *system) scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, "the exposition parses")
	return families
}

// series sums the series of family name whose labels include want: a counter's or
// gauge's value, a histogram's count. found says whether any series matched.
func series(families map[string]*dto.MetricFamily, name string, want map[string]string) (sum float64, found bool) {
	return seriesOf(families, name, want, false)
}

// seriesOf is series, summing a histogram's observations instead of counting them when
// observed is set.
func seriesOf(families map[string]*dto.MetricFamily, name string, want map[string]string, observed bool) (sum float64, found bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil && observed:
			sum += m.Histogram.GetSampleSum()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

// expectation is a series that must reach at least min (or, with exact, equal it).
type expectation struct {
	name   string
	labels map[string]string
	min    float64
	exact  bool
	// observed takes a histogram's sum of what it observed, not how many observations.
	observed bool
}

func (e expectation) check(families map[string]*dto.MetricFamily) error {
	v, found := seriesOf(families, e.name, e.labels, e.observed)
	switch {
	case !found:
		return fmt.Errorf("%s%v: no series", e.name, e.labels)
	case e.exact && v != e.min:
		return fmt.Errorf("%s%v = %v, want %v", e.name, e.labels, v, e.min)
	case v < e.min:
		return fmt.Errorf("%s%v = %v, want at least %v", e.name, e.labels, v, e.min)
	}
	return nil
}

// waitMetrics scrapes base until every expectation holds: counters move once the
// transaction they count commits, a moment after the API shows its effect.
func (s *system) waitMetrics(t *testing.T, service, base string, want []expectation) map[string]*dto.MetricFamily {
	t.Helper()
	var problems []string
	var families map[string]*dto.MetricFamily
	shown := poll(20*time.Millisecond, func() bool {
		families = s.scrape(t, base)
		problems = problems[:0]
		for _, e := range want {
			if err := e.check(families); err != nil {
				problems = append(problems, err.Error())
			}
		}
		return len(problems) == 0
	})
	if !shown {
		t.Fatalf("%s /metrics never showed:\n%s", service, strings.Join(problems, "\n"))
	}
	return families
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// Issue 10: scenario 1 (and an approved high-risk order) run, every service's /metrics
// shows what happened, by name and labels, and the consumers' lag comes back to 0.
func TestMetricsFollowScenario1(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	body, header := signedPayment(t, "whsec_attacker", map[string]string{"orderId": id, "status": "completed"})
	require.Equal(t, http.StatusUnauthorized, s.postPayment(t, body, header).StatusCode())
	// Signed, but a body the inbox refuses: a provider whose format changed shows.
	body, header = signedPayment(t, paymentSecret, map[string]string{"orderId": id})
	require.Equal(t, http.StatusBadRequest, s.postPayment(t, body, header).StatusCode())
	// A wrong password on the dashboard is counted where an alert can see it.
	browser := browserClient(t)
	signin := fetch(t, browser, "GET", s.orders+"/dashboard/signin", nil)
	require.Equal(t, http.StatusOK, signin.status)
	require.Equal(t, http.StatusUnauthorized, fetch(t, browser, "POST", s.orders+"/dashboard/signin", url.Values{
		"email": {"nobody@example.com"}, "password": {"not-the-password"}, "csrf_token": {signin.csrfToken(t)}}).status)
	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_delivery")
	s.courier(t, id, "in_transit")
	s.courier(t, id, "delivered")
	s.waitStatus(t, id, "completed")
	s.waitNotification(t, id, "order_completed")

	placing := time.Now()
	held := s.placeOrder(t, highRisk)
	placed := time.Now()
	s.waitStatus(t, held, "awaiting_approval")
	require.Equal(t, http.StatusOK, s.decide(t, managerToken, held, true, "known customer").StatusCode())
	s.waitStatus(t, held, "awaiting_payment")
	s.stock(t, "SKU-001")

	handled := func(group string) expectation {
		return expectation{name: "ordermill_messages_handled_total", labels: labels("consumer_group", group, "outcome", "handled"), min: 1}
	}
	common := []expectation{
		{name: "go_goroutines", min: 1},
		{name: "ordermill_db_pool_max_connections", min: 1},
		{name: "ordermill_db_pool_acquires_total", min: 1},
		{name: "ordermill_db_pool_new_connections_total", min: 1},
		// Each connection opened for an acquire (none is open at the start) is an acquire
		// that found the pool empty and waited: what the README's alert on waiting watches.
		{name: "ordermill_db_pool_empty_acquires_total", min: 1},
		{name: "ordermill_db_pool_acquire_wait_seconds_total", min: 0.0001},
		{name: "ordermill_http_requests_total", labels: labels("route", "GET /metrics", "status", "200"), min: 1},
	}
	orders := append(common,
		expectation{name: "ordermill_http_requests_total", labels: labels("route", "POST /api/orders", "status", "201"), min: 2, exact: true},
		expectation{name: "ordermill_http_request_duration_seconds", labels: labels("route", "GET /api/orders/{id}"), min: 1},
		expectation{name: "ordermill_webhooks_total", labels: labels("provider", "payment", "outcome", "accepted"), min: 1, exact: true},
		expectation{name: "ordermill_webhooks_total", labels: labels("provider", "payment", "outcome", "bad_signature"), min: 1, exact: true},
		expectation{name: "ordermill_webhooks_total", labels: labels("provider", "payment", "outcome", "invalid"), min: 1, exact: true},
		expectation{name: "ordermill_dashboard_signins_total", labels: labels("outcome", "refused"), min: 1, exact: true},
		expectation{name: "ordermill_dashboard_signins_total", labels: labels("outcome", "locked_out"), min: 0, exact: true},
		expectation{name: "ordermill_webhooks_total", labels: labels("provider", "delivery", "outcome", "accepted"), min: 2, exact: true},
		expectation{name: "ordermill_orders_entered_total", labels: labels("status", "placed"), min: 2, exact: true},
		expectation{name: "ordermill_orders_entered_total", labels: labels("status", "awaiting_approval"), min: 1, exact: true},
		expectation{name: "ordermill_orders_entered_total", labels: labels("status", "awaiting_payment"), min: 2, exact: true},
		expectation{name: "ordermill_orders_entered_total", labels: labels("status", "completed"), min: 1, exact: true},
		// The one orders process holds the read lease, and answers the tests' reads of
		// single orders from memory.
		expectation{name: "ordermill_read_lease_held", min: 1, exact: true},
		expectation{name: "ordermill_order_reads_from_memory_total", min: 1},
		// Every placement, accepted webhook and decision ran the saga at once: the two
		// placements, the payment, the courier's two updates and the approval (the refused
		// webhooks never reached it).
		expectation{name: "ordermill_saga_run_now_calls", min: 6, exact: true, observed: true},
		expectation{name: "ordermill_saga_run_now_total", labels: labels("outcome", "handled"), min: 6, exact: true},
		// The approved order waits for its payment since its placement; none waits for approval.
		expectation{name: "ordermill_orders_waiting_oldest_placed_seconds", labels: labels("status", "awaiting_payment"), min: time.Since(placed).Seconds()},
		expectation{name: "ordermill_orders_waiting_oldest_placed_seconds", labels: labels("status", "awaiting_approval"), min: 0, exact: true},
		expectation{name: "ordermill_approval_decisions_total", labels: labels("outcome", "approved"), min: 1, exact: true},
		expectation{name: "ordermill_approval_wait_seconds", min: 1, exact: true},
		expectation{name: "ordermill_emails_total", labels: labels("kind", "order_completed", "outcome", "recorded"), min: 1, exact: true},
		expectation{name: "ordermill_orders_waiting", labels: labels("status", "awaiting_payment"), min: 1, exact: true},
		expectation{name: "ordermill_orders_waiting", labels: labels("status", "awaiting_delivery"), min: 0, exact: true},
		expectation{name: "ordermill_orders_waiting", labels: labels("status", "awaiting_shipment"), min: 0, exact: true},
		expectation{name: "ordermill_orders_waiting", labels: labels("status", "reserving_inventory"), min: 0, exact: true},
		handled(sagas.ConsumerGroup),
		handled(projections.ConsumerGroup),
		expectation{name: "ordermill_message_batch_duration_seconds", labels: labels("consumer_group", sagas.ConsumerGroup, "topic", "reservation_events"), min: 1},
		// What the README's alerts watch is there at 0 before it first happens, or
		// increase() misses the first after a restart (a probe).
		expectation{name: "ordermill_approval_decisions_total", labels: labels("outcome", "timed_out"), min: 0, exact: true},
		expectation{name: "ordermill_webhooks_total", labels: labels("provider", "delivery", "outcome", "bad_signature"), min: 0, exact: true},
		expectation{name: "ordermill_webhooks_total", labels: labels("provider", "payment", "outcome", "unknown_order"), min: 0, exact: true},
		expectation{name: "ordermill_emails_total", labels: labels("kind", "order_confirmed", "outcome", "failed"), min: 0, exact: true},
	)
	services := []struct {
		name, base string
		want       []expectation
	}{
		{"orders", s.orders, orders},
		{"payments", s.payments, append(common, handled(payments.ConsumerGroup),
			expectation{name: "ordermill_http_requests_total", labels: labels("route", "POST /api/payments/process", "status", "200"), min: 1, exact: true})},
		{"warehouse", s.warehouse, append(common, handled(warehouse.ConsumerGroup),
			expectation{name: "ordermill_http_requests_total", labels: labels("route", "GET /api/inventory", "status", "200"), min: 1})},
		{"delivery", s.delivery, append(common, handled(delivery.ConsumerGroup),
			expectation{name: "ordermill_http_requests_total", labels: labels("route", "POST /api/shipments/{orderId}/simulate", "status", "200"), min: 2, exact: true})},
	}
	for _, svc := range services {
		families := s.waitMetrics(t, svc.name, svc.base, svc.want)
		poolAddsUp(t, svc.name, families)
		for _, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					assert.NotContains(t, []string{id, held}, l.GetValue(), "%s carries an order id", f.GetName())
				}
			}
		}
		// Every consumer of the service catches up: no message left behind on any topic.
		s.waitLag(t, svc.name, svc.base)
	}
	// The oldest waiting order's age is the held order's, in seconds: no more than the
	// time since the test began placing it.
	oldest, _ := series(s.scrape(t, s.orders), "ordermill_orders_waiting_oldest_placed_seconds", labels("status", "awaiting_payment"))
	assert.GreaterOrEqual(t, time.Since(placing).Seconds(), oldest, "placed no earlier than the test placed it")
}

// poolAddsUp checks that one scrape's connection pool figures agree with one another.
func poolAddsUp(t *testing.T, service string, families map[string]*dto.MetricFamily) {
	t.Helper()
	value := func(name string) float64 {
		v, found := series(families, "ordermill_db_pool_"+name, nil)
		require.True(t, found, "%s reports ordermill_db_pool_%s", service, name)
		return v
	}
	assert.LessOrEqual(t, value("acquired_connections")+value("idle_connections"), value("connections"), "%s: in use and idle are open", service)
	assert.LessOrEqual(t, value("connections"), value("max_connections"), "%s: no more open than the maximum", service)
	assert.LessOrEqual(t, value("empty_acquires_total"), value("acquires_total"), "%s: the acquires that waited are acquires", service)
}

// waitLag waits until every consumer lag series of base is 0, in messages and seconds.
func (s *system) waitLag(t *testing.T, service, base string) {
	t.Helper()
	var behind []string
	caughtUp := poll(20*time.Millisecond, func() bool {
		families := s.scrape(t, base)
		behind = behind[:0]
		f, ok := families["ordermill_consumer_lag_messages"]
		require.True(t, ok, "%s reports its consumers' lag", service)
		for _, m := range f.GetMetric() {
			if m.GetGauge().GetValue() != 0 {
				behind = append(behind, m.String())
			}
		}
		if v, _ := series(families, "ordermill_consumer_lag_seconds", nil); v != 0 {
			behind = append(behind, fmt.Sprintf("oldest unhandled message %vs old", v))
		}
		return len(behind) == 0
	})
	if !caughtUp {
		t.Fatalf("%s's consumers never caught up: %s", service, strings.Join(behind, "; "))
	}
}

// A deadline that ends an approval wait shows as a deadline fired and an approval timed
// out, counted once though the deadline queue, not a consumer batch, decided it.
func TestMetricsCountADeadlineThatEndsAnApprovalWait(t *testing.T) {
	opt := defaultOptions()
	opt.workflow.ApprovalTimeout = time.Second
	s := start(t, opt)
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "cancelled")
	s.waitMetrics(t, "orders", s.orders, []expectation{
		{name: "ordermill_deadlines_fired_total", labels: labels("topic", sagas.DeadlinesTopic, "name", sagas.DeadlineName(order.WaitApproval)), min: 1, exact: true},
		{name: "ordermill_approval_decisions_total", labels: labels("outcome", "timed_out"), min: 1, exact: true},
		{name: "ordermill_approval_wait_seconds", min: 1, exact: true},
		{name: "ordermill_orders_entered_total", labels: labels("status", "cancelled"), min: 1, exact: true},
		{name: "ordermill_messages_handled_total", labels: labels("topic", sagas.DeadlinesTopic, "outcome", "handled"), min: 1, exact: true},
	})
	s.waitLag(t, "orders", s.orders)
}

// The orders service's sweeps of expired rows show on /metrics, by table: the rows each
// deleted, its failures, and when it last swept the table through. Here the idempotency
// keys hold three expired keys and two live ones, and the inbox's sweep fails (its time
// column is gone): its failure is counted, and it has no time of a sweep that worked.
func TestMetricsShowTheSweeps(t *testing.T) {
	const keys, inbox = "orders.idempotency_keys", "orders.webhook_inbox"
	opt := defaultOptions()
	opt.prepare = func(ctx context.Context, db *pgxpool.Pool) error {
		_, err := db.Exec(ctx, `
			INSERT INTO orders.idempotency_keys (key, request_hash, order_id, created_at)
			SELECT 'k-' || i, 'h', 'o-' || i, now() - CASE WHEN i <= 3 THEN interval '2 days' ELSE interval '1 hour' END
			FROM generate_series(1, 5) i;
			ALTER TABLE orders.webhook_inbox RENAME COLUMN received_at TO received_at_gone`)
		return err
	}
	starting := time.Now()
	s := start(t, opt)
	families := s.waitMetrics(t, "orders", s.orders, []expectation{
		{name: "ordermill_retention_rows_swept_total", labels: labels("table", keys), min: 3, exact: true},
		{name: "ordermill_retention_sweep_errors_total", labels: labels("table", keys), min: 0, exact: true},
		{name: "ordermill_retention_last_sweep_timestamp_seconds", labels: labels("table", keys), min: float64(starting.Unix())},
		{name: "ordermill_retention_rows_swept_total", labels: labels("table", inbox), min: 0, exact: true},
		{name: "ordermill_retention_sweep_errors_total", labels: labels("table", inbox), min: 1},
	})
	last, _ := series(families, "ordermill_retention_last_sweep_timestamp_seconds", labels("table", keys))
	assert.LessOrEqual(t, last, float64(time.Now().UnixNano())/1e9, "swept no later than now")
	_, found := series(families, "ordermill_retention_last_sweep_timestamp_seconds", labels("table", inbox))
	assert.False(t, found, "no sweep of the inbox has worked")
	var left int
	require.NoError(t, s.db.QueryRow(t.Context(), `SELECT count(*) FROM orders.idempotency_keys`).Scan(&left))
	assert.Equal(t, 2, left, "the live keys are kept")
}

// The other periodic deletes show on /metrics as the idempotency keys' and the inbox's
// sweeps do, by table: the orders service's of the dashboard's expired sessions and of
// its sign-in limits quiet for a day, and the simulators' outbox, whose worker deletes
// the webhooks the orders service has answered at last or that are given up. Each
// deleted rows and said nothing on /metrics, so an operator could not see it run, or
// fail. Here three sessions have expired and one has not, two sign-in limits are a day
// and an hour quiet and one is recent, the payment simulator's outbox holds a webhook the
// orders service answers (404: no such order), and the courier simulator's worker fails
// at each try (its claim is refused). The payment service's sweep of its spent keys,
// kept for ever until 2026-12-08, shows alike: one spent 8 days ago, one an hour ago.
func TestMetricsShowTheSweepsOfSessionsSignInLimitsAndSimulatedWebhooks(t *testing.T) {
	const sessions, limits, outbox, spent = "orders.dashboard_sessions", "orders.signin_limits", "simulator_webhooks", "payments.spent_keys"
	opt := defaultOptions()
	opt.prepare = func(ctx context.Context, db *pgxpool.Pool) error {
		_, err := db.Exec(ctx, `
			INSERT INTO orders.managers (email, password_hash) VALUES ('ann@example.com', 'x');
			INSERT INTO orders.dashboard_sessions (token_hash, manager_id, csrf_token, expires_at)
			SELECT sha256(convert_to('s-' || i, 'UTF8')), (SELECT id FROM orders.managers), 'c',
				now() + CASE WHEN i <= 3 THEN interval '-1 minute' ELSE interval '1 hour' END
			FROM generate_series(1, 4) i;
			INSERT INTO orders.signin_limits (key, window_start, locked_until, updated_at)
			SELECT sha256(convert_to('k-' || i, 'UTF8')), t, t, t
			FROM generate_series(1, 3) i, LATERAL (SELECT now() - CASE WHEN i <= 2 THEN interval '25 hours' ELSE interval '1 hour' END AS t) quiet;
			INSERT INTO simulator_webhooks (kind, order_id, body, next_at) VALUES
				('payment', 'ord-nobody', '{"orderId": "ord-nobody", "status": "failed", "reason": "card declined"}', now()),
				('courier', 'ord-nobody', '{"orderId": "ord-nobody", "status": "delivered"}', now());
			INSERT INTO payments.spent_keys (call, subject, spent, spent_at) VALUES
				('refund', 'pi_last_week', 1, now() - interval '8 days'), ('refund', 'pi_an_hour_ago', 1, now() - interval '1 hour');
			CREATE FUNCTION refuse_courier_claims() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'the courier outbox refuses its claims'; END $$;
			CREATE TRIGGER refuse_courier_claims BEFORE UPDATE ON simulator_webhooks
				FOR EACH ROW WHEN (OLD.kind = 'courier') EXECUTE FUNCTION refuse_courier_claims()`)
		return err
	}
	starting := time.Now()
	s := start(t, opt)
	s.waitMetrics(t, "orders", s.orders, []expectation{
		{name: "ordermill_retention_rows_swept_total", labels: labels("table", sessions), min: 3, exact: true},
		{name: "ordermill_retention_sweep_errors_total", labels: labels("table", sessions), min: 0, exact: true},
		{name: "ordermill_retention_last_sweep_timestamp_seconds", labels: labels("table", sessions), min: float64(starting.Unix())},
		{name: "ordermill_retention_rows_swept_total", labels: labels("table", limits), min: 2, exact: true},
		{name: "ordermill_retention_sweep_errors_total", labels: labels("table", limits), min: 0, exact: true},
		{name: "ordermill_retention_last_sweep_timestamp_seconds", labels: labels("table", limits), min: float64(starting.Unix())},
	})
	s.waitMetrics(t, "payments", s.payments, []expectation{
		{name: "ordermill_retention_rows_swept_total", labels: labels("table", outbox), min: 1, exact: true},
		{name: "ordermill_retention_sweep_errors_total", labels: labels("table", outbox), min: 0, exact: true},
		{name: "ordermill_retention_last_sweep_timestamp_seconds", labels: labels("table", outbox), min: float64(starting.Unix())},
		{name: "ordermill_retention_rows_swept_total", labels: labels("table", spent), min: 1, exact: true},
		{name: "ordermill_retention_sweep_errors_total", labels: labels("table", spent), min: 0, exact: true},
		{name: "ordermill_retention_last_sweep_timestamp_seconds", labels: labels("table", spent), min: float64(starting.Unix())},
	})
	families := s.waitMetrics(t, "delivery", s.delivery, []expectation{
		{name: "ordermill_retention_rows_swept_total", labels: labels("table", outbox), min: 0, exact: true},
		{name: "ordermill_retention_sweep_errors_total", labels: labels("table", outbox), min: 1},
	})
	_, found := series(families, "ordermill_retention_last_sweep_timestamp_seconds", labels("table", outbox))
	assert.False(t, found, "no pass of the courier outbox has worked")
	var left struct{ sessions, limits, spent int }
	require.NoError(t, s.db.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM orders.dashboard_sessions), (SELECT count(*) FROM orders.signin_limits),
		(SELECT count(*) FROM payments.spent_keys)`).Scan(&left.sessions, &left.limits, &left.spent))
	assert.Equal(t, 1, left.sessions, "the live session is kept")
	assert.Equal(t, 1, left.limits, "the recent sign-in limit is kept")
	assert.Equal(t, 1, left.spent, "the key spent an hour ago is kept")
}
