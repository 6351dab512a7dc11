package orders

import (
	"context"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/metrics"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/retention"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/orders/dashboard"
)

// Approval outcomes, the outcome label of ordermill_approval_decisions_total.
const (
	approvalApproved = "approved"
	approvalRejected = "rejected"
	approvalTimedOut = "timed_out" // the deadline passed without a decision
)

// serviceMetrics are the orders service's own metrics: what its orders and managers do
// (the webhooks' and emails' are the inbox's and the mailer's), and what its sweeps of
// expired rows delete. Order statuses are counted as the appends that change them
// commit (orderstream.Observer), in whichever process appends: the API and the saga
// both run here.
type serviceMetrics struct {
	entered      *prometheus.CounterVec
	decisions    *prometheus.CounterVec
	approvalWait prometheus.Histogram
	waiting      prometheus.Collector
	fromMemory   prometheus.Collector
	leaseHeld    prometheus.Collector
	retention    *retention.Metrics // the sweeps of the idempotency keys, the inbox, the sessions and the sign-in limits
}

func newServiceMetrics(s *Service) *serviceMetrics {
	m := &serviceMetrics{
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
		waiting: s.waitingCollector(),
		fromMemory: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "order_reads_from_memory_total",
			Help: "Reads of single orders answered from this process's memory, without a query (orderstream.Memory).",
		}, func() float64 { return float64(s.memory.Answered()) }),
		leaseHeld: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Name: "read_lease_held",
			Help: "1 while this process holds the read lease and answers reads of orders from memory, else 0.",
		}, func() float64 {
			if s.memory.Serving() {
				return 1
			}
			return 0
		}),
		retention: retention.NewMetrics(),
	}
	// Every outcome's series starts at 0: one made by its first count starts at 1, and
	// increase() over it is 0, so an alert on timed-out approvals missed the first after
	// each restart (a probe).
	for _, outcome := range []string{approvalApproved, approvalRejected, approvalTimedOut} {
		m.decisions.WithLabelValues(outcome)
	}
	return m
}

// Collectors are the service's metrics, for the host's registry.
func (s *Service) Collectors() []prometheus.Collector {
	m := s.metrics
	return slices.Concat([]prometheus.Collector{m.entered, m.decisions, m.approvalWait, m.waiting, m.fromMemory, m.leaseHeld},
		s.signinCollectors(), s.inbox.Collectors(), s.outbox.Collectors(), s.saga.Collectors(), m.retention.Collectors())
}

// signinCollectors export the dashboard's sign-in counters as
// ordermill_dashboard_signins_total, by outcome, so lockouts can be alerted on.
func (s *Service) signinCollectors() []prometheus.Collector {
	counter := func(outcome string, n func(dashboard.SignInCounts) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "dashboard_signins_total",
			Help:        "Dashboard sign-ins refused (a wrong email or password: 401), throttled (429, the password not checked) and lockouts begun (an account or an address locked), since the process started.",
			ConstLabels: prometheus.Labels{"outcome": outcome},
		}, func() float64 { return float64(n(s.SignInCounts())) })
	}
	return []prometheus.Collector{
		counter("refused", func(c dashboard.SignInCounts) int64 { return c.Refused }),
		counter("throttled", func(c dashboard.SignInCounts) int64 { return c.Throttled }),
		counter("locked_out", func(c dashboard.SignInCounts) int64 { return c.Lockouts }),
	}
}

// Observe makes every request and handler of the process report the statuses orders
// enter to the service's metrics, and append to orders through its memory.
func (s *Service) Observe(ctx context.Context) context.Context {
	return orderstream.WithMemory(orderstream.WithObserver(ctx, s.metrics), s.memory)
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

// restingStatuses are the statuses an order may rest in, every one but the ends: the
// lifecycle's waits for someone outside the system, and the steps that wait for a
// service's reply (reserving_inventory: the warehouse; awaiting_shipment: the delivery
// service). With those left out, a service down for good showed in no gauge: its orders
// piled up where nothing looked, and its consumer group's lag went with its processes
// (a probe: 100 orders in awaiting_shipment, every gauge quiet).
var restingStatuses = func() []string {
	var out []string
	for _, p := range order.Lifecycle() {
		if !p.Terminal {
			out = append(out, string(p.Status))
		}
	}
	return out
}()

var (
	waitingDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "orders", "waiting"),
		"Orders resting in each status that is not an end, now: the waits for someone outside, and the steps waiting for a service (from the read models).", []string{"status"}, nil)
	oldestWaitingDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "orders", "waiting_oldest_placed_seconds"),
		"Time since the oldest order resting in each status that is not an end was placed (0 when none rests there).", []string{"status"}, nil)
)

// waitingCollector reads the waiting orders at scrape time (projections.WaitingIn), so a
// scrape costs the same with a million orders as with ten. Every replica reports the same
// figures: aggregate with max.
func (s *Service) waitingCollector() prometheus.Collector {
	return metrics.FromQuery("orders_waiting", []*prometheus.Desc{waitingDesc, oldestWaitingDesc}, func(ctx context.Context, ch chan<- prometheus.Metric) error {
		waiting, err := projections.WaitingIn(ctx, s.pool, restingStatuses)
		for _, w := range waiting {
			ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, w.Count, w.Status)
			ch <- prometheus.MustNewConstMetric(oldestWaitingDesc, prometheus.GaugeValue, max(w.OldestSeconds, 0), w.Status)
		}
		return err
	})
}
