// Package sagas holds the order workflow as a process manager: it keeps per-order memory
// in Postgres, reacts to events, webhooks and deadlines in whatever order they arrive,
// issues commands to the other services, and compensates when something fails.
package sagas

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
)

// Message is what the process manager reacts to: an event, a webhook or a deadline.
type Message struct {
	Name    string
	ID      string
	Payload json.RawMessage
}

// State is the saga's own memory of one order, beyond what the order's events say: the
// webhooks that arrived before the workflow was ready for them.
type State struct {
	PendingPayment  *PaymentWebhook    `json:"pendingPayment,omitempty"`
	PendingDelivery []shipping.Webhook `json:"pendingDelivery,omitempty"`
}

// PaymentWebhook is a payment webhook as the orders service hands it to the saga: the
// provider's body, and whether it came unsigned, which only dev mode accepts. The business
// case's bare unsigned body may leave out the session, amount and currency; the saga then
// takes the order's own. A signed webhook must name all three.
type PaymentWebhook struct {
	payment.Webhook
	Unsigned bool `json:"unsigned,omitempty"`
	// IntentOnly marks a failure the provider reported on the payment intent of the
	// order's checkout session: it names the order but not the session, and the order has
	// only the one session, opened under the order's own idempotency key.
	IntentOnly bool `json:"intentOnly,omitempty"`
}

// charge is what wh says was settled, for o.
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
	return Config{RiskThreshold: 70, ApprovalTimeout: 24 * time.Hour, PaymentTimeout: 24 * time.Hour, DeliveryTimeout: 7 * 24 * time.Hour}
}

// Input is everything a step may look at: pure data, gathered by the runner.
type Input struct {
	Msg   Message
	Order *order.Order
	State *State
	Now   time.Time
	Cfg   Config
	// RecentOrders counts the customer's other orders in the last hour (for risk).
	RecentOrders int
}

// Step decides effects for one message; it may update in.State.
type Step func(in Input) ([]Effect, error)

// Rule binds the steps taken when a message of one name arrives.
type Rule struct {
	On    string
	Steps []Step
}

// On declares a rule.
func On(name string, steps ...Step) Rule { return Rule{On: name, Steps: steps} }

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
		for _, step := range r.Steps {
			out, err := step(in)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", in.Msg.Name, err)
			}
			effects = append(effects, out...)
		}
	}
	return effects, nil
}

// decode reads a message's payload into T.
func decode[T any](m Message) (T, error) {
	var v T
	if err := json.Unmarshal(m.Payload, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", m.Name, err)
	}
	return v, nil
}

// when runs step only while the order is in one of statuses: a late deadline, a duplicate
// reply or a webhook for a finished wait then does nothing.
func when(statuses []order.Status, step Step) Step {
	return func(in Input) ([]Effect, error) {
		for _, s := range statuses {
			if in.Order.Status == s {
				return step(in)
			}
		}
		return nil, nil
	}
}

// while is shorthand for a status list.
func while(statuses ...order.Status) []order.Status { return statuses }

// parallel documents branches that do not depend on each other; their effects are issued
// together and carried out independently by their services.
func parallel(steps ...Step) Step {
	return func(in Input) ([]Effect, error) {
		var effects []Effect
		for _, s := range steps {
			out, err := s(in)
			if err != nil {
				return nil, err
			}
			effects = append(effects, out...)
		}
		return effects, nil
	}
}
