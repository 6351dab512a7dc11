package metrics_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/metrics"
)

// One scrape runs at a time: another meanwhile is answered 503 at once instead of taking
// its own database connections (a probe's thousands at once took every connection of the
// pool from the customers' orders).
func TestScrapesRunOneAtATime(t *testing.T) {
	// started holds the first read's signal until the test takes it: unbuffered, a read
	// that began before the test waited dropped it, and both waited for ever (CI).
	started, release := make(chan struct{}, 1), make(chan struct{})
	desc := prometheus.NewDesc("ordermill_test_slow", "A gauge read slowly.", nil, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.FromQuery("slow", []*prometheus.Desc{desc}, func(ctx context.Context, ch chan<- prometheus.Metric) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, 1)
		return nil
	}))
	var logged bytes.Buffer
	srv := httptest.NewServer(metrics.Handler(reg, log.New(&logged, "", 0)))
	defer srv.Close()

	first := make(chan string, 1)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			first <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		first <- string(body)
	}()
	<-started
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a second scrape meanwhile")
	close(release)
	assert.Contains(t, <-first, "ordermill_test_slow 1")
	assert.Empty(t, logged.String())
}
