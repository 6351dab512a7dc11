package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/services/ordersclient"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// script is what one order is meant to go through, and so where it must end.
type script int

const (
	completed      script = iota // low risk, paid, delivered
	approved                     // high risk, approved by a manager, then as completed
	rejected                     // high risk, rejected by a manager
	paymentFailed                // the provider reports a failure for the open checkout session
	earlyDecline                 // Stripe reports a declined card before the order waits for payment; then it is paid
	deliveryFailed               // paid and shipped, the courier reports a failure
	earlyDelivery                // the courier's "delivered" comes before the shipment is recorded
)

var scriptNames = map[script]string{
	completed: "completed", approved: "approved", rejected: "rejected", paymentFailed: "payment failed",
	earlyDecline: "a card declined early", deliveryFailed: "delivery failed", earlyDelivery: "delivered reported early",
}

func (s script) String() string { return scriptNames[s] }

// want is the status the script must end in.
func (s script) want() order.Status {
	switch s {
	case rejected:
		return order.StatusRejected
	case paymentFailed:
		return order.StatusCancelled
	case deliveryFailed:
		return order.StatusDeliveryFailed
	}
	return order.StatusCompleted
}

func (s script) highRisk() bool { return s == approved || s == rejected }

// mix is each script's share of the orders (per thousand), the rest completing plainly:
// 10% high risk, half approved; 4% payment failures; 4% a card declined before the order
// waits for payment, then paid; 6% delivery failures; 10% deliveries reported before the
// shipment.
var mix = []struct {
	s        script
	perMille int
}{{approved, 50}, {rejected, 50}, {paymentFailed, 40}, {earlyDecline, 40}, {deliveryFailed, 60}, {earlyDelivery, 100}}

// plan deals the scripts of n orders in a random order.
func plan(n int, rng *mathrand.Rand) []script {
	out := make([]script, 0, n)
	for _, m := range mix {
		for range n * m.perMille / 1000 {
			out = append(out, m.s)
		}
	}
	for len(out) < n {
		out = append(out, completed)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// trip is one order's journey.
type trip struct {
	seq      int
	script   script
	id       string
	sku      string
	quantity int
	// early: the early webhook was sent while the order was not yet waiting for it.
	early bool
	err   error
	done  time.Time
}

// driver plays the customers, the manager and the two providers, over HTTP, retrying as
// they do: a request that fails or times out, or that a service answers with 5xx or 429,
// is sent again (to the other orders replica, if there is one) until -step-timeout.
type driver struct {
	cfg     config
	clients []*ordersclient.ClientWithResponses
	db      *pgxpool.Pool // what a courier knows: the parcels the delivery service booked
	runID   string

	begun, finished, failed, retries atomic.Int64
	mu                               sync.Mutex
	all                              []*trip
}

func newDriver(cfg config, urls []string, db *pgxpool.Pool) *driver {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2 * cfg.concurrency}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	d := &driver{cfg: cfg, db: db}
	for _, u := range urls {
		c, err := ordersclient.NewClientWithResponses(u, ordersclient.WithHTTPClient(hc))
		if err != nil {
			panic(err) // only a malformed URL, which newSystem never builds
		}
		d.clients = append(d.clients, c)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	d.runID = hex.EncodeToString(id[:])
	return d
}

func (d *driver) started() int { return int(d.begun.Load()) }

func (d *driver) progress() string {
	return fmt.Sprintf("orders started %d, finished %d, failed %d; requests retried %d", d.begun.Load(), d.finished.Load(), d.failed.Load(), d.retries.Load())
}

func (d *driver) trips() []*trip {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.all)
}

// drive starts the orders at -rate at most, -concurrency at a time, and returns when every
// one has ended (or failed).
func (d *driver) drive(ctx context.Context, scripts []script) {
	sem := make(chan struct{}, d.cfg.concurrency)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / d.cfg.rate))
	defer tick.Stop()
	for i, s := range scripts {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
		}
		if ctx.Err() != nil {
			break
		}
		t := &trip{seq: i + 1, script: s, quantity: 1 + i%2}
		d.mu.Lock()
		d.all = append(d.all, t)
		d.mu.Unlock()
		d.begun.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t.err = d.journey(ctx, t)
			t.done = time.Now()
			if t.err != nil {
				d.failed.Add(1)
			}
			d.finished.Add(1)
		}()
	}
	wg.Wait()
}

// journey drives one order along its script.
func (d *driver) journey(ctx context.Context, t *trip) error {
	if err := d.place(ctx, t); err != nil {
		return err
	}
	if t.script == earlyDecline {
		// One declined attempt, which ends nothing: the customer pays with another card.
		if err := d.intentFailed(ctx, t); err != nil {
			return err
		}
	}
	if t.script.highRisk() {
		if _, err := d.await(ctx, t, reach(order.StatusAwaitingApproval)); err != nil {
			return err
		}
		if err := d.decide(ctx, t, t.script == approved); err != nil {
			return err
		}
		if t.script == rejected {
			_, err := d.await(ctx, t, reach(order.StatusRejected))
			return err
		}
	}
	o, err := d.await(ctx, t, sessionOpen)
	if err != nil {
		return err
	}
	if t.script == paymentFailed {
		if err := d.pay(ctx, t, o, payment.StatusFailed); err != nil {
			return err
		}
		_, err := d.await(ctx, t, reach(order.StatusCancelled))
		return err
	}
	if err := d.pay(ctx, t, o, payment.StatusCompleted); err != nil {
		return err
	}
	if t.script == earlyDelivery {
		// Early, but not before the payment is recorded: a 2xx may leave the payment to the
		// saga's consumers (RunNow), and an update before it is about no parcel of the
		// order (a delivery_mismatch ticket, and the order never completes).
		o, err := d.await(ctx, t, paid)
		if err != nil {
			return err
		}
		// The courier reports on the parcel it was handed: the one the delivery service
		// booked, which the order may not have recorded yet (one naming none then is
		// refused).
		shipment, err := d.booked(ctx, t)
		if err != nil {
			return err
		}
		if o, err = d.state(ctx, t); err != nil { // early or not as the courier reports, not before
			return err
		}
		t.early = o.Status != order.StatusAwaitingDelivery && o.Status != order.StatusDelivered && o.Status != order.StatusCompleted
		if err := d.courier(ctx, t, shipping.StatusDelivered, shipment); err != nil {
			return err
		}
		_, err = d.await(ctx, t, reach(order.StatusCompleted))
		return err
	}
	if _, err := d.await(ctx, t, reach(order.StatusAwaitingDelivery)); err != nil {
		return err
	}
	if t.script == deliveryFailed {
		if err := d.courier(ctx, t, shipping.StatusFailed, ""); err != nil {
			return err
		}
		_, err := d.await(ctx, t, reach(order.StatusDeliveryFailed))
		return err
	}
	if err := d.courier(ctx, t, shipping.StatusDelivered, ""); err != nil {
		return err
	}
	_, err = d.await(ctx, t, reach(order.StatusCompleted))
	return err
}

// exchange is one request of the generated client: its status and body, or a transport error.
type exchange func(ctx context.Context, c *ordersclient.ClientWithResponses) (*http.Response, []byte, error)

// send makes a request until it gets an answer that is not a server's failure, trying the
// orders replicas in turn, with a growing pause, for at most -step-timeout.
func (d *driver) send(ctx context.Context, t *trip, what string, do exchange) (int, []byte, error) {
	deadline := time.Now().Add(d.cfg.stepTimeout)
	pause := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		c := d.clients[(t.seq+attempt)%len(d.clients)]
		res, body, err := do(ctx, c)
		var why string
		switch {
		case err != nil:
			why = err.Error()
		case res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests:
			why = fmt.Sprintf("%d %s", res.StatusCode, bytes.TrimSpace(body))
		default:
			return res.StatusCode, body, nil
		}
		if ctx.Err() != nil {
			return 0, nil, fmt.Errorf("order #%d %s: %w", t.seq, what, ctx.Err())
		}
		if time.Now().After(deadline) {
			return 0, nil, fmt.Errorf("order #%d %s: still failing after %s: %s", t.seq, what, d.cfg.stepTimeout, why)
		}
		d.retries.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// place creates the order with an Idempotency-Key, so a retried create that the first
// attempt already made answers with the same order.
func (d *driver) place(ctx context.Context, t *trip) error {
	t.sku = fmt.Sprintf("SKU-%03d", 1+t.seq%30)
	if t.script.highRisk() {
		// As loadgen: one espresso machine for 50,000.00 from a new customer scores 85.
		t.sku, t.quantity = "SKU-031", 1
	}
	customer, key := fmt.Sprintf("chaos-%s-%d", d.runID, t.seq), fmt.Sprintf("chaos-%s-%d", d.runID, t.seq)
	email := fmt.Sprintf("chaos-%d@example.com", t.seq)
	body := ordersclient.PlaceOrder{Items: []ordersclient.Item{{Sku: t.sku, Quantity: t.quantity}}, CustomerId: &customer, CustomerEmail: &email}
	status, raw, err := d.send(ctx, t, "place", func(ctx context.Context, c *ordersclient.ClientWithResponses) (*http.Response, []byte, error) {
		res, err := c.PlaceOrderWithResponse(ctx, &ordersclient.PlaceOrderParams{IdempotencyKey: &key}, body)
		if err != nil {
			return nil, nil, err
		}
		return res.HTTPResponse, res.Body, nil
	})
	if err != nil {
		return err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return fmt.Errorf("order #%d place: %d %s", t.seq, status, raw)
	}
	var placed ordersclient.Placed
	if err := json.Unmarshal(raw, &placed); err != nil {
		return err
	}
	t.id = placed.Id
	return nil
}

// decide approves or rejects a held order. A retry after an answer lost is answered 200,
// the decision taken (Idempotent-Replayed): any 409 is a failure.
func (d *driver) decide(ctx context.Context, t *trip, approve bool) error {
	reason := "chaos: rejected"
	if approve {
		reason = "chaos: approved"
	}
	status, raw, err := d.send(ctx, t, "decide", func(ctx context.Context, c *ordersclient.ClientWithResponses) (*http.Response, []byte, error) {
		res, err := c.ApproveOrderWithResponse(ctx, ordersclient.ApproveOrderJSONRequestBody{OrderId: t.id, Approved: approve, Reason: &reason},
			ordersclient.WithHeader("Authorization", "Bearer "+managerToken))
		if err != nil {
			return nil, nil, err
		}
		return res.HTTPResponse, res.Body, nil
	})
	if err != nil {
		return err
	}
	if status == http.StatusOK {
		return nil
	}
	return fmt.Errorf("order %s decide: %d %s", t.id, status, raw)
}

// pay sends the provider's signed webhook for the order's session, as the simulator's
// checkout page does; a retry is the same event (same id), signed afresh as Stripe does.
func (d *driver) pay(ctx context.Context, t *trip, o orderState, status string) error {
	wh := payment.Webhook{ID: "evt_chaos_" + t.id, OrderID: t.id, Status: status, PaymentID: "pi_chaos_" + t.id,
		SessionID: o.PaymentSessionID, Amount: int64(math.Round(o.Total * 100)), Currency: o.Currency}
	if status == payment.StatusFailed {
		wh.Reason = "card_declined"
	}
	body, err := json.Marshal(wh)
	if err != nil {
		return err
	}
	return d.paymentWebhook(ctx, t, body)
}

// intentFailed sends Stripe's payment_intent.payment_failed for the order, which names the
// order (the intent's metadata) but not the session: a declined card, after which Checkout
// keeps the session open for another. It comes before the order has recorded its
// session, or even reserved its stock, and must end nothing.
func (d *driver) intentFailed(ctx context.Context, t *trip) error {
	body, err := json.Marshal(map[string]any{
		"id": "evt_chaos_intent_" + t.id, "object": "event", "type": "payment_intent.payment_failed", "api_version": "2025-01-27.acacia",
		"created": time.Now().Unix(), "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": map[string]any{
			"id": "pi_chaos_" + t.id, "object": "payment_intent", "metadata": map[string]string{"order_id": t.id},
			"last_payment_error": map[string]any{"code": "card_declined", "decline_code": "insufficient_funds"},
		}},
	})
	if err != nil {
		return err
	}
	return d.paymentWebhook(ctx, t, body)
}

func (d *driver) paymentWebhook(ctx context.Context, t *trip, body []byte) error {
	status, raw, err := d.send(ctx, t, "payment webhook", func(ctx context.Context, c *ordersclient.ClientWithResponses) (*http.Response, []byte, error) {
		res, err := c.PaymentWebhookWithBodyWithResponse(ctx, "application/json", bytes.NewReader(body),
			ordersclient.WithHeader(webhooksig.StripeHeader, webhooksig.SignStripe(body, paymentSecret, time.Now())))
		if err != nil {
			return nil, nil, err
		}
		return res.HTTPResponse, res.Body, nil
	})
	return accepted(t, "payment webhook", status, raw, err)
}

// courier sends the courier's signed status webhook; a retry is the same event.
func (d *driver) courier(ctx context.Context, t *trip, status, shipmentID string) error {
	wh := shipping.Webhook{ID: "dlv_chaos_" + t.id, OrderID: t.id, ShipmentID: shipmentID, Status: status}
	if status == shipping.StatusFailed {
		wh.Reason = "address not found"
	}
	body, err := json.Marshal(wh)
	if err != nil {
		return err
	}
	code, raw, err := d.send(ctx, t, "courier webhook", func(ctx context.Context, c *ordersclient.ClientWithResponses) (*http.Response, []byte, error) {
		res, err := c.DeliveryWebhookWithBodyWithResponse(ctx, "application/json", bytes.NewReader(body),
			ordersclient.WithHeader(webhooksig.CourierHeader, webhooksig.SignCourier(body, deliverySecret, time.Now())))
		if err != nil {
			return nil, nil, err
		}
		return res.HTTPResponse, res.Body, nil
	})
	return accepted(t, "courier webhook", code, raw, err)
}

// accepted: a webhook is taken (202), or was taken before and this is a retry (200 duplicate).
func accepted(t *trip, what string, status int, body []byte, err error) error {
	if err != nil {
		return err
	}
	if status != http.StatusAccepted && status != http.StatusOK {
		return fmt.Errorf("order %s %s: %d %s", t.id, what, status, bytes.TrimSpace(body))
	}
	return nil
}

// orderState is the part of GET /api/orders/{id} the driver waits on.
type orderState struct {
	Status           order.Status
	PaymentSessionID string
	Total            float64
	Currency         string
}

type goal struct {
	name    string
	reached func(orderState) bool
}

func reach(s order.Status) goal {
	return goal{string(s), func(o orderState) bool { return o.Status == s }}
}

var paid = goal{"paid", func(o orderState) bool { return order.StatusAwaitingShipment.CanReach(o.Status) }}

var sessionOpen = goal{"awaiting_payment with a payment session", func(o orderState) bool {
	return o.Status == order.StatusAwaitingPayment && o.PaymentSessionID != ""
}}

var errStuck = errors.New("stuck")

// booked waits until the delivery service has booked t's parcel, through kills and
// restarts, and returns its shipment id.
func (d *driver) booked(ctx context.Context, t *trip) (string, error) {
	deadline := time.Now().Add(d.cfg.stepTimeout)
	for {
		var id string
		err := d.db.QueryRow(ctx, `SELECT shipment_id FROM delivery.shipments WHERE order_id = $1`, t.id).Scan(&id)
		switch {
		case err == nil:
			return id, nil
		case time.Now().After(deadline):
			return "", fmt.Errorf("order %s (%s) %w: no shipment booked after %s: %v", t.id, t.script, errStuck, d.cfg.stepTimeout, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// await polls the order until it reaches the goal; an order that ends anywhere else fails
// at once, one that does not get there within -step-timeout is stuck.
func (d *driver) await(ctx context.Context, t *trip, want goal) (orderState, error) {
	deadline := time.Now().Add(d.cfg.stepTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		o, err := d.state(ctx, t)
		switch {
		case err != nil:
			return o, err
		case want.reached(o):
			return o, nil
		case o.Status.Terminal():
			return o, fmt.Errorf("order %s (%s) ended %s while waiting for %s", t.id, t.script, o.Status, want.name)
		case time.Now().After(deadline):
			return o, fmt.Errorf("order %s (%s) %w: still %s after %s waiting for %s", t.id, t.script, errStuck, o.Status, d.cfg.stepTimeout, want.name)
		}
		select {
		case <-ctx.Done():
			return o, ctx.Err()
		case <-tick.C:
		}
	}
}

func (d *driver) state(ctx context.Context, t *trip) (orderState, error) {
	status, raw, err := d.send(ctx, t, "read", func(ctx context.Context, c *ordersclient.ClientWithResponses) (*http.Response, []byte, error) {
		res, err := c.GetOrderWithResponse(ctx, t.id)
		if err != nil {
			return nil, nil, err
		}
		return res.HTTPResponse, res.Body, nil
	})
	if err != nil {
		return orderState{}, err
	}
	if status != http.StatusOK {
		return orderState{}, fmt.Errorf("order %s read: %d %s", t.id, status, raw)
	}
	var o ordersclient.Order
	if err := json.Unmarshal(raw, &o); err != nil {
		return orderState{}, err
	}
	return orderState{Status: order.Status(o.Status), PaymentSessionID: deref(o.PaymentSessionId), Total: o.Total, Currency: o.Currency}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
