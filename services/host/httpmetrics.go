package host

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/eventstore/metrics"
	"github.com/ordermill/ordermill/services/httpx"
)

// httpMetrics count a process's HTTP requests by route pattern (never the path, which
// carries ids) and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics() httpMetrics {
	return httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "http_requests_total",
			Help: `HTTP requests answered, by route pattern ("POST /api/orders", "unmatched" for a request no route took: none serves its path and method, or it was refused before routing, as a body too large or a malformed query) and status code.`,
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Name: "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: metrics.DurationBuckets,
		}, []string{"route"}),
	}
}

func (m httpMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration}
}

type routeKey struct{}

// instrument counts and times every request h serves. The route is the pattern the
// innermost ServeMux matched, which captureRoute reads back: the request object the
// muxes set Pattern on is a copy of the one seen here (middleware in between derives
// new requests for their contexts).
func (m httpMetrics) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := new(string)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), routeKey{}, route)))
		pattern := *route
		if pattern == "" {
			pattern = "unmatched"
		}
		m.requests.WithLabelValues(pattern, strconv.Itoa(rec.status)).Inc()
		m.duration.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
	})
}

// captureRoute wraps the process's outermost mux: muxes set Pattern and the path's
// values on the request in place, so once mux has served r (and the service's own mux
// under it has), r.Pattern is the innermost match. A request only a mux's catch-all
// answered (404, 405) has no route: httpx.Route says "", which instrument counts as
// "unmatched". Lines logged while r is handled name the order its path names ({id} or
// {orderId}: every such route is about an order).
func captureRoute(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(logging.With(r.Context(), func() []any { return logging.Order(orderInPath(r)) }))
		defer func() { // also when the handler panics: recovered answers, and it is counted
			if route, ok := r.Context().Value(routeKey{}).(*string); ok {
				*route = httpx.Route(r)
			}
		}()
		mux.ServeHTTP(w, r)
	})
}

// orderInPath is the order id r's route names, if any.
func orderInPath(r *http.Request) string {
	if id := r.PathValue("id"); id != "" {
		return id
	}
	return r.PathValue("orderId")
}

// metricsErrors is promhttp's error log as a line of the process's log: a fixed message
// with the error under err, once a minute with how often it came since. promhttp's own
// text ("error gathering metrics: …") was the whole message of a new line at every scrape
// while a read was slow (a probe).
type metricsErrors struct {
	logger  *slog.Logger
	repeats *logging.Repeats
}

func (m metricsErrors) Println(v ...any) {
	if due, missed := m.repeats.Due("metrics"); due {
		m.logger.Warn("gathering metrics failed: the scrape leaves out what failed", "err", strings.TrimSpace(fmt.Sprintln(v...)),
			"repeated_since_last_line", missed)
	}
}
