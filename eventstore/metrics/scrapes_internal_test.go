package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One scrape runs at a time, so a flood of them cannot take the pool's connections from
// the customers' orders (a probe's thousands at once did). A few wait their turn and are
// answered (the second of a pair of Prometheus servers was refused in plain text, and the
// target looked down now and then); beyond them a scrape is refused at once, 503 in the
// services' JSON error, with Retry-After.
func TestScrapesRunOneAtATimeAndAFewWaitTheirTurn(t *testing.T) {
	var running, most atomic.Int32
	started, release := make(chan struct{}, 1), make(chan struct{})
	desc := prometheus.NewDesc("ordermill_test_slow", "A gauge read slowly.", nil, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(FromQuery("slow", []*prometheus.Desc{desc}, func(ctx context.Context, ch chan<- prometheus.Metric) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, 1)
		return nil
	}))
	var logged bytes.Buffer
	h := Handler(reg, log.New(&logged, "", 0))
	srv := httptest.NewServer(h)
	defer srv.Close()

	scrape := func() (int, http.Header, string) {
		resp, err := http.Get(srv.URL)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	bodies := make(chan string, 1+MaxWaitingScrapes)
	var wg sync.WaitGroup
	wg.Go(func() { _, _, body := scrape(); bodies <- body })
	<-started
	for range MaxWaitingScrapes {
		wg.Go(func() { _, _, body := scrape(); bodies <- body })
	}
	for h.(*oneAtATime).waiting.Load() < MaxWaitingScrapes {
		runtime.Gosched() // until every one of them waits its turn
	}

	status, header, body := scrape()
	assert.Equal(t, http.StatusServiceUnavailable, status, "one more than wait")
	assert.Equal(t, "5", header.Get("Retry-After"))
	var refusal struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &refusal), body)
	assert.Equal(t, "unavailable", refusal.Error.Code)

	close(release)
	wg.Wait()
	close(bodies)
	for body := range bodies {
		assert.Contains(t, body, "ordermill_test_slow 1", "the first and every one that waited are answered")
	}
	assert.EqualValues(t, 1, most.Load(), "one at a time")
	assert.Empty(t, logged.String())
}
