package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/services/ordersclient"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// driver walks orders through the workflow over HTTP, playing the customer, the manager
// and the two providers.
type driver struct {
	cfg config
	// orders is the orders service's typed client, generated from its OpenAPI document.
	orders *ordersclient.ClientWithResponses
	// get sends the GETs of orders, the polls and the readers' reads.
	get *getter
	// runID keeps Idempotency-Keys and customers unique across runs against the same
	// database: a key seen before would replay the old order (200) instead of placing a
	// new one, and a customer seen before is not new (see place).
	runID string
	// reads times every status poll, and every read of -read-rate: the cost of
	// GET /api/orders/{id} while the workflow runs.
	reads readTimes
	// placed holds the ids of the orders placed so far, for the readers to pick from.
	placedMu sync.Mutex
	placed   []string
	// readErrors counts the readers' failed reads.
	readErrors atomic.Int64
	// refused counts the writes answered 503 and sent again (resend).
	refused atomic.Int64
	// stale counts the polls just after a write's 2xx that did not show the write.
	stale atomic.Int64
}

// resend sends a write until it is answered other than 503, waiting the answer's
// Retry-After (1 s when it has none) in between, as a shop's client and a provider do:
// past what it can take the orders service refuses writes at once, and a client should
// come back, not give up. Each write is safe to send again: a placement carries its
// Idempotency-Key, a webhook its event id, and a refused one changed nothing.
func (g *driver) resend(ctx context.Context, send func() (*http.Response, error)) error {
	for {
		res, err := send()
		if err != nil || res.StatusCode != http.StatusServiceUnavailable {
			return err
		}
		g.refused.Add(1)
		wait := time.Second
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
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

func newDriver(cfg config) (*driver, error) {
	idle := 2 * cfg.concurrency
	if cfg.rate > 0 {
		idle = cfg.maxInFlight
	}
	idle += int(cfg.readRate) // at most a second's reads under way at once
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the services are local; an HTTP_PROXY in the environment must not reroute them
	tr.MaxIdleConns = 0
	// Without enough idle connections every request beyond the pool opens a new one,
	// and the benchmark measures TCP handshakes and TIME_WAIT instead of the system.
	tr.MaxIdleConnsPerHost = idle
	var id [4]byte
	_, _ = rand.Read(id[:])
	orders, err := ordersclient.NewClientWithResponses(cfg.url, ordersclient.WithHTTPClient(&http.Client{Timeout: 30 * time.Second, Transport: tr}))
	if err != nil {
		return nil, err
	}
	get, err := newGetter(cfg.url, idle, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if cfg.operatorToken != "" {
		get.header = "Authorization: Bearer " + cfg.operatorToken + "\r\n"
	}
	return &driver{cfg: cfg, orders: orders, get: get, runID: hex.EncodeToString(id[:])}, nil
}

// canRead checks that the run may read orders, by asking for one that does not exist: a
// 404 says it may (dev mode, or the operator's token), a 401 that it may not. A run that
// could not read its orders failed every one of them after placing it, and their stock
// stayed held for the payment timeout.
func (g *driver) canRead(ctx context.Context) error {
	path := orderPath("loadgen-" + g.runID + "-none")
	status, body, err := g.get.get(ctx, path)
	switch {
	case err != nil:
		return fmt.Errorf("GET %s: %w", path, err)
	case status == http.StatusNotFound:
		return nil
	case status == http.StatusUnauthorized:
		return fmt.Errorf("GET %s: 401: reading orders outside DEV_MODE needs the operator's token: give -operator-token (the orders service's OPERATOR_TOKEN); nothing was placed", path)
	}
	return fmt.Errorf("GET %s: %d %s; nothing was placed", path, status, bytes.TrimSpace(body))
}

// readAuth is the credential of the run's reads through the generated client.
func (g *driver) readAuth() []ordersclient.RequestEditorFn {
	if g.cfg.operatorToken == "" {
		return nil
	}
	return []ordersclient.RequestEditorFn{ordersclient.WithHeader("Authorization", "Bearer "+g.cfg.operatorToken)}
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
	// timesErr is why the event times of a completed trip could not be read (readEventTimes):
	// the order completed, and only its step figures are missing.
	timesErr error

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
// legitimately pass through on the way; any other status fails the order at once. A wait
// right after a write's 2xx names the status that would not show the write: its first
// poll must not find it (read-your-writes, counted in g.stale).
func (g *driver) drive(ctx context.Context, t *trip) error {
	if err := g.place(ctx, t); err != nil {
		return err
	}
	var written order.Status // the status a poll after the last write must have left
	if t.highRisk {
		if _, err := g.await(ctx, t.id, reach(order.StatusAwaitingApproval), "", order.StatusPlaced); err != nil {
			return err
		}
		if err := g.approve(ctx, t.id); err != nil {
			return err
		}
		written = order.StatusAwaitingApproval
	}
	open, err := g.await(ctx, t.id, sessionOpen, written, order.StatusPlaced, order.StatusReserving, order.StatusAwaitingPayment)
	if err != nil {
		return err
	}
	if err := g.pay(ctx, t, open); err != nil {
		return err
	}
	// A webhook's 2xx means the order took its step, in the webhook's own transaction
	// (the orders service's inbox runs the saga on it: sagas.Runner.RunNow).
	if _, err := g.await(ctx, t.id, reach(order.StatusAwaitingDelivery), order.StatusAwaitingPayment, order.StatusAwaitingShipment); err != nil {
		return err
	}
	if err := g.deliver(ctx, t); err != nil {
		return err
	}
	_, err = g.await(ctx, t.id, reach(order.StatusCompleted), order.StatusAwaitingDelivery, order.StatusDelivered)
	return err
}

// orderState is the part of GET /api/orders/{id} the driver waits on.
type orderState struct {
	Status           order.Status `json:"status"`
	PaymentSessionID string       `json:"paymentSessionId"`
	Total            float64      `json:"total"` // currency units
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

// place sends POST /api/orders, without a total: the service prices the order from the
// catalog. A low-risk order buys one unit of a random catalogue SKU
// (at most 120.00) from a customer without history, and scores the base 10 plus 25 for a
// new customer. A high-risk one copies the README's scenario 2: one espresso machine
// (SKU-031) for 50,000.00 (over $20,000: +50) from a new customer (+25) scores 85, over the
// threshold of 70 (domain/risk), so it waits for a manager.
func (g *driver) place(ctx context.Context, t *trip) error {
	t.sku = fmt.Sprintf("SKU-%03d", 1+mathrand.IntN(30))
	if t.highRisk {
		t.sku = "SKU-031"
	}
	// A customer of this run alone: one who completed an order in an earlier run on the
	// same database is no longer new, so a high-risk order of theirs scored under the
	// threshold and the run reported it failed for not waiting for approval.
	customer, key := fmt.Sprintf("load-%s-%d", g.runID, t.seq), fmt.Sprintf("loadgen-%s-%d", g.runID, t.seq)
	// Each customer has an address, as a shop's do: under make run its two emails go to
	// Mailpit over SMTP, so the run exercises the mail senders too.
	email := customer + "@example.com"
	t.placed = time.Now()
	var res *ordersclient.PlaceOrderResponse
	err := g.resend(ctx, func() (_ *http.Response, err error) {
		res, err = g.orders.PlaceOrderWithResponse(ctx, &ordersclient.PlaceOrderParams{IdempotencyKey: &key},
			ordersclient.PlaceOrder{Items: []ordersclient.Item{{Sku: t.sku, Quantity: t.quantity}}, CustomerId: &customer, CustomerEmail: &email})
		if err != nil {
			return nil, err
		}
		return res.HTTPResponse, nil
	})
	if err != nil {
		return err
	}
	if err := expect(res.HTTPResponse, res.Body, http.StatusCreated); err != nil {
		return err
	}
	t.id = res.JSON201.Id
	g.placedMu.Lock()
	g.placed = append(g.placed, t.id)
	g.placedMu.Unlock()
	return nil
}

// anyPlaced is a random order of those placed so far; false when there is none yet.
func (g *driver) anyPlaced() (string, bool) {
	g.placedMu.Lock()
	defer g.placedMu.Unlock()
	if len(g.placed) == 0 {
		return "", false
	}
	return g.placed[mathrand.IntN(len(g.placed))], true
}

// read is one reader's GET of order id, timed in d.reads. A reader only reads: what it
// gets is not decoded. A read that fails is counted in d.readErrors, unless the run was
// cut off (ctx ended: Ctrl-C).
func (g *driver) read(ctx context.Context, id string) {
	start := time.Now()
	_, err := g.getOrder(ctx, id)
	switch {
	case err == nil:
		g.reads.add(start, time.Since(start))
	case ctx.Err() == nil:
		g.readErrors.Add(1)
	}
}

// approve is the manager's decision on a held order.
func (g *driver) approve(ctx context.Context, id string) error {
	reason := "loadgen"
	var res *ordersclient.ApproveOrderResponse
	err := g.resend(ctx, func() (_ *http.Response, err error) {
		res, err = g.orders.ApproveOrderWithResponse(ctx, ordersclient.ApproveOrderJSONRequestBody{OrderId: id, Approved: true, Reason: &reason},
			ordersclient.WithHeader("Authorization", "Bearer "+g.cfg.managerToken))
		if err != nil {
			return nil, err
		}
		return res.HTTPResponse, nil
	})
	if err != nil {
		return err
	}
	return expect(res.HTTPResponse, res.Body, http.StatusOK)
}

// pay sends the provider's Stripe-signed "payment completed" webhook for the order's
// session, amount and currency, as a provider does.
func (g *driver) pay(ctx context.Context, t *trip, o orderState) error {
	body, err := json.Marshal(payment.Webhook{ID: "evt_load_" + t.id, OrderID: t.id, Status: payment.StatusCompleted, PaymentID: "pi_load_" + t.id,
		SessionID: o.PaymentSessionID, Amount: int64(math.Round(o.Total * 100)), Currency: o.Currency})
	if err != nil {
		return err
	}
	t.paySent = time.Now()
	var res *ordersclient.PaymentWebhookResponse
	err = g.resend(ctx, func() (_ *http.Response, err error) {
		res, err = g.orders.PaymentWebhookWithBodyWithResponse(ctx, "application/json", bytes.NewReader(body),
			ordersclient.WithHeader(webhooksig.StripeHeader, webhooksig.SignStripe(body, g.cfg.paymentSecret, time.Now())))
		if err != nil {
			return nil, err
		}
		return res.HTTPResponse, nil
	})
	t.payAccepted = time.Now()
	if err != nil {
		return err
	}
	return expect(res.HTTPResponse, res.Body, http.StatusAccepted)
}

// deliver sends the courier's signed "delivered" webhook.
func (g *driver) deliver(ctx context.Context, t *trip) error {
	body, err := json.Marshal(shipping.Webhook{ID: "dlv_load_" + t.id, OrderID: t.id, Status: shipping.StatusDelivered})
	if err != nil {
		return err
	}
	t.deliverySent = time.Now()
	var res *ordersclient.DeliveryWebhookResponse
	err = g.resend(ctx, func() (_ *http.Response, err error) {
		res, err = g.orders.DeliveryWebhookWithBodyWithResponse(ctx, "application/json", bytes.NewReader(body),
			ordersclient.WithHeader(webhooksig.CourierHeader, webhooksig.SignCourier(body, g.cfg.deliverySecret, time.Now())))
		if err != nil {
			return nil, err
		}
		return res.HTTPResponse, nil
	})
	t.deliveryAccepted = time.Now()
	if err != nil {
		return err
	}
	return expect(res.HTTPResponse, res.Body, http.StatusAccepted)
}

// readEventTimes reads, once the load is over, when the server recorded the events that
// end each completed trip's measured steps (eventTimes), a few orders at a time. Read as
// each order completed, these reads were the load generator's own traffic on the system it
// measures, in no customer's journey: about 3 % of the orders process's CPU at 64
// customers (docs/BENCHMARKS.md, twenty-third session). A read that fails leaves the trip
// completed, without figures: it turned every completed order of a probe's run into a
// failure when the orders service went away at its end.
func (g *driver) readEventTimes(ctx context.Context, trips []*trip) {
	completed := make(chan *trip)
	var wg sync.WaitGroup
	for range eventTimeReaders {
		wg.Go(func() {
			for t := range completed {
				t.timesErr = g.eventTimes(ctx, t)
			}
		})
	}
	for _, t := range trips {
		if t.err == nil {
			completed <- t
		}
	}
	close(completed)
	wg.Wait()
}

// eventTimeReaders is how many orders' events readEventTimes reads at once.
const eventTimeReaders = 8

// eventTimes reads when the server recorded the events that end the measured steps.
func (g *driver) eventTimes(ctx context.Context, t *trip) error {
	res, err := g.orders.GetOrderEventsWithResponse(ctx, t.id, g.readAuth()...)
	if err != nil {
		return err
	}
	if err := expect(res.HTTPResponse, res.Body, http.StatusOK); err != nil {
		return err
	}
	at := map[string]time.Time{}
	for _, e := range res.JSON200.Events {
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
// somewhere the happy path never leads. stale ("" for none) is the status the order had
// before the write whose 2xx came just before the wait: found by the first poll, the write
// is not shown, which is counted (g.stale) and waited out; found later, the order went back.
func (g *driver) await(ctx context.Context, id string, want goal, stale order.Status, via ...order.Status) (orderState, error) {
	deadline := time.Now().Add(g.cfg.waitTimeout)
	tick := time.NewTicker(g.cfg.poll)
	defer tick.Stop()
	for first := true; ; first = false {
		o, err := g.state(ctx, id)
		switch {
		case err != nil:
			return o, err
		case want.reached(o):
			return o, nil
		case first && stale != "" && o.Status == stale:
			g.stale.Add(1)
			via = append(slices.Clone(via), stale) // waited out, not failed: the run reports it
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
	start := time.Now()
	body, err := g.getOrder(ctx, id)
	if err != nil {
		return orderState{}, err
	}
	g.reads.add(start, time.Since(start))
	// Only the fields a wait and the webhooks need: the order's items, addresses and times
	// are skipped, not built (decoding the whole order was about a sixth of loadgen's CPU).
	var o orderState
	if err := json.Unmarshal(body, &o); err != nil {
		return orderState{}, fmt.Errorf("decode order %s: %w", id, err)
	}
	return o, nil
}

// getOrder is GET /api/orders/{id}'s body; any status but 200 is an error.
func (g *driver) getOrder(ctx context.Context, id string) ([]byte, error) {
	status, body, err := g.get.get(ctx, orderPath(id))
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("GET %s: %d %s", orderPath(id), status, bytes.TrimSpace(body))
	}
	return body, err
}

// orderPath is GET /api/orders/{id}'s path for order id.
func orderPath(id string) string { return "/api/orders/" + url.PathEscape(id) }

// expect fails on any status but want: loadgen never retries, so an error anywhere shows
// up as a failed order instead of being hidden by a second attempt.
func expect(res *http.Response, body []byte, want int) error {
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", res.Request.Method, res.Request.URL.Path, res.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}
