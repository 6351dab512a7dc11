// Package metrics holds what every instrumented package shares for Prometheus: the
// namespace and latency buckets, a collector of values read from the database at scrape
// time, and one process's registry with the Go runtime, process and connection-pool
// collectors. Each package defines its own metrics with these and hands them to the host
// (Source); no metric is global, so four services in one test process keep four sets.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every Ordermill metric.
const Namespace = "ordermill"

// DurationBuckets are the histogram buckets of every latency, in seconds: 1 ms to 10 s.
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Source is anything with metrics of its own: the host registers them on its registry.
type Source interface {
	Collectors() []prometheus.Collector
}

// NewRegistry returns a process's registry with the Go runtime and process collectors and
// the statistics of pool.
func NewRegistry(pool *pgxpool.Pool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		poolCollector{pool},
	)
	return reg
}

// Handler serves reg in the Prometheus text format. A collector that fails (a query at
// scrape time) is reported in the log and left out; the others are still served. One
// scrape runs at a time, each of its reads within ScrapeTimeout: /metrics needs no credential, and a probe's
// thousands of scrapes at once took every connection of the pool from the customers'
// orders (placements at 17 times their time) and two gigabytes of memory. A few more wait
// their turn (a pair of Prometheus servers scraping one target, both answered), for at
// most MaxScrapeWait; beyond them a scrape is answered 503 at once, in the JSON error
// every service answers with, and Retry-After. Refused at once, the second of a pair was
// a plain-text 503, and the target looked down now and then. A client gone before its
// answer is not logged: that too was a line per metric family, a million lines a minute.
func Handler(reg *prometheus.Registry, errorLog promhttp.Logger) http.Handler {
	return &oneAtATime{turn: make(chan struct{}, 1), next: promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// No Timeout: promhttp's answers at the timeout while the gathering goes on, which
		// let the next scrape gather beside it (the review); the reads bound themselves.
		ErrorLog: quietOnHangUps{errorLog}, ErrorHandling: promhttp.ContinueOnError,
	})}
}

// MaxWaitingScrapes is how many scrapes wait while one runs; MaxScrapeWait how long each
// may wait.
const (
	MaxWaitingScrapes = 4
	MaxScrapeWait     = 10 * time.Second
)

// oneAtATime serves next to one request at a time, and has MaxWaitingScrapes wait.
type oneAtATime struct {
	turn    chan struct{}
	waiting atomic.Int32
	next    http.Handler
}

func (h *oneAtATime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.waiting.Add(1) > MaxWaitingScrapes {
		h.waiting.Add(-1)
		busy(w, "scrapes are running and waiting already")
		return
	}
	wait := time.NewTimer(MaxScrapeWait)
	defer wait.Stop()
	select {
	case h.turn <- struct{}{}:
		h.waiting.Add(-1)
	case <-wait.C:
		h.waiting.Add(-1)
		busy(w, "the scrapes before this one took too long")
		return
	case <-r.Context().Done():
		h.waiting.Add(-1)
		return
	}
	defer func() { <-h.turn }()
	h.next.ServeHTTP(w, r)
}

// busy answers 503 with the services' JSON error and Retry-After.
func busy(w http.ResponseWriter, why string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "5")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = fmt.Fprintf(w, `{"error":{"code":"unavailable","message":"%s: scrape again later"}}`+"\n", why)
}

// quietOnHangUps leaves out of the log the failures to send an answer to a client that
// has gone (a broken pipe, a reset connection).
type quietOnHangUps struct{ promhttp.Logger }

func (l quietOnHangUps) Println(v ...any) {
	for _, a := range v {
		if err, ok := a.(error); ok && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
			return
		}
	}
	l.Logger.Println(v...)
}

// ScrapeTimeout bounds the queries a scrape runs.
const ScrapeTimeout = 2 * time.Second

// FromQuery returns a collector whose values are read from the database when Prometheus
// scrapes, for what a query answers better than a counter in one process can (lag, orders
// waiting): collect sends metrics of descs. A failing query becomes an invalid metric,
// which the handler logs and leaves out. Whether the reads worked is itself a gauge,
// ordermill_scrape_reads_ok{reads=name}: while the database does not answer, the gauges
// are absent, and an alert on them (lag, dead letters open) would go silent; one on this
// one fires.
func FromQuery(name string, descs []*prometheus.Desc, collect func(ctx context.Context, ch chan<- prometheus.Metric) error) prometheus.Collector {
	ok := prometheus.NewDesc(prometheus.BuildFQName(Namespace, "scrape", "reads_ok"),
		"1 when the database reads behind a group of gauges worked at this scrape, 0 when they failed and the group's gauges are absent.",
		nil, prometheus.Labels{"reads": name})
	return queryCollector{ok, descs, collect}
}

type queryCollector struct {
	ok      *prometheus.Desc
	descs   []*prometheus.Desc
	collect func(ctx context.Context, ch chan<- prometheus.Metric) error
}

func (c queryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ok
	for _, d := range c.descs {
		ch <- d
	}
}

func (c queryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	err := c.collect(ctx, ch)
	worked := 1.0
	if err != nil {
		worked = 0
		ch <- prometheus.NewInvalidMetric(c.descs[0], err)
	}
	ch <- prometheus.MustNewConstMetric(c.ok, prometheus.GaugeValue, worked)
}
