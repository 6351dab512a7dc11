// Command loadgen drives orders through the whole workflow against running services and
// reports throughput and per-step latency: the figures in docs/BENCHMARKS.md.
//
// Each simulated customer places a low-risk order, waits for the payment session, sends a
// signed payment webhook, waits for the shipment, sends a signed delivery webhook and waits
// for completion. Step latencies are measured from the client's send time to the
// recorded_at of the event that ends the step, so polling does not blur them.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/ordermill/ordermill/services/webhooksig"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type config struct {
	url            string
	orders         int
	concurrency    int
	paymentSecret  string
	deliverySecret string
	poll           time.Duration
}

// steps are the measured stretches of an order's life.
var steps = []string{"place → awaiting_payment", "payment webhook → awaiting_delivery", "delivery webhook → completed", "place → completed (incl. client think time)"}

func run(ctx context.Context, args []string, out io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&cfg.url, "url", "http://localhost:3001", "orders service base URL")
	fs.IntVar(&cfg.orders, "orders", 500, "orders to drive to completion")
	fs.IntVar(&cfg.concurrency, "concurrency", 16, "customers acting at once")
	fs.StringVar(&cfg.paymentSecret, "payment-secret", webhooksig.DevPaymentSecret, "payment webhook secret")
	fs.StringVar(&cfg.deliverySecret, "delivery-secret", webhooksig.DevCourierSecret, "courier webhook secret")
	fs.DurationVar(&cfg.poll, "poll", 5*time.Millisecond, "status polling interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.concurrency * 2}}
	g := &driver{cfg: cfg, client: client}

	jobs := make(chan int)
	var mu sync.Mutex
	lat := make([][]time.Duration, len(steps))
	var errs []error
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.concurrency {
		wg.Go(func() {
			for i := range jobs {
				d, err := g.order(ctx, i)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					for s := range d {
						lat[s] = append(lat[s], d[s])
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := range cfg.orders {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	fmt.Fprintf(out, "orders: %d completed, %d failed, concurrency %d, %s\n", len(lat[0]), len(errs), cfg.concurrency, elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "throughput: %.1f orders/s through the whole workflow (%.1f HTTP requests/s of API and webhooks, excluding polls)\n",
		float64(len(lat[0]))/elapsed.Seconds(), float64(3*len(lat[0]))/elapsed.Seconds())
	fmt.Fprintf(out, "\n| step | p50 | p95 | p99 | max |\n|---|---|---|---|---|\n")
	for s, name := range steps {
		d := lat[s]
		slices.Sort(d)
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s |\n", name, pct(d, 50), pct(d, 95), pct(d, 99), pct(d, 100))
	}
	if len(errs) > 0 {
		for _, err := range errs[:min(len(errs), 5)] {
			fmt.Fprintln(out, "error:", err)
		}
		return fmt.Errorf("%d orders failed", len(errs))
	}
	return nil
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	i := (len(d)*p + 99) / 100
	if i > 0 {
		i--
	}
	return d[i].Round(100 * time.Microsecond).String()
}

type driver struct {
	cfg    config
	client *http.Client
}

// order drives one order to completion and returns its step latencies.
func (g *driver) order(ctx context.Context, n int) ([]time.Duration, error) {
	body := fmt.Sprintf(`{"items":[{"sku":"SKU-%03d","quantity":1}],"total":10,"customerId":"load-%d"}`, 1+rand.IntN(30), n)
	placed := time.Now()
	var created struct{ ID string }
	if err := g.do(ctx, "POST", "/api/orders", []byte(body), nil, http.StatusCreated, &created); err != nil {
		return nil, err
	}
	id := created.ID
	if err := g.await(ctx, id, "awaiting_payment"); err != nil {
		return nil, err
	}
	payAt := time.Now()
	pay, _ := json.Marshal(map[string]string{"id": fmt.Sprintf("evt_load_%s", id), "orderId": id, "status": "completed", "paymentId": "pi_load_" + id})
	if err := g.do(ctx, "POST", "/webhooks/payment", pay, http.Header{webhooksig.StripeHeader: {webhooksig.SignStripe(pay, g.cfg.paymentSecret, time.Now())}}, http.StatusAccepted, nil); err != nil {
		return nil, err
	}
	if err := g.await(ctx, id, "awaiting_delivery"); err != nil {
		return nil, err
	}
	deliverAt := time.Now()
	del, _ := json.Marshal(map[string]string{"id": "dlv_load_" + id, "orderId": id, "status": "delivered"})
	if err := g.do(ctx, "POST", "/webhooks/delivery", del, http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(del, g.cfg.deliverySecret, time.Now())}}, http.StatusAccepted, nil); err != nil {
		return nil, err
	}
	if err := g.await(ctx, id, "completed"); err != nil {
		return nil, err
	}
	at, err := g.eventTimes(ctx, id)
	if err != nil {
		return nil, err
	}
	return []time.Duration{
		at["order.inventory_reserved.v1"].Sub(placed),
		at["order.shipment_created.v1"].Sub(payAt),
		at["order.completed.v1"].Sub(deliverAt),
		at["order.completed.v1"].Sub(placed),
	}, nil
}

func (g *driver) eventTimes(ctx context.Context, id string) (map[string]time.Time, error) {
	var history struct {
		Events []struct {
			Name       string    `json:"name"`
			RecordedAt time.Time `json:"recordedAt"`
		} `json:"events"`
	}
	if err := g.do(ctx, "GET", "/api/orders/"+id+"/events", nil, nil, http.StatusOK, &history); err != nil {
		return nil, err
	}
	at := map[string]time.Time{}
	for _, e := range history.Events {
		at[e.Name] = e.RecordedAt
	}
	for _, name := range []string{"order.inventory_reserved.v1", "order.shipment_created.v1", "order.completed.v1"} {
		if at[name].IsZero() {
			return nil, fmt.Errorf("order %s has no %s", id, name)
		}
	}
	return at, nil
}

// await polls the order until it reaches status or a terminal status it cannot leave.
func (g *driver) await(ctx context.Context, id, status string) error {
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(g.cfg.poll)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		var o struct{ Status string }
		if err := g.do(ctx, "GET", "/api/orders/"+id, nil, nil, http.StatusOK, &o); err != nil {
			return err
		}
		switch o.Status {
		case status:
			return nil
		case "cancelled", "rejected", "delivery_failed":
			return fmt.Errorf("order %s ended %s waiting for %s", id, o.Status, status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return fmt.Errorf("order %s never reached %s", id, status)
}

func (g *driver) do(ctx context.Context, method, path string, body []byte, header http.Header, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, g.cfg.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
