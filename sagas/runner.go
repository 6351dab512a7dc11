package sagas

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/risk"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/eventstore/metrics"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// Topics the process manager reads besides the order events.
const (
	// WebhooksTopic carries verified provider webhooks from the HTTP edge to the saga:
	// those the saga could not handle in the webhook's own transaction (RunNow).
	WebhooksTopic = "webhook_events"
	// DeadlinesTopic is the delayed queue of the workflow's deadlines.
	DeadlinesTopic = "order_deadlines"
	// ConsumerGroup is the saga's consumer group on every topic.
	ConsumerGroup = "saga.process_order"
)

// Runner carries out a Flow against Postgres: per message it locks the order's saga row,
// loads the order, decides and applies the effects, all in the message's transaction.
type Runner struct {
	flow    Flow
	names   map[string]bool // the message names flow reacts to
	cfg     Config
	now     func() time.Time
	logger  *slog.Logger
	outbox  Outbox                 // records the emails
	ranNow  *prometheus.CounterVec // RunNow's outcomes
	shared  prometheus.Histogram   // calls a RunNow transaction carries
	waiting prometheus.GaugeFunc   // calls waiting for a lane

	nowQueue nowQueue // RunNow's calls waiting for a lane
}

// RunNow's outcomes, the outcome label of ordermill_saga_run_now_total.
const (
	ranNowHandled   = "handled"     // the saga ran in the edge's own transaction
	ranNowLeftToLog = "left_to_log" // it failed there; its consumers take the message
	ranNowBusy      = "busy"        // refused unrun: maxNowWaiting calls waited for a lane
)

// NewRunner builds a runner for flow that records its emails in outbox.
func NewRunner(flow Flow, cfg Config, outbox Outbox, now func() time.Time, logger *slog.Logger) *Runner {
	ranNow := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Name: "saga_run_now_total",
		Help: "Placements, webhooks and managers' decisions the saga ran on in their own transaction (handled), left to its consumers because that failed (left_to_log), or refused unrun, 503, because too many waited for the database (busy).",
	}, []string{"outcome"})
	// Every series from the start at 0: increase() over a series that appears with its
	// first count misses that count, and the first failure is the one to see.
	for _, outcome := range []string{ranNowHandled, ranNowLeftToLog, ranNowBusy} {
		ranNow.WithLabelValues(outcome)
	}
	r := &Runner{flow: flow, names: flow.Names(), cfg: cfg, outbox: outbox, now: now, logger: logger,
		ranNow: ranNow,
		shared: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Name: "saga_run_now_calls",
			Help:    "RunNow calls (placements, webhooks, decisions) per transaction: calls that wait for a lane share the next one.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		})}
	r.waiting = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metrics.Namespace, Name: "saga_run_now_waiting",
		Help: fmt.Sprintf("Placements, webhooks and decisions waiting for a RunNow transaction; at %d more are refused (503).", maxNowWaiting),
	}, func() float64 { return float64(r.nowQueue.len()) })
	return r
}

// Collectors are the runner's metrics, for the host's registry.
func (r *Runner) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.ranNow, r.shared, r.waiting}
}

// Register subscribes the runner to every topic its flow listens to, in batches. Each
// partition of the order events has a consumer of its own, so orders move in parallel;
// replies, webhooks and deadlines have one each. Every batch takes all of its orders'
// saga locks up front, in order id order, in one statement (queueLockStates), so two saga
// transactions can wait for each other but never deadlock.
func (r *Runner) Register(log *eventstore.Log, router *message.Router) error {
	var names []string
	for n := range r.names {
		names = append(names, order.StoredNames(n)...) // older versions are upcast by jobOf
	}
	only, queued := eventstore.OnlyNames(names...), eventstore.QueueWrites()
	for _, topic := range eventstore.Partitions(orderstream.Topic) {
		if err := log.ConsumeBatches(router, ConsumerGroup, []string{topic}, r.handleBatch, only, queued, eventstore.Pace(OrderEventsPace)); err != nil {
			return err
		}
	}
	for _, st := range []string{inventory.StreamType, payment.StreamType, shipping.StreamType} {
		if err := log.ConsumeBatches(router, ConsumerGroup, eventstore.Partitions(eventstore.EventsTopic(st)), r.handleBatch, only, queued); err != nil {
			return err
		}
	}
	if err := log.ConsumeBatches(router, ConsumerGroup, []string{WebhooksTopic}, r.handleBatch, queued); err != nil {
		return err
	}
	return log.ConsumeDue(router, ConsumerGroup+"/"+DeadlinesTopic, DeadlinesTopic, r.handleMessage, eventstore.OneAtATime())
}

// OrderEventsPace paces the saga's consumers of the order events (eventstore.Pace). The
// saga handles nearly every order event in the transaction that records it (RunNow, and
// its own batches), so these consumers mostly step over events already handled; the
// rest (an event recorded without the saga, when running it failed) waits up to this
// while the log is busy. Unpaced, they took a batch of skips at every round: 0.28
// batches an order at 64 customers (docs/BENCHMARKS.md, twenty-sixth session).
const OrderEventsPace = 100 * time.Millisecond

// job is one message for one order.
type job struct {
	ctx     context.Context
	orderID string
	msg     Message
	meta    eventstore.Metadata
}

// jobOf reads what msg says and for which order: an event envelope (it names its
// stream; an order event is read in its current version) or a plain message such as a
// webhook or a deadline.
func jobOf(ctx context.Context, msg *message.Message) (job, error) {
	j := job{ctx: ctx}
	if msg.Metadata.Get("stream_id") != "" {
		rec, err := eventstore.DecodeRecorded(msg)
		if err != nil {
			return j, err
		}
		if rec, err = orderstream.Upcast(rec); err != nil {
			return j, err
		}
		j.msg = Message{Name: rec.Name, ID: rec.EventID, Payload: rec.Payload}
		j.orderID = rec.StreamID
		if rec.StreamType == orderstream.StreamType && j.orderID == "" {
			// Refused here, so it is dead-lettered as what it is, not as an order "" not found.
			return j, apperr.Errorf(apperr.CodeInvalid, "%s %s names no order stream", rec.Name, msg.UUID)
		}
		if rec.StreamType != orderstream.StreamType {
			if j.orderID, err = orderIDOf(j.msg); err != nil {
				return j, err
			}
		}
	} else {
		j.msg = Message{Name: msg.Metadata.Get("name"), ID: msg.UUID, Payload: json.RawMessage(msg.Payload)}
		var err error
		if j.orderID, err = orderIDOf(j.msg); err != nil {
			return j, err
		}
	}
	return newJob(ctx, j.orderID, j.msg), nil
}

func (r *Runner) handleBatch(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
	jobs := make([]job, len(msgs))
	spans := make([]trace.Span, len(msgs))
	defer func() {
		for _, s := range spans {
			if s != nil {
				s.End()
			}
		}
	}()
	for i, msg := range msgs {
		mctx, span := eventstore.StartHandlerSpan(ctx, ConsumerGroup, msg)
		spans[i] = span
		j, err := jobOf(mctx, msg)
		if err != nil {
			return err
		}
		jobs[i] = j
	}
	return r.run(ctx, tx, jobs)
}

func (r *Runner) handleMessage(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
	j, err := jobOf(ctx, msg)
	if err != nil {
		return err
	}
	return r.run(ctx, tx, []job{j})
}

func orderIDOf(m Message) (string, error) {
	var v struct {
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(m.Payload, &v); err != nil || v.OrderID == "" {
		return "", apperr.Errorf(apperr.CodeInvalid, "%s %s names no orderId", m.Name, m.ID)
	}
	return v.OrderID, nil
}

// Handle processes one message for one order inside tx.
func (r *Runner) Handle(ctx context.Context, tx pgx.Tx, orderID string, m Message, meta eventstore.Metadata) error {
	return r.run(ctx, tx, []job{{ctx: ctx, orderID: orderID, msg: m, meta: meta}})
}

// run handles jobs in order inside tx: it takes every order's saga lock and loads every
// order once, then decides and applies each job's effects, and saves the states, the
// writes pipelined (eventstore.Pipeline). An append that meets a concurrent writer of
// the stream that takes no saga lock (a manager's claim or note at that moment) fails the
// run; the consumer then retries its messages one by one, and each run loads its orders
// afresh, so the decision is retaken on the latest state.
func (r *Runner) run(ctx context.Context, outer pgx.Tx, jobs []job) error {
	// Every write of the run is queued and goes out in one round trip with the states at
	// the end (a read in between, such as the velocity count, flushes what came before).
	tx := eventstore.Pipelined(outer)
	ids := make([]string, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.orderID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	states, orders, err := lockAndLoad(ctx, tx, ids)
	if err != nil {
		return err
	}
	if err := r.decideAll(ctx, tx, jobs, orders, states); err != nil {
		return err
	}
	if tx == outer {
		return nil // the consumer's pipeline (QueueWrites): it sends all with its commit
	}
	return tx.Flush(ctx)
}

// lockAndLoad takes the saga locks of ids (sorted) and reads their saga states and
// orders, in one round trip with whatever tx has queued: the reads run after the locks
// are granted, so they see every commit that ended before. RunNow queues its caller's
// first statements (an idempotency key, an inbox row) so that they cost no round trip of
// their own.
func lockAndLoad(ctx context.Context, tx *eventstore.Pipeline, ids []string) (map[string]State, map[string]orderstream.Current, error) {
	b := &pgx.Batch{}
	states := queueLockStates(b, ids)
	loading := orderstream.QueueLoadMany(b, ids)
	tx.QueueBatch(b)
	if err := tx.Flush(ctx); err != nil {
		return nil, nil, err
	}
	orders, err := loading.Loaded(ctx, tx)
	return states, orders, err
}

// decideAll decides every job on its order, with the orders and saga states read under
// their locks, and saves the states; the writes are queued on tx.
func (r *Runner) decideAll(ctx context.Context, tx *eventstore.Pipeline, jobs []job, orders map[string]orderstream.Current, states map[string]State) error {
	recent, err := recentOrdersOf(ctx, tx, jobs, orders)
	if err != nil {
		return err
	}
	// The states as read, to write only those that change: most steps leave the state as
	// it was, empty (it holds only webhooks that came early), and an order whose state is
	// empty needs no row.
	read := make(map[string]string, len(jobs))
	for _, j := range jobs {
		if _, ok := read[j.orderID]; !ok {
			raw, err := json.Marshal(states[j.orderID])
			if err != nil {
				return err
			}
			read[j.orderID] = string(raw)
		}
	}
	for _, j := range jobs {
		c, ok := orders[j.orderID]
		if !ok {
			if err := r.unplaced(tx, j); err != nil {
				return err
			}
			continue
		}
		state := states[j.orderID]
		if err := r.decide(tx, j, c.Order, &state, recent[j.orderID]); err != nil {
			return err
		}
		states[j.orderID] = state
	}
	return saveStates(ctx, tx, states, read)
}

// unplaced handles, in tx, job j about an order that was never placed: a reservation or
// a shipment booked by hand for it is given back, and what holds nothing to answer is
// dropped, with a log line (forUnplacedOrder). Any other is refused: no order comes into
// being after a message about it (its commands and replies follow its placement), so it
// is dead-lettered at once, not retried.
func (r *Runner) unplaced(tx pgx.Tx, j job) error {
	cmds, known, err := forUnplacedOrder(j.msg)
	if err != nil {
		return err
	}
	if !known {
		return eventstore.Permanent(apperr.Errorf(apperr.CodeNotFound, "%s %s: order %s not found", j.msg.Name, j.msg.ID, j.orderID))
	}
	if len(cmds) == 0 {
		eventstore.OnCommit(j.ctx, func() {
			r.logger.InfoContext(j.ctx, "a message about an order never placed holds nothing to answer: dropped",
				append(logging.Order(j.orderID), "name", j.msg.Name, "message_uuid", j.msg.ID)...)
		})
	}
	for _, c := range cmds {
		if err := eventstore.Send(j.ctx, tx, c.Topic, j.meta, eventstore.Message{Name: c.Name, Data: c.Data}); err != nil {
			return fmt.Errorf("%s for order %s: %w", j.msg.Name, j.orderID, err)
		}
		eventstore.OnCommit(j.ctx, func() {
			r.logger.WarnContext(j.ctx, "what was held for an order never placed is given back", append(logging.Order(j.orderID), "command", c.Name)...)
		})
	}
	return nil
}

// Recorder records what a command from outside the saga (a manager's decision, a
// webhook) does to order o, in tx (pipelined: its writes go with the COMMIT) and through
// ctx: o is the order as it stands under the saga's lock (empty when it has no events
// yet), and the recorder leaves it at the state its appends bring it to. What it
// publishes names handledBy as the group that handled it (eventstore.Metadata.HandledBy;
// empty: none). With handledBy set, a recorder may leave a message out of the log that no
// one but the saga would read (the inbox keeps a webhook's record itself; the log carries
// what a consumer must still do), but not an event, which the projections read too. It
// returns the messages it recorded (Recorded converts appended events), published or
// not: the saga runs on them.
type Recorder func(ctx context.Context, tx pgx.Tx, o *order.Order, handledBy string) ([]Message, error)

// Recorded is what the saga reads of recorded events: their names, ids and payloads.
func Recorded(recs []eventstore.Recorded) []Message {
	msgs := make([]Message, len(recs))
	for i, rec := range recs {
		msgs[i] = Message{Name: rec.Name, ID: rec.EventID, Payload: rec.Payload}
	}
	return msgs
}

// newJob is m, for order orderID, as the saga handles it: what it does next names m as
// its cause.
func newJob(ctx context.Context, orderID string, m Message) job {
	return job{ctx: ctx, orderID: orderID, msg: m, meta: eventstore.Metadata{CorrelationID: orderID, CausationID: m.ID, Actor: Actor}}
}

// maxChain bounds how many of its own events the saga reacts to in one go for one
// message: the flow has no cycle, so reaching it means a bug, not a long workflow.
const maxChain = 32

// decide runs the flow for one job and carries its effects out, leaving o at the order's
// new state. The saga reacts to the events it records itself (risk assessed, inventory
// reserved, payment completed, ...) at once, in the same transaction, as the log would
// later deliver them: breadth first, in the order they were recorded. They carry
// HandledBy, so the saga's consumers skip them when the log delivers them. This saves
// the order a trip through the log per step (a wake-up, a batch transaction, loading the
// order and the saga state again) without changing what the flow decides.
func (r *Runner) decide(tx pgx.Tx, first job, o *order.Order, state *State, recentOrders int) error {
	queue := []job{first}
	for n := 0; len(queue) > 0; n++ {
		if n == maxChain {
			return fmt.Errorf("%s for order %s: more than %d events in a chain", first.msg.Name, first.orderID, maxChain)
		}
		j := queue[0]
		queue = queue[1:]
		ctx := j.ctx
		// Postgres keeps microseconds: truncating keeps event times and column times equal.
		in := Input{Msg: j.msg, Order: o, State: *state, Now: r.now().UTC().Truncate(time.Microsecond), Cfg: r.cfg}
		if j.msg.Name == order.NameOrderPlaced {
			in.RecentOrders = recentOrders
		}
		effects, err := r.flow.Decide(in)
		if err != nil {
			return err
		}
		meta := j.meta
		meta.HandledBy = ConsumerGroup
		for _, e := range effects {
			if c, ok := e.(StateChange); ok {
				c.applyTo(state)
				continue
			}
			recorded, err := r.apply(ctx, tx, o, e, meta, in.Now)
			if err != nil {
				return fmt.Errorf("%s for order %s: %w", j.msg.Name, j.orderID, err)
			}
			for _, m := range Recorded(recorded) {
				if r.names[m.Name] {
					queue = append(queue, newJob(ctx, j.orderID, m))
				}
			}
		}
	}
	return nil
}

// apply carries out one effect and returns the order events it recorded.
func (r *Runner) apply(ctx context.Context, tx pgx.Tx, o *order.Order, e Effect, meta eventstore.Metadata, now time.Time) ([]eventstore.Recorded, error) {
	switch e := e.(type) {
	case OrderCommand:
		return appendEnding(ctx, tx, o, meta, func(o *order.Order) ([]order.Event, error) { return e.Run(o, now) })
	case SendCommand:
		meta.HandledBy = "" // a command is the receiver's to handle
		return nil, eventstore.Send(ctx, tx, e.Topic, meta, eventstore.Message{Name: e.Name, Data: e.Data})
	case ScheduleDeadline:
		if !o.Status.Waiting(e.Wait) {
			// Armed after the event that began the wait, by then already ended in this
			// transaction (an early webhook): it would only fire for nothing.
			return nil, nil
		}
		data := map[string]string{"orderId": o.ID, "wait": string(e.Wait)}
		if !e.Asking.IsZero() {
			data["asking"] = e.Asking.UTC().Format(time.RFC3339Nano)
		}
		return nil, eventstore.Schedule(ctx, tx, DeadlinesTopic, e.At, deadlineKey(o.ID, e.Wait), meta, eventstore.Message{Name: DeadlineName(e.Wait), Data: data})
	case Notify:
		return nil, r.outbox.Record(ctx, tx, o.ID, e)
	case OpenTicket:
		// A ticket is an order event, so the support-tickets read model is a projection
		// the replay tool can rebuild.
		recorded, err := appendEnding(ctx, tx, o, meta, func(o *order.Order) ([]order.Event, error) {
			return e.events(o, now)
		})
		if err == nil && len(recorded) > 0 {
			what := "support ticket opened"
			if recorded[0].Name == order.NameTicketCommented {
				what = "support ticket commented"
			}
			eventstore.OnCommit(ctx, func() {
				r.logger.WarnContext(ctx, what, append(logging.Order(o.ID), "kind", e.Kind, "reason", e.Reason)...)
			})
		}
		return recorded, err
	}
	return nil, fmt.Errorf("unknown effect %T", e)
}

// appendEnding decides and appends as orderstream.DecideAndAppend does, and cancels the
// deadline of the wait the order leaves by it (endedWait).
func appendEnding(ctx context.Context, tx pgx.Tx, o *order.Order, meta eventstore.Metadata, decide func(*order.Order) ([]order.Event, error)) ([]eventstore.Recorded, error) {
	was := o.Status.Phase().Wait
	recorded, err := orderstream.DecideAndAppend(ctx, tx, o, meta, decide)
	if err != nil {
		return nil, err
	}
	return recorded, endedWait(ctx, tx, o, was)
}

// endedWait cancels, in tx, the deadline of wait was once order o no longer rests in it:
// the deadline would only fire for nothing (its rule is guarded by the wait), a week
// later for a delivery, and each order left two such timers in the queue until then. A
// deadline being handled at that moment is left to its handler (eventstore.CancelDue).
func endedWait(ctx context.Context, tx pgx.Tx, o *order.Order, was order.Wait) error {
	if was == "" || o.Status.Waiting(was) {
		return nil
	}
	return eventstore.CancelDue(ctx, tx, DeadlinesTopic, deadlineKey(o.ID, was))
}

// deadlineKey is what the deadline of order orderID's wait w is scheduled under.
func deadlineKey(orderID string, w order.Wait) string { return orderID + "/" + string(w) }

// queueLocks queues on b, as one statement, transaction-level advisory locks on the keys
// namespace+id for ids, each once, taken in key order: two transactions locking keys of
// the same namespace this way wait for each other but never deadlock.
func queueLocks(b *pgx.Batch, namespace string, ids []string) {
	b.Queue(`
		SELECT pg_advisory_xact_lock(k) FROM (
			SELECT DISTINCT hashtextextended($1 || id, 0) AS k FROM unnest($2::text[]) AS id ORDER BY k
		) AS locks`, namespace, ids)
}

// queueLockStates queues on b the locks of the saga states of ids and their read. Each
// order's lock is a transaction-level advisory lock, taken in key order: the one global
// order every saga transaction follows, so two of them may wait for each other but never
// deadlock. An advisory lock writes nothing, so a run takes no transaction id until its
// writes go with its commit; locking the saga rows (an upsert) took one at the start and
// held back the log's visibility horizon for the whole run (docs/ARCHITECTURE.md). The
// map it returns holds the states once b has been sent and closed; an order with no row
// yet starts from the zero state.
func queueLockStates(b *pgx.Batch, ids []string) map[string]State {
	states := make(map[string]State, len(ids))
	queueLocks(b, "sagas.order_process:", ids)
	b.Queue(`SELECT order_id, state FROM sagas.order_process WHERE order_id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
		var id string
		var raw []byte
		_, err := pgx.ForEachRow(rows, []any{&id, &raw}, func() error {
			var s State
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("decode saga state of %s: %w", id, err)
			}
			states[id] = s
			return nil
		})
		if err != nil {
			return fmt.Errorf("read saga states: %w", err)
		}
		return nil
	})
	return states
}

// saveStates stores, in one statement, every state that differs from its JSON as read
// (read, by order id), creating the rows of orders that had none; it sends nothing when
// none changed.
func saveStates(ctx context.Context, tx pgx.Tx, states map[string]State, read map[string]string) error {
	ids := make([]string, 0, len(states))
	raws := make([]string, 0, len(states))
	for id, s := range states {
		raw, err := json.Marshal(s)
		if err != nil {
			return err
		}
		if string(raw) == read[id] {
			continue
		}
		ids, raws = append(ids, id), append(raws, string(raw))
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO sagas.order_process AS p (order_id, state)
		SELECT id, state::jsonb FROM unnest($1::text[], $2::text[]) AS v(id, state)
		ON CONFLICT (order_id) DO UPDATE SET state = excluded.state, updated_at = now()
		WHERE p.state <> excluded.state`, ids, raws)
	return err
}

// recentOrdersOf reads, in one round trip and before anything is written, RecentOrders
// for every order placed in jobs whose message does not carry the count already (a
// placement's, QueueRecentOrders); an OrderPlaced comes from a placement or from the log,
// never from the saga's own chain. A read between the run's writes would send them early,
// and the run would take its transaction id, holding back the log's visibility horizon, a
// round trip sooner.
func recentOrdersOf(ctx context.Context, tx pgx.Tx, jobs []job, orders map[string]orderstream.Current) (map[string]int, error) {
	counts := map[string]*int{}
	b := &pgx.Batch{}
	for _, j := range jobs {
		c, ok := orders[j.orderID]
		if j.msg.Name != order.NameOrderPlaced || !ok {
			continue
		}
		n := j.msg.RecentOrders
		if n == nil {
			n = new(int)
			QueueRecentOrders(b, c.Order.CustomerID, j.orderID, c.Order.PlacedAt, n)
		}
		counts[j.orderID] = n
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, err
		}
	}
	recent := make(map[string]int, len(counts))
	for id, n := range counts {
		recent[id] = *n
	}
	return recent, nil
}

// QueueRecentOrders queues on b what RecentOrders counts for order orderID, placed by
// customerID at placedAt, into n. A placement asks it with its first statements and hands
// it to the saga on its order.placed (Message.RecentOrders), which then costs the saga no
// round trip of its own before it scores the risk.
func QueueRecentOrders(b *pgx.Batch, customerID, orderID string, placedAt time.Time, n *int) {
	*n = 0
	if customerID == "" {
		return
	}
	b.Queue(recentOrdersSQL, recentOrdersArgs(customerID, orderID, placedAt, nil)...).QueryRow(func(row pgx.Row) error {
		return row.Scan(n)
	})
}

// RecentOrders counts the customer's other orders recorded since an hour before o was
// placed, the order velocity risk scoring weighs, up to risk.RecentOrdersCounted; with
// until, only those recorded by then (the replay tool asks as of a past moment, the
// workflow as of now). It counts orders
// placed in every version of the event (order.StoredNames), written out rather than passed,
// so that the planner uses the partial index events_placed_by_customer, whose condition is
// the same list.
func RecentOrders(ctx context.Context, q eventstore.Querier, o *order.Order, until *time.Time) (int, error) {
	if o.CustomerID == "" {
		return 0, nil
	}
	var n int
	err := q.QueryRow(ctx, recentOrdersSQL, recentOrdersArgs(o.CustomerID, o.ID, o.PlacedAt, until)...).Scan(&n)
	return n, err
}

const recentOrdersSQL = `SELECT count(*) FROM (SELECT FROM events
	WHERE event_name IN ('order.placed.v1', 'order.placed.v2') AND payload->>'customerId' = $1
	  AND recorded_at > $2 AND stream_id <> $3 AND ($4::timestamptz IS NULL OR recorded_at <= $4)
	LIMIT $5) recent`

func recentOrdersArgs(customerID, orderID string, placedAt time.Time, until *time.Time) []any {
	return []any{customerID, placedAt.Add(-time.Hour), orderID, until, risk.RecentOrdersCounted}
}
