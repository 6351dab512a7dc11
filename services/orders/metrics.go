package orders

import (
	"context"
	"net/http"
	"path"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/metrics"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// Approval outcomes, the outcome label of ordermill_approval_decisions_total.
const (
	approvalApproved = "approved"
	approvalRejected = "rejected"
	approvalTimedOut = "timed_out" // the deadline passed without a decision
)

// outcomeBadSignature counts a webhook refused for a missing or wrong signature; unlike
// the other outcomes it is never recorded in the inbox.
const outcomeBadSignature = "bad_signature"

// Email outcomes, the outcome label of ordermill_emails_total.
const (
	emailSent     = "sent"     // accepted by the SMTP server
	emailFailed   = "failed"   // refused, or SMTP unreachable: never retried (at most once)
	emailRecorded = "recorded" // no SMTP configured: only logged
)

// serviceMetrics are the orders service's own metrics: what its webhooks, orders,
// managers and emails do. Order statuses are counted as the appends that change them
// commit (orderstream.Observer), in whichever process appends: the API and the saga
// both run here.
type serviceMetrics struct {
	webhooks     *prometheus.CounterVec
	entered      *prometheus.CounterVec
	decisions    *prometheus.CounterVec
	approvalWait prometheus.Histogram
	emails       *prometheus.CounterVec
	waiting      prometheus.Collector
}

func newServiceMetrics(s *Service) *serviceMetrics {
	return &serviceMetrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "webhooks_total",
			Help: "Provider webhooks received, by provider (payment, delivery) and outcome (accepted, duplicate, bad_signature, unknown_order).",
		}, []string{"provider", "outcome"}),
		entered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "orders_entered_total",
			Help: "Orders that entered each status.",
		}, []string{"status"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "approval_decisions_total",
			Help: "Approval waits ended, by outcome: approved, rejected, or timed_out (the deadline passed first).",
		}, []string{"outcome"}),
		approvalWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Name: "approval_wait_seconds",
			Help:    "How long an order waited for a manager's decision (or its deadline).",
			Buckets: []float64{1, 10, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 48 * 3600},
		}),
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "emails_total",
			Help: "Emails handled by the sender, by kind and outcome (sent, failed, recorded: no SMTP configured).",
		}, []string{"kind", "outcome"}),
		waiting: s.waitingCollector(),
	}
}

// Collectors are the service's metrics, for the host's registry.
func (s *Service) Collectors() []prometheus.Collector {
	m := s.metrics
	return []prometheus.Collector{m.webhooks, m.entered, m.decisions, m.approvalWait, m.emails, m.waiting}
}

// Observe makes every request and handler of the process report the statuses orders
// enter to the service's metrics.
func (s *Service) Observe(ctx context.Context) context.Context {
	return orderstream.WithObserver(ctx, s.metrics)
}

// Entered counts an order entering a status and, when it leaves the approval wait, the
// decision and how long it took.
func (m *serviceMetrics) Entered(t orderstream.Transition) {
	m.entered.WithLabelValues(string(t.To)).Inc()
	if t.From != order.StatusAwaitingApproval {
		return
	}
	outcome := approvalTimedOut
	switch t.To {
	case order.StatusReserving:
		outcome = approvalApproved
	case order.StatusRejected:
		outcome = approvalRejected
	}
	m.decisions.WithLabelValues(outcome).Inc()
	m.approvalWait.Observe(t.At.Sub(t.Since).Seconds())
}

// countWebhook counts a webhook on route /webhooks/<provider>.
func (s *Service) countWebhook(r *http.Request, outcome string) {
	s.metrics.webhooks.WithLabelValues(path.Base(r.URL.Path), outcome).Inc()
}

// waitStatuses are the statuses in which an order waits for someone outside the system.
var waitStatuses = []string{string(order.StatusAwaitingApproval), string(order.StatusAwaitingPayment), string(order.StatusAwaitingDelivery)}

var (
	waitingDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "orders", "waiting"),
		"Orders resting in each wait status now (from the order summaries read model).", []string{"status"}, nil)
	oldestWaitingDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "orders", "waiting_oldest_placed_seconds"),
		"Time since the oldest order resting in each wait status was placed (0 when none waits).", []string{"status"}, nil)
)

// waitingCollector reads the waiting orders at scrape time: their count from the
// trigger-kept order_counts, the oldest through the (status, created_at) index, so a
// scrape costs the same with a million orders as with ten. Every replica reports the same
// figures: aggregate with max.
func (s *Service) waitingCollector() prometheus.Collector {
	return metrics.FromQuery([]*prometheus.Desc{waitingDesc, oldestWaitingDesc}, func(ctx context.Context, ch chan<- prometheus.Metric) error {
		rows, err := s.pool.Query(ctx, `
			SELECT w.status, coalesce(c.n, 0)::float8,
				coalesce((SELECT extract(epoch FROM now() - min(created_at)) FROM orders.order_summaries WHERE status = w.status), 0)::float8
			FROM unnest($1::text[]) AS w(status)
			LEFT JOIN orders.order_counts c ON c.dimension = 'status' AND c.bucket = w.status`, waitStatuses)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var status string
			var n, oldest float64
			if err := rows.Scan(&status, &n, &oldest); err != nil {
				return err
			}
			ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, n, status)
			ch <- prometheus.MustNewConstMetric(oldestWaitingDesc, prometheus.GaugeValue, max(oldest, 0), status)
		}
		return rows.Err()
	})
}
