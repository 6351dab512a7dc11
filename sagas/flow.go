// Package sagas holds the order workflow as a process manager: it keeps per-order memory
// in Postgres, reacts to events, webhooks and deadlines in whatever order they arrive,
// issues commands to the other services, and compensates when something fails.
package sagas

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/risk"
	"github.com/ordermill/ordermill/domain/shipping"
)

// Actor is who the saga's writes are recorded as: its events' actor, and the author of
// its comments on tickets.
const Actor = "saga"

// Message is what the process manager reacts to: an event, a webhook or a deadline.
type Message struct {
	Name    string
	ID      string
	Payload json.RawMessage
	// RecentOrders, on an order.placed its placement recorded, is what RecentOrders
	// counted in the placement's first round trip (QueueRecentOrders); nil: the saga
	// counts them itself.
	RecentOrders *int
}

// State is the saga's own memory of one order, beyond what the order's events say: the
// webhooks that arrived before the workflow was ready for them.
type State struct {
	// PendingPayments are the payment webhooks that came before the order's session was
	// recorded, in the order they came: every one is applied, refunded or dropped as a
	// duplicate once the order can tell which.
	PendingPayments []PaymentWebhook   `json:"pendingPayments,omitempty"`
	PendingDelivery []shipping.Webhook `json:"pendingDelivery,omitempty"`
	// Refunding are the payments the saga asked the payment service to give back. None of
	// them may pay the order, also before the refund is on the order (Order.Refunds):
	// a probe had a payment refused for its amount, then reported again with the right
	// one, pay the order while its refund was on the way.
	Refunding []string `json:"refunding,omitempty"`
}

// UnmarshalJSON reads a state, also one stored when the saga remembered a single early
// payment webhook ("pendingPayment"), so that an upgrade loses none.
func (s *State) UnmarshalJSON(b []byte) error {
	type current State
	var v struct {
		current
		Single *PaymentWebhook `json:"pendingPayment"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = State(v.current)
	if v.Single != nil {
		s.PendingPayments = append([]PaymentWebhook{*v.Single}, s.PendingPayments...)
	}
	return nil
}

// PaymentWebhook is a payment webhook as the orders service hands it to the saga: the
// provider's body, and whether it came unsigned, which only dev mode accepts. The business
// case's bare unsigned body may leave out the session, amount and currency; the saga then
// takes the order's own. A signed webhook must name all three.
type PaymentWebhook struct {
	payment.Webhook
	Unsigned bool `json:"unsigned,omitempty"`
	// Declined is a declined card as the release before 2026-12-07 passed it on (its
	// "intentOnly" failure, in a webhook message or the saga's state across an upgrade):
	// it ends nothing now (payment_intent.payment_failed is ignored), and read as a
	// failure naming no session it opened a false payment_mismatch ticket (the review).
	// Nothing sets it any more.
	Declined bool `json:"intentOnly,omitempty"`
}

// MessageName is the name payment webhooks travel under to the saga.
func (PaymentWebhook) MessageName() string { return PaymentWebhookName }

// charge is what wh says was settled, for o. wh.Amount is in hundredths of the currency,
// as the order's total, in the flat body as in a Stripe event once converted (see
// payment.Webhook): 240000 for 2,400 JPY.
func (wh PaymentWebhook) charge(o *order.Order) order.Charge {
	c := order.Charge{SessionID: wh.SessionID, Amount: order.Cents(wh.Amount), Currency: wh.Currency}
	if wh.Unsigned {
		if c.SessionID == "" {
			c.SessionID = o.PaymentSessionID
		}
		if c.Amount == 0 {
			c.Amount = o.Total
		}
		if c.Currency == "" {
			c.Currency = o.Currency
		}
	}
	return c
}

// Config holds the workflow's tunables.
type Config struct {
	RiskThreshold   int
	ApprovalTimeout time.Duration
	PaymentTimeout  time.Duration
	DeliveryTimeout time.Duration
}

// DefaultConfig is the business case's configuration.
func DefaultConfig() Config {
	return Config{RiskThreshold: risk.DefaultThreshold, ApprovalTimeout: 24 * time.Hour, PaymentTimeout: 24 * time.Hour, DeliveryTimeout: 7 * 24 * time.Hour}
}

// Input is everything a step may look at: pure data, gathered by the runner. Steps never
// change it: what the saga should remember comes back as effects (KeepPendingPayment, ...).
type Input struct {
	Msg   Message
	Order *order.Order
	State State
	Now   time.Time
	Cfg   Config
	// RecentOrders counts the customer's other orders in the last hour (for risk).
	RecentOrders int
}

// Step decides effects from the order and the saga's memory; steps that read the message
// itself are typed (On).
type Step func(in Input) ([]Effect, error)

// Rule binds the steps taken when a message of one name arrives, while the order is where
// its guard says.
type Rule struct {
	On string
	// decode reads the message; nil for a deadline, whose steps need only the order.
	decode func(Message) (any, error)
	guard  func(*order.Order) bool
	steps  []func(in Input, msg any) ([]Effect, error)
}

// On declares the rule for messages of type T, its name taken from T: each step receives
// the decoded message. A payload that does not decode is an error naming the message.
func On[T any](steps ...func(in Input, msg T) ([]Effect, error)) Rule {
	r := Rule{On: nameOf[T](), decode: func(m Message) (any, error) { return decode[T](m) }}
	for _, step := range steps {
		r.steps = append(r.steps, func(in Input, msg any) ([]Effect, error) { return step(in, msg.(T)) })
	}
	return r
}

// After declares the rule for messages of type T whose steps need only the order and the
// saga's memory, not the message's content.
func After[T any](steps ...Step) Rule { return On[T]().Then(steps...) }

// OnDeadline declares the rule for the deadline of wait w. It applies only while the order
// still rests in w (lifecycle table): a deadline firing after its wait ended does nothing.
func OnDeadline(w order.Wait, steps ...Step) Rule {
	r := Rule{On: DeadlineName(w), guard: func(o *order.Order) bool { return o.Status.Waiting(w) }}
	return r.Then(steps...)
}

// Then adds steps that need only the order and the saga's memory.
func (r Rule) Then(steps ...Step) Rule {
	r.steps = slices.Clone(r.steps)
	for _, step := range steps {
		r.steps = append(r.steps, func(in Input, _ any) ([]Effect, error) { return step(in) })
	}
	return r
}

// IfAccepts applies the rule only while the order's status accepts cmd (lifecycle table):
// a duplicate reply, a late message or one for a finished step then does nothing.
func (r Rule) IfAccepts(cmd order.Command) Rule {
	r.guard = func(o *order.Order) bool { return o.Status.Accepts(cmd) }
	return r
}

// Flow is a workflow: its rules in reading order.
type Flow []Rule

// Names lists the message names the flow reacts to.
func (f Flow) Names() map[string]bool {
	names := map[string]bool{}
	for _, r := range f {
		names[r.On] = true
	}
	return names
}

// Decide runs every step of every rule for in.Msg and gathers their effects in order.
func (f Flow) Decide(in Input) ([]Effect, error) {
	var effects []Effect
	for _, r := range f {
		if r.On != in.Msg.Name {
			continue
		}
		if r.guard != nil && !r.guard(in.Order) {
			continue
		}
		var msg any
		if r.decode != nil {
			var err error
			if msg, err = r.decode(in.Msg); err != nil {
				return nil, fmt.Errorf("%s: %w", in.Msg.Name, err)
			}
		}
		for _, step := range r.steps {
			out, err := step(in, msg)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", in.Msg.Name, err)
			}
			effects = append(effects, out...)
		}
	}
	return effects, nil
}

// decode reads a message's payload into T. A payload that does not decode never will: it
// fails as bad input (apperr's invalid), which the log dead-letters at its first failure
// rather than retrying while its topic waits.
func decode[T any](m Message) (T, error) {
	var v T
	if err := json.Unmarshal(m.Payload, &v); err != nil {
		return v, apperr.Errorf(apperr.CodeInvalid, "decode %s %s: %v", m.Name, m.ID, err)
	}
	return v, nil
}

// nameOf is the message name values of type T travel under: an order event's stored name,
// a contract message's name, or one of the saga's own messages.
func nameOf[T any]() string {
	var zero T
	switch v := any(zero).(type) {
	case order.Event:
		return v.EventName()
	case interface{ MessageName() string }:
		return v.MessageName()
	case shipping.Webhook:
		return DeliveryWebhookName
	}
	panic(fmt.Sprintf("sagas: %T has no message name", zero))
}
