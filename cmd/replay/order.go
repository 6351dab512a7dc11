package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/sagas"
)

// An order's history is told event by event: what happened (the event as the timeline
// shows it), the order's state right after, and what the workflow decides at that point,
// computed by the real flow (sagas.ProcessOrder) on that state, in a dry run: commands
// the workflow would give the order are run on a copy to show the events they would
// append, and nothing is written or sent. The workflow's own memory of webhooks that came
// early is not in the order's events, so the dry run starts with none.

// step is one event of an order's history and what followed from it.
type step struct {
	Position   int64        `json:"position"`
	RecordedAt time.Time    `json:"recordedAt"`
	Actor      string       `json:"actor"`
	Name       string       `json:"name"`
	Summary    string       `json:"summary"`
	State      *order.Order `json:"state"`
	Decision   []effect     `json:"decision"`
	// Reply is what the workflow decided on another service's reply that this event
	// records, on the order as it was before it: the payment session's reply records the
	// session and sends the confirmation email, which no event of the order decides.
	Reply []effect `json:"reply,omitempty"`
	// Error is why the workflow could not decide (a malformed event).
	Error string `json:"error,omitempty"`
}

// effect is one thing the workflow decides.
type effect struct {
	// Kind is order_command, send_command, deadline, email or ticket.
	Kind string `json:"kind"`
	// Name is the command's, the wait's, the email's or the ticket's.
	Name string `json:"name"`
	// Detail says what it does in a sentence.
	Detail string `json:"detail"`
	// Events are what an order command would append, with their summaries.
	Events []decided `json:"events,omitempty"`
}

type decided struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
}

func explainOrder(ctx context.Context, q eventstore.Querier, args []string, cfg sagas.Config, asJSON bool, w io.Writer) error {
	if len(args) != 1 {
		return errors.New("order wants one order id: replay order ID [-json]")
	}
	steps, err := history(ctx, q, args[0], cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(steps)
	}
	return printHistory(w, steps)
}

// history replays order id's events through the aggregate and the workflow, deciding with
// cfg: the orders service's settings (workflow.FromEnv), so that the deadlines and
// thresholds it shows are the ones the service used.
func history(ctx context.Context, q eventstore.Querier, id string, cfg sagas.Config) ([]step, error) {
	recorded, err := eventstore.Load(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if len(recorded) == 0 || recorded[0].StreamType != orderstream.StreamType {
		return nil, fmt.Errorf("no order %s in the log", id)
	}
	o := &order.Order{}
	var steps []step
	for _, r := range recorded {
		if !order.Known(r.Name) {
			// A newer release's event: told, and left out of the fold as the services leave
			// it (it failed the whole history: a probe), counted towards the version as
			// they count it.
			o.Apply(order.Unknown{Name: r.Name})
			state := *o
			steps = append(steps, step{Position: r.Position, RecordedAt: r.RecordedAt, Actor: r.Metadata.Actor, Name: r.Name,
				Summary: "not known to this release: left out", State: &state})
			continue
		}
		r, err := orderstream.Upcast(r)
		if err != nil {
			return nil, err
		}
		e, err := orderstream.Decode(r)
		if err != nil {
			return nil, err
		}
		before := *o
		o.Apply(e)
		state := *o
		s := step{Position: r.Position, RecordedAt: r.RecordedAt, Actor: r.Metadata.Actor, Name: r.Name, Summary: projections.Summarize(e), State: &state}
		in := sagas.Input{Msg: sagas.Message{Name: r.Name, ID: r.EventID, Payload: r.Payload}, Order: &state, State: sagas.State{}, Now: r.RecordedAt, Cfg: cfg}
		if r.Name == order.NameOrderPlaced {
			if in.RecentOrders, err = sagas.RecentOrders(ctx, q, &state, &r.RecordedAt); err != nil {
				return nil, err
			}
		}
		effects, err := sagas.ProcessOrder.Decide(in)
		if err != nil {
			s.Error = err.Error()
		}
		for _, e := range effects {
			s.Decision = append(s.Decision, describe(e, state, r.RecordedAt))
		}
		if s.Reply, err = replyRecorded(e, before, r, cfg); err != nil {
			s.Error = strings.TrimPrefix(s.Error+"; on the reply: "+err.Error(), "; ")
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// replyRecorded is what the workflow decides on the reply event e records, for the order as
// it was before (see step.Reply); nothing for an event that records no reply.
func replyRecorded(e order.Event, before order.Order, r eventstore.Recorded, cfg sagas.Config) ([]effect, error) {
	created, ok := e.(*order.PaymentSessionCreated)
	if !ok {
		return nil, nil
	}
	payload, err := json.Marshal(payment.SessionCreated{OrderID: before.ID, SessionID: created.SessionID, URL: created.URL,
		Amount: int64(created.Amount), Currency: created.Currency, ExpiresAt: created.Deadline})
	if err != nil {
		return nil, err
	}
	in := sagas.Input{Msg: sagas.Message{Name: payment.SessionCreatedName, ID: r.EventID, Payload: payload}, Order: &before, State: sagas.State{}, Now: r.RecordedAt, Cfg: cfg}
	effects, err := sagas.ProcessOrder.Decide(in)
	if err != nil {
		return nil, err
	}
	out := make([]effect, len(effects))
	for i, e := range effects {
		out[i] = describe(e, before, r.RecordedAt)
	}
	return out, nil
}

// describe says what an effect would do; an order command runs on a copy of the state.
func describe(e sagas.Effect, o order.Order, at time.Time) effect {
	switch e := e.(type) {
	case sagas.OrderCommand:
		out := effect{Kind: "order_command", Name: e.Name()}
		events, err := e.Run(&o, at)
		switch {
		case err != nil:
			out.Detail = "refused: " + err.Error()
		case len(events) == 0:
			out.Detail = "nothing to append"
		}
		var parts []string
		for _, ev := range events {
			d := decided{Name: ev.EventName(), Summary: summarizeStored(ev)}
			out.Events = append(out.Events, d)
			parts = append(parts, d.Name+" ("+d.Summary+")")
		}
		if out.Detail == "" {
			out.Detail = "append " + strings.Join(parts, ", ")
		}
		return out
	case sagas.SendCommand:
		return effect{Kind: "send_command", Name: e.Name, Detail: "send " + e.Name + " to " + e.Topic}
	case sagas.ScheduleDeadline:
		return effect{Kind: "deadline", Name: string(e.Wait), Detail: "end the " + string(e.Wait) + " wait at " + stamp(e.At)}
	case sagas.Notify:
		to := e.Recipient
		if to == "" {
			to = "(no email address: recorded, not sent)"
		}
		return effect{Kind: "email", Name: e.Kind, Detail: fmt.Sprintf("email %s to %s: %q", e.Kind, to, e.Subject)}
	case sagas.OpenTicket:
		return effect{Kind: "ticket", Name: e.Kind, Detail: "open a support ticket " + e.Kind + ": " + e.Reason}
	case sagas.RememberRefund:
		return effect{Kind: "remember", Name: "refunding", Detail: "remember that payment " + e.PaymentID + " is being refunded: it may not pay the order"}
	}
	return effect{Kind: fmt.Sprintf("%T", e)}
}

// printHistory writes one line per event (position, time, actor, name, summary, in
// aligned columns) and under it the order's state and the workflow's decision.
// summarizeStored summarizes a decided event as it would read once stored.
func summarizeStored(e order.Event) string {
	payload, err := json.Marshal(e)
	if err != nil {
		return err.Error()
	}
	stored, err := orderstream.Decode(eventstore.Recorded{Name: e.EventName(), Payload: payload})
	if err != nil {
		return err.Error()
	}
	return projections.Summarize(stored)
}

func printHistory(w io.Writer, steps []step) error {
	var wPos, wActor, wName int
	for _, s := range steps {
		wPos = max(wPos, len(fmt.Sprint(s.Position)))
		wActor, wName = max(wActor, len(s.Actor)), max(wName, len(s.Name))
	}
	indent := strings.Repeat(" ", wPos+2)
	for _, s := range steps {
		_, err := fmt.Fprintf(w, "%*d  %s  %-*s  %-*s  %s\n%sstate     %s\n", wPos, s.Position, stamp(s.RecordedAt),
			wActor, s.Actor, wName, s.Name, s.Summary, indent, describeState(s.State))
		if err != nil {
			return err
		}
		for i, e := range s.Reply {
			label := "          "
			if i == 0 {
				label = "on reply  "
			}
			if _, err := fmt.Fprintf(w, "%s%s%s\n", indent, label, e.Detail); err != nil {
				return err
			}
		}
		lines := []string{"nothing to do"}
		if s.Error != "" {
			lines = []string{"cannot decide: " + s.Error}
		}
		if len(s.Decision) > 0 {
			lines = nil
		}
		for _, e := range s.Decision {
			lines = append(lines, e.Detail)
		}
		for i, l := range lines {
			label := "          "
			if i == 0 {
				label = "workflow  "
			}
			if _, err := fmt.Fprintf(w, "%s%s%s\n", indent, label, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// describeState is the order in one line: its status, then what it has gathered so far.
func describeState(o *order.Order) string {
	parts := []string{string(o.Status), o.Total.Text(o.Currency)}
	add := func(ok bool, format string, args ...any) {
		if ok {
			parts = append(parts, fmt.Sprintf(format, args...))
		}
	}
	add(o.RiskScore != nil, "risk %d of %d", deref(o.RiskScore), o.RiskThreshold)
	add(o.Status == order.StatusAwaitingApproval, "approval due %s", stamp(o.ApprovalDeadline))
	add(o.DecidedBy != "", "decided by %s", o.DecidedBy)
	add(o.ReservationID != "", "reservation %s", o.ReservationID)
	add(o.ReservationFailed != "", "reservation failed: %s", o.ReservationFailed)
	add(o.PaymentSessionID != "", "payment session %s", o.PaymentSessionID)
	add(o.PaymentID != "" && o.PaymentFailReason == "", "paid %s", o.PaymentID)
	add(o.PaymentFailReason != "", "payment failed: %s", o.PaymentFailReason)
	add(o.ShipmentID != "", "shipment %s with %s", o.ShipmentID, o.Carrier)
	add(o.DeliveryStatus != "", "courier: %s", o.DeliveryStatus)
	add(o.CancelReason != "", "cancelled: %s", o.CancelReason)
	var refunded []string
	for _, r := range o.Refunds {
		if !slices.Contains(refunded, r.PaymentID) { // a payment refunded in parts, once
			refunded = append(refunded, r.PaymentID)
		}
	}
	add(len(refunded) > 0, "refunded %s", strings.Join(refunded, ", "))
	add(len(o.SupportTickets) > 0, "tickets: %s", strings.Join(o.SupportTickets, ", "))
	return strings.Join(parts, "; ")
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// stamp writes a time in UTC to the millisecond.
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}
