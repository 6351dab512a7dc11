// Package ordergen writes realistic order histories through the real event store (the
// events table and the partitioned log, exactly as the services write them), for tests
// and benchmarks of the projections and the replay tool.
//
// Orders are interleaved as in production: many are in flight at once, each step of one
// order is its own append, and the mix of outcomes follows a shop's (most orders complete;
// some are held for a manager, some fail payment or delivery, some are still waiting).
// The same seed gives the same histories, with times taken from a simulated clock.
package ordergen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/risk"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// Options choose what Generate writes.
type Options struct {
	// Events is how many events to write at least: Generate stops starting orders once
	// it has written that many, and finishes the orders in flight (0: 10,000).
	Events int
	// Seed makes the histories reproducible.
	Seed uint64
	// InFlight is how many orders are interleaved at once (0: 200).
	InFlight int
	// StepsPerTx is how many steps are stored by one transaction (0: 2000).
	StepsPerTx int
	// Start is the business time of the first order (zero: 2026-01-01 UTC).
	Start time.Time
	// Prefix starts every order id, so several runs can share a database.
	Prefix string
	// UUIDs makes order ids UUIDs, spread over the key space as the orders service's
	// random ones are, instead of ord-0000001…: the indexes on order ids of a history so
	// written take new orders as a real store's would, all over, not beside the history.
	UUIDs bool
	// Limit, when not zero, stops after exactly that many events, leaving orders in the
	// middle of their histories: on a fresh database, the log as it was when the event
	// at position Limit was the newest.
	Limit int
	// Snapshots stores every order's state as its snapshot with each transaction, as the
	// services' appends leave them (eventstore.Import stores none): the store of a system
	// that ran. Not with Limit, which would leave snapshots ahead of their streams.
	Snapshots bool
	// Ended writes a past in which every order has ended: one that would still wait for
	// its payment was cancelled when its deadline passed, as the workflow would have
	// cancelled it. Without it, a few orders wait for payment with no deadline armed (no
	// saga wrote them), and never end.
	Ended bool
	// around, when set, writes each transaction's events itself (write), in tx, with what
	// must commit with them (Consumed's offsets).
	around func(ctx context.Context, tx pgx.Tx, write func() error) error
}

// Result says what Generate wrote.
type Result struct {
	Orders, Events int
}

// windDown bounds how long Generate goes on writing once its context has ended.
const windDown = 30 * time.Second

// Generate writes order histories until at least opts.Events events are stored. Once ctx
// ends it starts no more orders and writes the ones in flight to their ends, then returns
// ctx's error: a past cut short is whole, every order of it ended as a finished one's
// (cut between transactions, it left up to InFlight orders mid-way, some held for a
// decision with no deadline, which a manager's approval set going: the review), within
// windDown. Each transaction begun is written whole.
func Generate(ctx context.Context, pool *pgxpool.Pool, opts Options) (Result, error) {
	if opts.Events == 0 {
		opts.Events = 10_000
	}
	if opts.InFlight == 0 {
		opts.InFlight = 200
	}
	if opts.StepsPerTx == 0 {
		opts.StepsPerTx = 2000
	}
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if opts.Snapshots && opts.Limit > 0 {
		return Result{}, errors.New("ordergen: Snapshots and Limit do not go together")
	}
	g := &generator{rnd: rand.New(rand.NewPCG(opts.Seed, 0x6f72646572)), clock: opts.Start, opts: opts}
	var res Result
	// Writes outlive ctx by windDown at most: a database that stalls during the wind-down
	// does not hold the program for good (the review).
	write, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(windDown, cancel) })
	defer stop()
	for (res.Events < opts.Events && ctx.Err() == nil) || len(g.flight) > 0 {
		batch := Batch{snapshots: opts.Snapshots}
		for range opts.StepsPerTx {
			for ctx.Err() == nil && res.Events+len(batch.events) < opts.Events && len(g.flight) < opts.InFlight {
				g.flight = append(g.flight, g.newOrder(res.Orders))
				res.Orders++
			}
			if len(g.flight) == 0 {
				break
			}
			if err := g.step(&batch); err != nil {
				return res, err
			}
		}
		cut := opts.Limit > 0 && res.Events+len(batch.events) >= opts.Limit
		if cut {
			batch.events = batch.events[:opts.Limit-res.Events]
		}
		if err := pgx.BeginFunc(write, pool, func(tx pgx.Tx) error {
			do := func() error { return batch.Write(write, tx) }
			if opts.around != nil {
				return opts.around(write, tx, do)
			}
			return do()
		}); err != nil {
			return res, err
		}
		res.Events += len(batch.events)
		if cut {
			break
		}
	}
	return res, ctx.Err()
}

// Step is one command of a history: who gives it and what it decides.
type Step struct {
	Actor  string
	Decide func(o *order.Order, at time.Time) ([]order.Event, error)
}

// Batch gathers the events of many steps, as the services would append them, to be
// stored together.
type Batch struct {
	events []eventstore.Recorded
	// snapshots: Write also stores the orders' states as their snapshots (Options).
	snapshots bool
	orders    map[string]*order.Order
}

// Do decides step on o at time at, applies the events to o and keeps them; at is also
// their recording time.
func (b *Batch) Do(o *order.Order, step Step, at time.Time) error {
	events, err := step.Decide(o, at)
	if err != nil {
		return fmt.Errorf("order %s: %w", o.ID, err)
	}
	for _, e := range events {
		o.Apply(e)
		payload, err := json.Marshal(e)
		if err != nil {
			return err
		}
		b.events = append(b.events, eventstore.Recorded{
			StreamID: o.ID, StreamType: orderstream.StreamType, Version: o.Version, Name: e.EventName(),
			Payload: payload, Metadata: eventstore.Metadata{CorrelationID: o.ID, Actor: step.Actor}, RecordedAt: at,
		})
	}
	if b.snapshots && len(events) > 0 {
		if b.orders == nil {
			b.orders = map[string]*order.Order{}
		}
		b.orders[o.ID] = o // by id once placed
	}
	return nil
}

// Write stores the batch's events and publishes them to the log, through tx.
func (b *Batch) Write(ctx context.Context, tx pgx.Tx) error {
	if len(b.events) == 0 {
		return nil
	}
	if err := eventstore.Import(ctx, tx, b.events); err != nil || len(b.orders) == 0 {
		return err
	}
	positions := make(map[string]int64, len(b.orders))
	for _, e := range b.events {
		positions[e.StreamID] = e.Position // in log order: the last is the newest
	}
	orders := slices.SortedFunc(maps.Values(b.orders), func(a, b *order.Order) int { return strings.Compare(a.ID, b.ID) })
	return orderstream.StoreSnapshots(ctx, tx, orders, positions)
}

type generator struct {
	rnd    *rand.Rand
	clock  time.Time
	opts   Options
	flight []*inFlight
}

type inFlight struct {
	o     order.Order
	steps []Step
}

func (g *generator) step(b *Batch) error {
	i := g.rnd.IntN(len(g.flight))
	f := g.flight[i]
	g.clock = g.clock.Add(time.Duration(1+g.rnd.IntN(2000)) * time.Millisecond)
	if err := b.Do(&f.o, f.steps[0], g.clock); err != nil {
		return err
	}
	f.steps = f.steps[1:]
	if len(f.steps) == 0 {
		g.flight[i] = g.flight[len(g.flight)-1]
		g.flight = g.flight[:len(g.flight)-1]
	}
	return nil
}

// newOrder draws the n-th order and the path it will take.
func (g *generator) newOrder(n int) *inFlight {
	id := fmt.Sprintf("%sord-%07d", g.opts.Prefix, n)
	if g.opts.UUIDs {
		// The seed is in the name: another seed's orders are other orders, so histories of
		// two seeds share a database.
		id = g.opts.Prefix + uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", id, g.opts.Seed)).String()
	}
	customer := fmt.Sprintf("cust-%05d", g.rnd.IntN(20_000))
	cmd := order.PlaceOrder{
		OrderID: id, CustomerID: customer, CustomerEmail: customer + "@example.com",
		Currency: "USD", ShippingAddress: address(customer), BillingAddress: address(customer),
	}
	lines := 1 + g.rnd.IntN(3)
	for l := range lines {
		price := order.Cents(500 + g.rnd.IntN(20_000))
		qty := 1 + g.rnd.IntN(3)
		cmd.Items = append(cmd.Items, order.Item{SKU: fmt.Sprintf("SKU-%03d", 1+(n+l)%50), Quantity: qty, UnitPrice: &price})
		cmd.Total += price * order.Cents(qty)
	}
	path := g.rnd.IntN(100)
	held := path < 10
	if held {
		cmd.NewCustomer = true
		cmd.Total, cmd.Items = 2_500_000, cmd.Items[:1]
		price := cmd.Total
		cmd.Items[0].Quantity, cmd.Items[0].UnitPrice = 1, &price
	}
	f := &inFlight{steps: []Step{Place(cmd)}}
	if held {
		f.steps = append(f.steps, Assess(85, HighRiskFactors()...))
		switch {
		case path < 2:
			return f.with(Reject("manager@example.com", "could not reach the customer"))
		case path < 3:
			return f.with(Cancel(order.ReasonTimedOut, "no manager decision before the deadline"))
		}
		f.steps = append(f.steps, Approve("manager@example.com", "checked by phone"))
	} else {
		f.steps = append(f.steps, Assess(10))
	}
	f.steps = append(f.steps, Reserve("res-"+id), OpenSession("cs_"+id))
	switch {
	case path >= 96 && g.opts.Ended:
		return f.with(Cancel(order.ReasonTimedOut, "no payment before the deadline"))
	case path >= 96:
		return f // still waiting for payment
	case path >= 90:
		return f.with(FailPayment("pi_"+id, "card declined"))
	}
	f.steps = append(f.steps, Pay("pi_"+id), Ship("shp-"+id), Courier("in_transit", ""))
	if path >= 87 {
		return f.with(Courier("failed", "address not found"), Ticket("delivery_failed", "the courier reported the delivery as failed: address not found"))
	}
	return f.with(Courier("delivered", ""), Complete())
}

func (f *inFlight) with(steps ...Step) *inFlight {
	f.steps = append(f.steps, steps...)
	return f
}

func address(customer string) *order.Address {
	return &order.Address{Name: customer, Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}
}

// HighRiskFactors are the factors of a $25,000 order from a new customer.
func HighRiskFactors() []order.RiskFactor {
	return []order.RiskFactor{
		{Code: "amount_over_20000", Description: "order total exceeds $20,000", Points: 50},
		{Code: "new_customer", Description: "first order from this customer", Points: 25},
	}
}

// Place is the customer placing cmd.
func Place(cmd order.PlaceOrder) Step {
	actor := "customer"
	if cmd.CustomerID != "" {
		actor += ":" + cmd.CustomerID
	}
	return Step{Actor: actor, Decide: func(o *order.Order, at time.Time) ([]order.Event, error) {
		cmd.At = at
		return o.Place(cmd)
	}}
}

// Assess is the workflow scoring the order's risk.
func Assess(score int, factors ...order.RiskFactor) Step {
	return saga(func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.AssessRisk(score, factors, risk.DefaultThreshold, at.Add(24*time.Hour), at)
	})
}

// Approve is a manager approving a held order.
func Approve(by, reason string) Step {
	return Step{Actor: "manager:" + by, Decide: func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.Approve(by, reason, at)
	}}
}

// Reject is a manager rejecting a held order.
func Reject(by, reason string) Step {
	return Step{Actor: "manager:" + by, Decide: func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.Reject(by, reason, at)
	}}
}

// Reserve is the workflow recording the warehouse's reservation.
func Reserve(id string) Step {
	return saga(func(o *order.Order, at time.Time) ([]order.Event, error) { return o.ReserveInventory(id, at) })
}

// OpenSession is the workflow recording the payment session.
func OpenSession(id string) Step {
	return saga(func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.RecordPaymentSession(order.PaymentSession{
			ID: id, URL: "https://pay.example.com/" + id, Amount: o.Total, Currency: o.Currency, Deadline: at.Add(24 * time.Hour),
		}, at)
	})
}

// Pay is the workflow applying a completed payment webhook.
func Pay(id string) Step {
	return saga(func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.CompletePayment(id, order.Charge{SessionID: o.PaymentSessionID, Amount: o.Total, Currency: o.Currency}, at)
	})
}

// FailPayment is the workflow applying a failed payment webhook.
func FailPayment(id, reason string) Step {
	return saga(func(o *order.Order, at time.Time) ([]order.Event, error) { return o.FailPayment(id, reason, at) })
}

// Ship is the workflow recording the shipment.
func Ship(id string) Step {
	return saga(func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.CreateShipment(id, "ACME Post", "TRK-"+id, at)
	})
}

// Courier is the workflow applying a courier webhook.
func Courier(status, reason string) Step {
	return saga(func(o *order.Order, at time.Time) ([]order.Event, error) { return o.UpdateDelivery(status, reason, at) })
}

// Complete is the workflow closing a delivered order.
func Complete() Step {
	return saga(func(o *order.Order, at time.Time) ([]order.Event, error) { return o.Complete(at) })
}

// Cancel is the workflow cancelling the order.
func Cancel(reason order.CancelReason, detail string) Step {
	return saga(func(o *order.Order, at time.Time) ([]order.Event, error) { return o.Cancel(reason, detail, at) })
}

// Ticket is the workflow opening a support ticket.
func Ticket(kind, reason string) Step {
	return saga(func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.OpenSupportTicket(kind, reason, at)
	})
}

func saga(decide func(o *order.Order, at time.Time) ([]order.Event, error)) Step {
	return Step{Actor: "saga", Decide: decide}
}
