package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// driver walks orders through the workflow over HTTP, playing the customer, the manager
// and the two providers.
type driver struct {
	cfg    config
	client *http.Client
	// runID keeps Idempotency-Keys unique across runs against the same database: a key
	// seen before would replay the old order (200) instead of placing a new one.
	runID string
	// reads times every status poll: the cost of GET /api/orders/{id} while the workflow
	// runs, at whatever rate the customers poll.
	reads readTimes
}

// readTimes collects the latency of every GET /api/orders/{id}.
type readTimes struct {
	mu      sync.Mutex
	samples []time.Duration
	first   time.Time
	last    time.Time
}

func (r *readTimes) add(start time.Time, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first.IsZero() || start.Before(r.first) {
		r.first = start
	}
	if end := start.Add(d); end.After(r.last) {
		r.last = end
	}
	r.samples = append(r.samples, d)
}

// sorted returns the samples in order and the rate they were taken at.
func (r *readTimes) sorted() ([]time.Duration, float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.samples)
	slices.Sort(out)
	rate := 0.0
	if span := r.last.Sub(r.first); span > 0 {
		rate = float64(len(out)) / span.Seconds()
	}
	return out, rate
}

func newDriver(cfg config) *driver {
	idle := 2 * cfg.concurrency
	if cfg.rate > 0 {
		idle = cfg.maxInFlight
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the services are local; an HTTP_PROXY in the environment must not reroute them
	tr.MaxIdleConns = 0
	// Without enough idle connections every request beyond the pool opens a new one,
	// and the benchmark measures TCP handshakes and TIME_WAIT instead of the system.
	tr.MaxIdleConnsPerHost = idle
	var id [4]byte
	_, _ = rand.Read(id[:])
	return &driver{cfg: cfg, client: &http.Client{Timeout: 30 * time.Second, Transport: tr}, runID: hex.EncodeToString(id[:])}
}

// trip is one order's journey: what the driver did and when, and when the server recorded
// the events that end each step. A zero time means the order stopped before that point.
type trip struct {
	seq      int
	id       string
	sku      string
	quantity int
	highRisk bool
	err      error

	// The client's clock.
	placed, paySent, payAccepted, deliverySent, deliveryAccepted, finished time.Time
	// recorded_at of order.inventory_reserved, order.shipment_created and order.completed.
	reserved, shipped, completed time.Time
}

// journey drives order number seq as far as it goes; the trip says how far, and why not further.
func (g *driver) journey(ctx context.Context, seq int) *trip {
	t := &trip{seq: seq, quantity: 1, highRisk: mathrand.Float64() < g.cfg.highRisk}
	t.err = g.drive(ctx, t)
	t.finished = time.Now()
	return t
}

// drive runs the steps in workflow order. Each wait names the statuses the order may
// legitimately pass through on the way; any other status fails the order at once.
func (g *driver) drive(ctx context.Context, t *trip) error {
	if err := g.place(ctx, t); err != nil {
		return err
	}
	if t.highRisk {
		if _, err := g.await(ctx, t.id, reach(order.StatusAwaitingApproval), order.StatusPlaced); err != nil {
			return err
		}
		if err := g.approve(ctx, t.id); err != nil {
			return err
		}
	}
	open, err := g.await(ctx, t.id, sessionOpen, order.StatusPlaced, order.StatusReserving, order.StatusAwaitingPayment)
	if err != nil {
		return err
	}
	if err := g.pay(ctx, t, open); err != nil {
		return err
	}
	if _, err := g.await(ctx, t.id, reach(order.StatusAwaitingDelivery), order.StatusAwaitingPayment, order.StatusAwaitingShipment); err != nil {
		return err
	}
	if err := g.deliver(ctx, t); err != nil {
		return err
	}
	if _, err := g.await(ctx, t.id, reach(order.StatusCompleted), order.StatusAwaitingDelivery, order.StatusDelivered); err != nil {
		return err
	}
	return g.eventTimes(ctx, t)
}

// orderState is the part of GET /api/orders/{id} the driver waits on.
type orderState struct {
	Status           order.Status `json:"status"`
	PaymentSessionID string       `json:"paymentSessionId"`
	Total            json.Number  `json:"total"` // currency units
	Currency         string       `json:"currency"`
}

// goal is what a wait polls for.
type goal struct {
	name    string
	reached func(orderState) bool
}

func reach(s order.Status) goal {
	return goal{string(s), func(o orderState) bool { return o.Status == s }}
}

// sessionOpen is when a customer can pay: the order is awaiting payment and its checkout
// session is recorded. The status changes first (on order.inventory_reserved) and the
// session follows a few hops later; the provider's webhook names the session paid, so the
// driver needs it.
var sessionOpen = goal{"awaiting_payment with a payment session", func(o orderState) bool {
	return o.Status == order.StatusAwaitingPayment && o.PaymentSessionID != ""
}}

type lineItem struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// placeRequest leaves the total out: the service prices the order from the catalog.
type placeRequest struct {
	Items      []lineItem `json:"items"`
	CustomerID string     `json:"customerId"`
}

// place sends POST /api/orders. A low-risk order buys one unit of a random catalogue SKU
// (at most 120.00) from a customer without history, and scores the base 10 plus 25 for a
// new customer. A high-risk one copies the README's scenario 2: one espresso machine
// (SKU-031) for 50,000.00 (over $20,000: +50) from a new customer (+25) scores 85, over the
// threshold of 70 (domain/risk), so it waits for a manager.
func (g *driver) place(ctx context.Context, t *trip) error {
	req := placeRequest{CustomerID: fmt.Sprintf("load-%d", t.seq)}
	t.sku = fmt.Sprintf("SKU-%03d", 1+mathrand.IntN(30))
	if t.highRisk {
		t.sku = "SKU-031"
	}
	req.Items = []lineItem{{SKU: t.sku, Quantity: t.quantity}}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	header := http.Header{"Idempotency-Key": {fmt.Sprintf("loadgen-%s-%d", g.runID, t.seq)}}
	var created struct{ ID string }
	t.placed = time.Now()
	if err := g.do(ctx, "POST", "/api/orders", body, header, http.StatusCreated, &created); err != nil {
		return err
	}
	t.id = created.ID
	return nil
}

// approve is the manager's decision on a held order.
func (g *driver) approve(ctx context.Context, id string) error {
	body, err := json.Marshal(map[string]any{"orderId": id, "approved": true, "reason": "loadgen"})
	if err != nil {
		return err
	}
	header := http.Header{"Authorization": {"Bearer " + g.cfg.managerToken}}
	return g.do(ctx, "POST", "/api/orders/approve", body, header, http.StatusOK, nil)
}

// pay sends the provider's Stripe-signed "payment completed" webhook for the order's
// session, amount and currency, as a provider does.
func (g *driver) pay(ctx context.Context, t *trip, o orderState) error {
	total, err := strconv.ParseFloat(o.Total.String(), 64)
	if err != nil {
		return fmt.Errorf("order %s: total %q: %w", t.id, o.Total, err)
	}
	body, err := json.Marshal(payment.Webhook{ID: "evt_load_" + t.id, OrderID: t.id, Status: payment.StatusCompleted, PaymentID: "pi_load_" + t.id,
		SessionID: o.PaymentSessionID, Amount: int64(math.Round(total * 100)), Currency: o.Currency})
	if err != nil {
		return err
	}
	header := http.Header{webhooksig.StripeHeader: {webhooksig.SignStripe(body, g.cfg.paymentSecret, time.Now())}}
	t.paySent = time.Now()
	err = g.do(ctx, "POST", "/webhooks/payment", body, header, http.StatusAccepted, nil)
	t.payAccepted = time.Now()
	return err
}

// deliver sends the courier's signed "delivered" webhook.
func (g *driver) deliver(ctx context.Context, t *trip) error {
	body, err := json.Marshal(shipping.Webhook{ID: "dlv_load_" + t.id, OrderID: t.id, Status: shipping.StatusDelivered})
	if err != nil {
		return err
	}
	header := http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(body, g.cfg.deliverySecret, time.Now())}}
	t.deliverySent = time.Now()
	err = g.do(ctx, "POST", "/webhooks/delivery", body, header, http.StatusAccepted, nil)
	t.deliveryAccepted = time.Now()
	return err
}

// eventTimes reads when the server recorded the events that end the measured steps.
func (g *driver) eventTimes(ctx context.Context, t *trip) error {
	var history struct {
		Events []struct {
			Name       string    `json:"name"`
			RecordedAt time.Time `json:"recordedAt"`
		} `json:"events"`
	}
	if err := g.do(ctx, "GET", "/api/orders/"+t.id+"/events", nil, nil, http.StatusOK, &history); err != nil {
		return err
	}
	at := map[string]time.Time{}
	for _, e := range history.Events {
		at[e.Name] = e.RecordedAt
	}
	// Every step of the happy path must have left its event, measured or not.
	for _, name := range []string{order.NameInventoryReserved, order.NamePaymentSessionCreated, order.NamePaymentCompleted, order.NameShipmentCreated, order.NameOrderCompleted} {
		if at[name].IsZero() {
			return fmt.Errorf("order %s completed without %s", t.id, name)
		}
	}
	t.reserved, t.shipped, t.completed = at[order.NameInventoryReserved], at[order.NameShipmentCreated], at[order.NameOrderCompleted]
	return nil
}

// await polls the order until it reaches the goal. Statuses in via are the steps the
// workflow may still be on; any other status is an error, since the order has gone
// somewhere the happy path never leads.
func (g *driver) await(ctx context.Context, id string, want goal, via ...order.Status) (orderState, error) {
	deadline := time.Now().Add(g.cfg.waitTimeout)
	tick := time.NewTicker(g.cfg.poll)
	defer tick.Stop()
	for {
		o, err := g.state(ctx, id)
		switch {
		case err != nil:
			return o, err
		case want.reached(o):
			return o, nil
		case !slices.Contains(via, o.Status):
			return o, fmt.Errorf("order %s is %s while waiting for %s", id, o.Status, want.name)
		case time.Now().After(deadline):
			return o, fmt.Errorf("order %s still %s after %s waiting for %s", id, o.Status, g.cfg.waitTimeout, want.name)
		}
		select {
		case <-ctx.Done():
			return o, ctx.Err()
		case <-tick.C:
		}
	}
}

func (g *driver) state(ctx context.Context, id string) (orderState, error) {
	var o orderState
	start := time.Now()
	err := g.do(ctx, "GET", "/api/orders/"+id, nil, nil, http.StatusOK, &o)
	if err == nil {
		g.reads.add(start, time.Since(start))
	}
	return o, err
}

// do sends one request and fails on any status but want: loadgen never retries, so an
// error anywhere shows up as a failed order instead of being hidden by a second attempt.
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
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
