package sagas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// Topics the process manager reads besides the order events.
const (
	// WebhooksTopic carries verified provider webhooks from the HTTP edge to the saga.
	WebhooksTopic = "webhook_events"
	// DeadlinesTopic is the delayed queue of the workflow's deadlines.
	DeadlinesTopic = "order_deadlines"
	// ConsumerGroup is the saga's consumer group on every topic.
	ConsumerGroup = "saga.process_order"
)

// Runner carries out a Flow against Postgres: per message it locks the order's saga row,
// loads the order, decides and applies the effects, all in the message's transaction.
type Runner struct {
	flow   Flow
	cfg    Config
	now    func() time.Time
	logger *slog.Logger
}

// NewRunner builds a runner for flow.
func NewRunner(flow Flow, cfg Config, now func() time.Time, logger *slog.Logger) *Runner {
	return &Runner{flow: flow, cfg: cfg, now: now, logger: logger}
}

// Register subscribes the runner to every topic its flow listens to.
func (r *Runner) Register(log *eventstore.Log, router *message.Router) error {
	var names []string
	for n := range r.flow.Names() {
		names = append(names, n)
	}
	for _, st := range []string{orderstream.StreamType, inventory.StreamType, payment.StreamType, shipping.StreamType} {
		if err := log.Consume(router, ConsumerGroup, eventstore.EventsTopic(st), r.handleEvent, eventstore.OneAtATime(), eventstore.OnlyNames(names...)); err != nil {
			return err
		}
	}
	if err := log.Consume(router, ConsumerGroup, WebhooksTopic, r.handleMessage, eventstore.OneAtATime()); err != nil {
		return err
	}
	return log.ConsumeDue(router, ConsumerGroup+"/"+DeadlinesTopic, DeadlinesTopic, r.handleMessage, eventstore.OneAtATime())
}

func (r *Runner) handleEvent(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
	rec, err := eventstore.DecodeRecorded(msg)
	if err != nil {
		return err
	}
	m := Message{Name: rec.Name, ID: rec.EventID, Payload: rec.Payload}
	orderID := rec.StreamID
	if rec.StreamType != orderstream.StreamType {
		if orderID, err = orderIDOf(m); err != nil {
			return err
		}
	}
	return r.Handle(ctx, tx, orderID, m, eventstore.Metadata{CorrelationID: orderID, CausationID: rec.EventID, Actor: "saga"})
}

func (r *Runner) handleMessage(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
	m := Message{Name: msg.Metadata.Get("name"), ID: msg.UUID, Payload: json.RawMessage(msg.Payload)}
	orderID, err := orderIDOf(m)
	if err != nil {
		return err
	}
	return r.Handle(ctx, tx, orderID, m, eventstore.Metadata{CorrelationID: orderID, CausationID: msg.UUID, Actor: "saga"})
}

func orderIDOf(m Message) (string, error) {
	var v struct {
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(m.Payload, &v); err != nil || v.OrderID == "" {
		return "", fmt.Errorf("%s %s names no orderId", m.Name, m.ID)
	}
	return v.OrderID, nil
}

// Handle processes one message for one order inside tx.
func (r *Runner) Handle(ctx context.Context, tx pgx.Tx, orderID string, m Message, meta eventstore.Metadata) error {
	state, err := lockState(ctx, tx, orderID)
	if err != nil {
		return err
	}
	o, err := orderstream.Load(ctx, tx, orderID)
	if err != nil {
		return err
	}
	// Postgres keeps microseconds: truncating keeps event times and column times equal.
	in := Input{Msg: m, Order: o, State: &state, Now: r.now().UTC().Truncate(time.Microsecond), Cfg: r.cfg}
	if m.Name == order.NameOrderPlaced {
		if in.RecentOrders, err = recentOrders(ctx, tx, o); err != nil {
			return err
		}
	}
	effects, err := r.flow.Decide(in)
	if err != nil {
		return err
	}
	for _, e := range effects {
		if err := r.apply(ctx, tx, o, e, meta, in.Now); err != nil {
			return fmt.Errorf("%s for order %s: %w", m.Name, orderID, err)
		}
	}
	return saveState(ctx, tx, orderID, state)
}

func (r *Runner) apply(ctx context.Context, tx pgx.Tx, o *order.Order, e Effect, meta eventstore.Metadata, now time.Time) error {
	switch e := e.(type) {
	case OrderCommand:
		return orderstream.UpdateLoaded(ctx, tx, o, meta, func(o *order.Order) ([]order.Event, error) { return e.Run(o, now) })
	case SendCommand:
		return eventstore.Send(ctx, tx, e.Topic, meta, eventstore.Message{Name: e.Name, Data: e.Data})
	case ScheduleDeadline:
		return eventstore.Schedule(ctx, tx, DeadlinesTopic, e.At, meta, eventstore.Message{
			Name: DeadlineName(e.Wait), Data: map[string]string{"orderId": o.ID, "wait": string(e.Wait)},
		})
	case Notify:
		_, err := tx.Exec(ctx, `INSERT INTO orders.notifications (order_id, kind, recipient, subject, body)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id, kind) DO NOTHING`, o.ID, e.Kind, e.Recipient, e.Subject, e.Body)
		return err
	case OpenTicket:
		// A ticket is an order event, so the support-tickets read model is a projection
		// the replay tool can rebuild; the aggregate opens each kind once.
		err := orderstream.UpdateLoaded(ctx, tx, o, meta, func(o *order.Order) ([]order.Event, error) {
			return o.OpenSupportTicket(e.Kind, e.Reason, now)
		})
		if err == nil {
			r.logger.WarnContext(ctx, "support ticket opened", "order", o.ID, "kind", e.Kind, "reason", e.Reason)
		}
		return err
	}
	return fmt.Errorf("unknown effect %T", e)
}

func lockState(ctx context.Context, tx pgx.Tx, orderID string) (State, error) {
	var raw []byte
	err := tx.QueryRow(ctx, `SELECT state FROM sagas.order_process WHERE order_id = $1 FOR UPDATE`, orderID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		_, err = tx.Exec(ctx, `INSERT INTO sagas.order_process (order_id) VALUES ($1) ON CONFLICT DO NOTHING`, orderID)
		if err != nil {
			return State{}, err
		}
		err = tx.QueryRow(ctx, `SELECT state FROM sagas.order_process WHERE order_id = $1 FOR UPDATE`, orderID).Scan(&raw)
	}
	if err != nil {
		return State{}, fmt.Errorf("lock saga state of %s: %w", orderID, err)
	}
	var s State
	if err := json.Unmarshal(raw, &s); err != nil {
		return State{}, fmt.Errorf("decode saga state of %s: %w", orderID, err)
	}
	return s, nil
}

func saveState(ctx context.Context, tx pgx.Tx, orderID string, s State) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE sagas.order_process SET state = $2, updated_at = now() WHERE order_id = $1`, orderID, raw)
	return err
}

func recentOrders(ctx context.Context, tx pgx.Tx, o *order.Order) (int, error) {
	if o.CustomerID == "" {
		return 0, nil
	}
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM events
		WHERE event_name = 'order.placed.v1' AND payload->>'customerId' = $1
		  AND recorded_at > $2 AND stream_id <> $3`, o.CustomerID, o.PlacedAt.Add(-time.Hour), o.ID).Scan(&n)
	return n, err
}
