// Package orderstream loads and changes Order aggregates through the event store: the
// repository every writer of order events (the API, the saga) goes through.
package orderstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
)

// StreamType is the stream type of orders; their events travel on topic order_events.
const StreamType = "order"

// Topic carries every order event.
var Topic = eventstore.EventsTopic(StreamType)

// snapshotSchema names the layout of an order snapshot: the JSON of order.Order. Bump it
// whenever Order's fields change, so a snapshot of another layout is ignored (and the
// stream folded instead) rather than misread, or rewritten by a release that drops what
// it does not know (TestSnapshotSchemaIsBumpedWhenOrderChanges pins the layout).
//
// 2: order lines keep the catalog's name (order.Item.Name).
// 3: refunds keep what was given back (order.Refunds, was RefundedPayments).
// 4: UpdatedAt no longer moves with the desk's own events (order.ForStaff).
// 5: a failed reservation keeps the SKU the warehouse could not hold (order.ReservationFailedSKU).
// 6: tickets keep what they say, so the saga does not say it again (order.TicketTexts).
// 7: tickets keep a digest of each thing they say, not its text (order.TicketDigests).
const snapshotSchema = 7

// Load returns an order's current state from its snapshot, one row, or, when it has none
// in the current layout, by folding its events; an order without events is not found.
// Both give the same order (TestSnapshotEqualsRehydratedStream).
func Load(ctx context.Context, q eventstore.Querier, id string) (*order.Order, error) {
	o, _, err := LoadWithPosition(ctx, q, id)
	return o, err
}

// LoadWithPosition is Load that also returns the log position of the order's newest event,
// for read models that must never go back to an older state.
func LoadWithPosition(ctx context.Context, q eventstore.Querier, id string) (*order.Order, int64, error) {
	orders, err := LoadMany(ctx, q, []string{id})
	if err != nil {
		return nil, 0, err
	}
	c, ok := orders[id]
	if !ok {
		return nil, 0, apperr.Errorf(apperr.CodeNotFound, "order %s not found", apperr.Excerpt(id))
	}
	return c.Order, c.Position, nil
}

// Current is an order's state and the log position of its newest event.
type Current struct {
	Order    *order.Order
	Position int64
	// Folded says the state was folded from the order's events, the order having no
	// snapshot in the current layout. Memory never keeps such a state: the read lease's
	// guard holds writes to snapshots, not to events (sql/00082_guard_snapshots_only.sql).
	Folded bool
}

// LoadMany loads several orders at once: their snapshots in one query, and the few without
// one by folding their events. Orders that do not exist are absent from the result. When
// it refuses one of them (LoadEach), it fails.
func LoadMany(ctx context.Context, q eventstore.Querier, ids []string) (map[string]Current, error) {
	orders, refused, err := LoadEach(ctx, q, ids)
	return orders, firstRefused(ids, refused, err)
}

// LoadEach is LoadMany that refuses each order on its own: one it cannot fold (no snapshot
// in the current layout, and an event this release does not know) is absent from orders
// and in refused, with why and its history as read to refuse it; the others are loaded.
func LoadEach(ctx context.Context, q eventstore.Querier, ids []string) (orders map[string]Current, refused map[string]Refusal, err error) {
	rows, err := q.Query(ctx, snapshotsSQL, ids, snapshotSchema)
	if err != nil {
		return nil, nil, fmt.Errorf("load snapshots: %w", err)
	}
	orders = make(map[string]Current, len(ids))
	if err := readSnapshots(rows, nil, orders); err != nil {
		return nil, nil, err
	}
	refused, err = loadMissing(ctx, q, ids, orders)
	return orders, refused, err
}

const snapshotsSQL = `SELECT stream_id, position, state FROM snapshots WHERE stream_id = ANY($1) AND schema = $2`

// QueueLoadMany queues LoadMany on b, so that it shares a round trip with other
// statements. Its one statement also says which orders without a snapshot have events
// at all, so that a new order (no events yet: the saga's lock and reads at placement)
// costs no second round trip; once b has been sent and closed, Loaded returns the orders.
func QueueLoadMany(b *pgx.Batch, ids []string) *Loading {
	l := &Loading{orders: make(map[string]Current, len(ids))}
	b.Queue(queuedSnapshotsSQL, ids, snapshotSchema).Query(func(rows pgx.Rows) error {
		var id string
		var position *int64
		var state []byte
		_, err := pgx.ForEachRow(rows, []any{&id, &position, &state}, func() error {
			if position == nil {
				l.unsnapped = append(l.unsnapped, id)
				return nil
			}
			o, err := decodeSnapshot(id, state)
			if err == nil {
				l.orders[id] = Current{Order: o, Position: *position}
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("load snapshots: %w", err)
		}
		return nil
	})
	return l
}

// queuedSnapshotsSQL reads the snapshot of each order of $1, or, for an order without one
// in the current layout, a row without a position when it has events: the rest have none.
// One statement, so what it says of the snapshots and of the events agrees.
//
// Each order reaches its rows through LATERAL subqueries with a LIMIT, which Postgres
// cannot flatten into plain joins: each order is one probe of the snapshots' primary key,
// and only an order without a snapshot probes the events' (stream_id, stream_version)
// key, in every plan, whatever the tables' statistics say. Written as a left join with
// the events' check as EXISTS, its generic plan, which PlanByKey keeps for the
// connection's life, hashed a full scan of the snapshots, and every event's stream id, at
// each call: Postgres chose that for a connection that planned while the tables were
// small, and kept it. At one customer and 600 orders the read then touched about 225 pages
// a call, 0.41 ms, where a lookup touches 2 to 5, a cost that grows with the orders until
// the planner changes its mind (docs/BENCHMARKS.md, twenty-eighth session).
const queuedSnapshotsSQL = `SELECT k.id, s.position, s.state
	FROM unnest($1::text[]) AS k(id)
	LEFT JOIN LATERAL (SELECT position, state FROM snapshots
		WHERE stream_id = k.id AND schema = $2 LIMIT 1) s ON true
	LEFT JOIN LATERAL (SELECT true AS found FROM events
		WHERE s.position IS NULL AND stream_id = k.id LIMIT 1) e ON true
	WHERE s.position IS NOT NULL OR e.found`

// Loading is LoadMany queued on a batch (QueueLoadMany).
type Loading struct {
	orders    map[string]Current
	unsnapped []string // orders with events but no snapshot in the current layout
}

// Loaded returns the orders once the batch has been sent: those with a snapshot as read,
// and the few with events but no snapshot by folding their events, through q. Orders
// that do not exist are absent.
func (l *Loading) Loaded(ctx context.Context, q eventstore.Querier) (map[string]Current, error) {
	refused, err := loadMissing(ctx, q, l.unsnapped, l.orders)
	return l.orders, firstRefused(l.unsnapped, refused, err)
}

// readSnapshots decodes rows of (stream id, position, state) into orders. A row without
// a state is an order that has not moved from the state held for it.
func readSnapshots(rows pgx.Rows, held map[string]Current, orders map[string]Current) error {
	var id string
	var position int64
	var state []byte
	_, err := pgx.ForEachRow(rows, []any{&id, &position, &state}, func() error {
		if state == nil {
			orders[id] = held[id] // the position held, so the state held
			return nil
		}
		o, err := decodeSnapshot(id, state)
		if err == nil {
			orders[id] = Current{Order: o, Position: position}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("load snapshots: %w", err)
	}
	return nil
}

// decodeSnapshot reads the state of order id's snapshot.
func decodeSnapshot(id string, state []byte) (*order.Order, error) {
	o := &order.Order{}
	if err := json.Unmarshal(state, o); err != nil {
		return nil, fmt.Errorf("decode snapshot of order %s: %w", id, err)
	}
	return o, nil
}

// Refusal is an order LoadEach refused: why (refusedUnknown), and its history, folded
// without the events this release does not know (History.Unknown), which only a person's
// view of the order may use, as the read models do: they need not read its stream again.
type Refusal struct {
	Err     error
	History History
}

// loadMissing adds to orders those of ids that have no snapshot in the current layout,
// by folding their events. An order with events this release does not know is not
// added: it is refused, for the caller to answer its reads.
func loadMissing(ctx context.Context, q eventstore.Querier, ids []string, orders map[string]Current) (refused map[string]Refusal, err error) {
	for _, id := range ids {
		if _, ok := orders[id]; ok {
			continue
		}
		h, err := LoadHistory(ctx, q, id)
		if apperr.ErrorCode(err) == apperr.CodeNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if unknown := h.Unknown(); len(unknown) > 0 {
			if refused == nil {
				refused = map[string]Refusal{}
			}
			refused[id] = Refusal{Err: refusedUnknown(id, unknown[0]), History: h}
			continue
		}
		orders[id] = h.Current()
	}
	return refused, nil
}

// refusedUnknown refuses to load order id, whose stream holds r, an event this release
// does not know: a state folded without it is not the order's, and nothing may be decided
// or answered on it. The release that recorded it reads the order; this one does once
// upgraded, so it is unavailable for now rather than an internal error (a 503, retried).
func refusedUnknown(id string, r eventstore.Recorded) error {
	return apperr.Errorf(apperr.CodeUnavailable, "order %s has an event this release of the service does not know (%s, recorded by a newer release, at %d): retry once it is upgraded",
		apperr.Excerpt(id), r.Name, r.Position)
}

// firstRefused is err, the failure of a load of ids, else the refusal of the first of ids
// refused, nil when none is.
func firstRefused(ids []string, refused map[string]Refusal, err error) error {
	if err != nil {
		return err
	}
	for _, id := range ids {
		if r, ok := refused[id]; ok {
			return r.Err
		}
	}
	return nil
}

// History is an order with the events it was folded from, stored and decoded, oldest
// first: one read in which the order and its story agree.
type History struct {
	Order    *order.Order
	Recorded []eventstore.Recorded
	// Events are Recorded decoded; an event this release does not know is an
	// order.Unknown, stepped over in Order but counted towards its version.
	Events []order.Event
}

// Current is the order as folded and the log position of its newest event, one this
// release does not know included: the order's version counts it too.
func (h History) Current() Current {
	return Current{Order: h.Order, Position: h.Recorded[len(h.Recorded)-1].Position, Folded: true}
}

// Unknown lists the events of the history this release does not know (a newer release's,
// during a rolling upgrade): the order is folded without them, as far as this release
// knows it, so only a person's view of it may use it, saying so.
func (h History) Unknown() []eventstore.Recorded {
	var out []eventstore.Recorded
	for i, e := range h.Events {
		if _, ok := e.(order.Unknown); ok {
			out = append(out, h.Recorded[i])
		}
	}
	return out
}

// LoadHistory reads every event of an order's stream and folds them, ignoring any
// snapshot, stepping over the events this release does not know (History.Unknown).
func LoadHistory(ctx context.Context, q eventstore.Querier, id string) (History, error) {
	recorded, err := eventstore.Load(ctx, q, id)
	if err != nil {
		return History{}, err
	}
	return HistoryOf(id, recorded)
}

// HistoryOf is LoadHistory of recorded, the events of order id's stream in version order,
// for a reader that reads the stream together with others (projections.ReadWithBeside).
func HistoryOf(id string, recorded []eventstore.Recorded) (History, error) {
	if len(recorded) == 0 || recorded[0].StreamType != StreamType {
		return History{}, apperr.Errorf(apperr.CodeNotFound, "order %s not found", apperr.Excerpt(id))
	}
	events := make([]order.Event, len(recorded))
	for i, r := range recorded {
		var err error
		if events[i], err = DecodeOrUnknown(r); err != nil {
			return History{}, err
		}
	}
	return History{Order: order.Rehydrate(events), Recorded: recorded, Events: events}, nil
}

// NewestPosition is the log position of an order's newest event, 0 when it has none: one
// entry of the (stream_id, stream_version) index, whatever the stream's length.
func NewestPosition(ctx context.Context, q eventstore.Querier, id string) (int64, error) {
	var newest int64
	err := q.QueryRow(ctx, `SELECT position FROM events WHERE stream_id = $1 AND stream_type = $2
		ORDER BY stream_version DESC LIMIT 1`, id, StreamType).Scan(&newest)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return newest, err
}

// Decode turns a stored or received envelope into its domain event, in the event's
// current version: an event stored in an older one (order.placed.v1) is upcast.
func Decode(r eventstore.Recorded) (order.Event, error) {
	e, err := order.Decode(r.Name, r.Payload)
	if err != nil {
		return nil, fmt.Errorf("decode %s at %d: %w", r.Name, r.Position, err)
	}
	return e, nil
}

// DecodeOrUnknown is Decode for a fold of an order's stream that steps over the events
// this release does not know (order.Known is false: a newer release's, during a rolling
// upgrade): such an event is an order.Unknown, which Apply counts towards the version and
// which changes nothing else.
func DecodeOrUnknown(r eventstore.Recorded) (order.Event, error) {
	if !order.Known(r.Name) {
		return order.Unknown{Name: r.Name}, nil
	}
	return Decode(r)
}

// Upcast returns an order event's envelope in the event's current version: its current
// name and its payload in the current shape (order.Upcast). Whatever reads the names or
// payloads of envelopes, not only their decoded events, upcasts them first, so it sees
// only current events. Other envelopes come back as they are.
func Upcast(r eventstore.Recorded) (eventstore.Recorded, error) {
	if r.StreamType != StreamType {
		return r, nil
	}
	name, payload, err := order.Upcast(r.Name, r.Payload)
	if err != nil {
		return r, fmt.Errorf("upcast %s at %d: %w", r.Name, r.Position, err)
	}
	r.Name, r.Payload = name, payload
	return r, nil
}

// Append stores events decided on o (at o's version), applies them to o and stores the
// result as the order's snapshot, in one statement. The statuses the order enters are
// reported to ctx's Observer once the transaction commits.
func Append(ctx context.Context, tx pgx.Tx, o *order.Order, meta eventstore.Metadata, events ...order.Event) error {
	_, err := appendRecorded(ctx, tx, o, meta, events)
	return err
}

func appendRecorded(ctx context.Context, tx pgx.Tx, o *order.Order, meta eventstore.Metadata, events []order.Event) ([]eventstore.Recorded, error) {
	if len(events) == 0 {
		return nil, nil
	}
	batch := make([]eventstore.Event, len(events))
	for i, e := range events {
		batch[i] = eventstore.Event{Name: e.EventName(), Data: e}
	}
	next := *o
	moved := transitions(&next, events)
	state, err := json.Marshal(&next)
	if err != nil {
		return nil, fmt.Errorf("marshal snapshot of order %s: %w", o.ID, err)
	}
	snap := eventstore.Snapshot{Schema: snapshotSchema, State: state}
	actx, leased, err := underLease(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	recorded, err := eventstore.AppendWithSnapshot(actx, tx, eventstore.Stream{Type: StreamType, ID: o.ID}, o.Version, meta, snap, batch...)
	if err != nil {
		return nil, err
	}
	if leased != nil {
		eventstore.AfterCommit(tx, func() { leased.committed(state) })
	}
	*o = next
	report(ctx, moved)
	return recorded, nil
}

// StoreSnapshots stores orders as their streams' snapshots, each at the log position of
// its newest event (positions, by order id), in one statement: for histories imported in
// bulk (eventstore.Import stores none), so that readers find them as they find the
// services' orders. Each order must be its stream's state at that position.
func StoreSnapshots(ctx context.Context, tx pgx.Tx, orders []*order.Order, positions map[string]int64) error {
	ids := make([]string, len(orders))
	versions := make([]int, len(orders))
	at := make([]int64, len(orders))
	states := make([]string, len(orders))
	for i, o := range orders {
		state, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("marshal snapshot of order %s: %w", o.ID, err)
		}
		ids[i], versions[i], at[i], states[i] = o.ID, o.Version, positions[o.ID], string(state)
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO snapshots (stream_id, stream_type, version, position, schema, state)
		SELECT v.id, $1, v.version, v.position, $2, v.state::json
		FROM unnest($3::text[], $4::int[], $5::bigint[], $6::text[]) AS v(id, version, position, state)
		ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, position = excluded.position,
			schema = excluded.schema, state = excluded.state, updated_at = now()`,
		StreamType, snapshotSchema, ids, versions, at, states)
	if err != nil {
		return fmt.Errorf("store snapshots: %w", err)
	}
	return nil
}

// DecideAndAppend lets decide choose events from o and appends them, leaving o at the
// order's new state, and returns the events as recorded. Unlike UpdateLoaded it takes no
// savepoint and does not retry: a version conflict is an error that aborts tx, for a
// caller that redoes the whole transaction on fresh state anyway (the saga's batch
// consumer, sagas.Runner.RunNow) and should not pay two round trips per decision for a
// conflict that almost never happens.
func DecideAndAppend(ctx context.Context, tx pgx.Tx, o *order.Order, meta eventstore.Metadata, decide func(*order.Order) ([]order.Event, error)) ([]eventstore.Recorded, error) {
	events, err := decide(o)
	if err != nil {
		return nil, err
	}
	return appendRecorded(ctx, tx, o, meta, events)
}

// maxConflictRetries bounds how often Update re-reads an order that changed under it.
const maxConflictRetries = 5

// Update loads order id, lets decide choose events from its current state, and appends
// them (see UpdateLoaded).
func Update(ctx context.Context, tx pgx.Tx, id string, meta eventstore.Metadata, decide func(*order.Order) ([]order.Event, error)) (*order.Order, error) {
	o, err := Load(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	_, err = UpdateLoaded(ctx, tx, o, meta, decide)
	return o, err
}

// UpdateLoaded lets decide choose events from o, which the caller has just loaded, and
// appends them, leaving o at the order's new state. Only when another writer appended
// first does it read the stream again and decide again (each attempt in its own savepoint),
// so a decision is always taken on the latest state without paying a second read on the
// common path; a decision the latest state refuses comes back as decide's error. It
// returns the events as recorded.
func UpdateLoaded(ctx context.Context, tx pgx.Tx, o *order.Order, meta eventstore.Metadata, decide func(*order.Order) ([]order.Event, error)) ([]eventstore.Recorded, error) {
	cur := o
	for attempt := 1; ; attempt++ {
		var recorded []eventstore.Recorded
		err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			if cur == nil {
				fresh, err := Load(ctx, sp, o.ID)
				if err != nil {
					return err
				}
				cur = fresh
			}
			events, err := decide(cur)
			if err != nil {
				return err
			}
			recorded, err = appendRecorded(ctx, sp, cur, meta, events)
			return err
		})
		if err == nil {
			*o = *cur
			return recorded, nil
		}
		if attempt == maxConflictRetries || !eventstore.IsVersionConflict(err) {
			return nil, err
		}
		cur = nil
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
		}
	}
}
