package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/propagation"

	"github.com/ordermill/ordermill/domain/apperr"
)

// Stream names one aggregate instance; its events are published to the topic Type+"_events".
type Stream struct {
	Type string
	ID   string
}

// Topic is the Watermill topic a stream's events are published to: the partition of its
// type's events topic that the stream id maps to.
func (s Stream) Topic() string { return PartitionFor(EventsTopic(s.Type), s.ID) }

// EventsTopic is the topic carrying every event of one stream type.
func EventsTopic(streamType string) string { return streamType + "_events" }

// Event is an event to append: its versioned name and a JSON-marshalable body.
type Event struct {
	Name string
	Data any
}

// Metadata travels with every event and message so a flow can be followed across services.
type Metadata struct {
	CorrelationID string            `json:"correlationId,omitempty"`
	CausationID   string            `json:"causationId,omitempty"`
	Actor         string            `json:"actor,omitempty"`
	Trace         map[string]string `json:"trace,omitempty"`
	// HandledBy names the consumer group that already handled the event in the very
	// transaction that recorded it (the saga reacting to its own decisions at once). That
	// group skips the event when the log delivers it: both commit together or not at all,
	// so the event is handled exactly once without another trip through the log.
	HandledBy string `json:"handledBy,omitempty"`
}

// Recorded is an event as stored: the envelope every consumer of the log receives.
type Recorded struct {
	Position   int64           `json:"position"`
	EventID    string          `json:"eventId"`
	StreamID   string          `json:"streamId"`
	StreamType string          `json:"streamType"`
	Version    int             `json:"version"`
	Name       string          `json:"name"`
	Payload    json.RawMessage `json:"payload"`
	Metadata   Metadata        `json:"metadata"`
	RecordedAt time.Time       `json:"recordedAt"`
}

// Querier is what reading events needs: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Batcher sends a batch of statements in one round trip: a pool, a connection or a
// transaction. A keyed read queues PlanByKey before its statement in the same batch.
type Batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Snapshot is a stream's state right after the events it is appended with, in a layout
// the caller names (Schema), so readers load one row instead of folding the stream.
type Snapshot struct {
	Schema int
	State  []byte
}

// Append stores events at the stream's next versions and publishes them to the stream's
// topic, both through tx, so they commit or vanish together. expectedVersion is the
// version the caller decided on; if another writer got there first the result is a
// conflict error and nothing is written. Through a Pipeline the append is queued: the
// conflict error, and the recorded events' positions and times, come with its flush.
func Append(ctx context.Context, tx pgx.Tx, stream Stream, expectedVersion int, meta Metadata, events ...Event) ([]Recorded, error) {
	return appendEvents(ctx, tx, stream, expectedVersion, meta, nil, events)
}

// AppendFirst appends e as stream's first event, or nothing when the stream has one
// already, and reports whether it appended: an answer that must be a stream's first or
// none, so a command that comes again (redelivered, or sent again by hand) meets it, or
// what the stream recorded instead, and is answered once. A writer that got there first
// meanwhile makes it a conflict, tried again with the rest of the caller's transaction.
func AppendFirst(ctx context.Context, tx pgx.Tx, stream Stream, meta Metadata, e Event) (bool, error) {
	recs, err := Load(ctx, tx, stream.ID)
	if err != nil || len(recs) > 0 {
		return false, err
	}
	_, err = Append(ctx, tx, stream, 0, meta, e)
	return err == nil, err
}

// AppendWithSnapshot is Append that also stores snap as the stream's latest state, in the
// same statement as the events.
func AppendWithSnapshot(ctx context.Context, tx pgx.Tx, stream Stream, expectedVersion int, meta Metadata, snap Snapshot, events ...Event) ([]Recorded, error) {
	return appendEvents(ctx, tx, stream, expectedVersion, meta, &snap, events)
}

// appendSQL inserts a stream's new events in one statement. The version check costs no
// extra round trip: a writer behind the stream collides on the unique (stream_id,
// stream_version), and one ahead of it (a gap) finds no row at expectedVersion and inserts
// nothing. The snapshot, when given, is upserted by the same statement, and so are the
// events' messages on the stream's topic (a watermill-sql table, written as its publisher
// writes it): an append is one round trip. Each message is built from the row just
// inserted, so its envelope (a Recorded, as envelopeMessage writes it) carries the
// position and time Postgres gave the event, and the payload travels to the server once;
// its metadata is the append's common part ($10) with the event's name. Building the
// envelopes in Go and joining them to the inserted rows made 10-19 % fewer appends a
// second under pgbench, and about 4 % fewer orders end to end (docs/BENCHMARKS.md,
// fourteenth session). Each event has its own metadata ($4), since appends queued on a
// pipeline join into one statement (Pipeline.queueAppend). The statement passes the read
// lease's guard once, before its rows, under the lease it is written under ($11, see
// WriteLease; sql/00081_read_lease.sql), and returns its transaction's id.
func appendSQL(table string) string {
	if q, ok := appendSQLs.Load(table); ok {
		return q.(string)
	}
	q := `
	WITH ins AS (
		INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_name, payload, metadata)
		SELECT e.id, $1, $2, CASE WHEN $3 = 0 OR EXISTS (SELECT 1 FROM events WHERE stream_id = $1 AND stream_version = $3)
			THEN $3 + e.n ELSE 0 END, e.name, e.payload::jsonb, e.meta::jsonb
		FROM unnest($5::uuid[], $6::text[], $7::text[], $4::text[]) WITH ORDINALITY AS e(id, name, payload, meta, n),
			(SELECT CASE WHEN $2 = 'order' THEN guard_stream_write($2, $11) END) AS guard
		RETURNING *
	), snap AS (
		INSERT INTO snapshots (stream_id, stream_type, version, position, schema, state)
		SELECT $1, $2, max(stream_version), max(position), $8, $9::json FROM ins
		WHERE $9::text IS NOT NULL HAVING count(*) > 0
		ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, position = excluded.position,
			schema = excluded.schema, state = excluded.state, updated_at = now()
	), pub AS (
		INSERT INTO ` + table + ` (uuid, payload, metadata, transaction_id)
		SELECT ins.event_id::text,
			json_build_object('position', ins.position, 'eventId', ins.event_id, 'streamId', ins.stream_id,
				'streamType', ins.stream_type, 'version', ins.stream_version, 'name', ins.event_name,
				'payload', ins.payload, 'metadata', ins.metadata, 'recordedAt', ins.recorded_at),
			(jsonb_build_object('name', ins.event_name) || $10::jsonb)::json, pg_current_xact_id()
		FROM ins ORDER BY ins.stream_version
	)
	SELECT position, recorded_at, pg_current_xact_id()::text::bigint FROM ins ORDER BY stream_version`
	appendSQLs.Store(table, q)
	return q
}

// appendSQLs holds appendSQL's statement per topic table.
var appendSQLs sync.Map

func appendEvents(ctx context.Context, tx pgx.Tx, stream Stream, expectedVersion int, meta Metadata, snap *Snapshot, events []Event) ([]Recorded, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if meta.Trace == nil {
		meta.Trace = map[string]string{}
		propagation.TraceContext{}.Inject(ctx, propagation.MapCarrier(meta.Trace))
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("marshal metadata: %w", err)
	}
	msgMeta, err := json.Marshal(messageMetadata(stream.ID, meta))
	if err != nil {
		return nil, fmt.Errorf("marshal message metadata: %w", err)
	}
	a := &queuedAppend{stream: stream, expected: expectedVersion, msgMeta: string(msgMeta)}
	if l, ok := ctx.Value(writeLeaseKey{}).(WriteLease); ok {
		a.lease = l.Token
		if l.Landed != nil {
			a.landed = append(a.landed, l.Landed)
		}
	}
	recorded := make([]Recorded, len(events))
	for i, e := range events {
		payload, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", e.Name, err)
		}
		recorded[i] = Recorded{
			EventID: NewID(), StreamID: stream.ID, StreamType: stream.Type,
			Version: expectedVersion + i + 1, Name: e.Name, Payload: payload, Metadata: meta,
		}
		a.ids = append(a.ids, recorded[i].EventID)
		a.names = append(a.names, e.Name)
		a.payloads = append(a.payloads, string(payload))
		a.metas = append(a.metas, string(metaJSON))
		a.recorded = append(a.recorded, &recorded[i])
	}
	if snap != nil {
		state := string(snap.State)
		a.snapSchema, a.snapState = snap.Schema, &state
	}
	topic := stream.Topic()
	a.table = wsql.DefaultPostgreSQLSchema{}.MessagesTable(topic)
	p := Pipelined(tx)
	p.queueAppend(a)
	markPublished(ctx, topic, meta.HandledBy)
	if p != tx {
		// Not the caller's pipeline: the append goes out now, and its result with it.
		if err := p.Flush(ctx); err != nil {
			return nil, err
		}
	}
	return recorded, nil
}

// queuedAppend is an append queued on a pipeline: its statement's arguments, and where
// the results of the appends it carries go (one, or several joined: Pipeline.queueAppend).
type queuedAppend struct {
	stream                      Stream
	table                       string // the messages table of the stream's topic
	expected                    int
	msgMeta                     string
	ids, names, payloads, metas []string
	snapSchema                  int
	snapState                   *string
	recorded                    []*Recorded // each event's, in the callers' results, in order
	lease                       string      // the read lease it is written under (WriteLease)
	landed                      []func(xid uint64, err error)
	xid                         uint64 // its transaction's id, once its statement has run
}

// args are the arguments of appendSQL.
func (a *queuedAppend) args() []any {
	return []any{a.stream.ID, a.stream.Type, a.expected, a.metas, a.ids, a.names, a.payloads, a.snapSchema, a.snapState, a.msgMeta, a.lease}
}

// next is the stream's version once a is stored.
func (a *queuedAppend) next() int { return a.expected + len(a.ids) }

// joins reports whether b can join a's statement: the next append of the same stream,
// with its messages' metadata the same and a snapshot if and only if a has one (the
// statement's snapshot is the last one's, at the version of the last event).
func (a *queuedAppend) joins(b *queuedAppend) bool {
	return a.stream == b.stream && a.next() == b.expected && a.msgMeta == b.msgMeta && (a.snapState == nil) == (b.snapState == nil) && a.lease == b.lease
}

// join adds b's events and snapshot to a.
func (a *queuedAppend) join(b *queuedAppend) {
	a.ids = append(a.ids, b.ids...)
	a.names = append(a.names, b.names...)
	a.payloads = append(a.payloads, b.payloads...)
	a.metas = append(a.metas, b.metas...)
	a.snapSchema, a.snapState = b.snapSchema, b.snapState
	a.recorded = append(a.recorded, b.recorded...)
	a.landed = append(a.landed, b.landed...)
}

// read reads the statement's result into the recorded events (their positions and
// times), and tells those waiting for it (WriteLease.Landed) how it went.
func (a *queuedAppend) read(read func(...any) (bool, error)) error {
	err := a.readRows(read)
	for _, landed := range a.landed {
		landed(a.xid, err)
	}
	return err
}

func (a *queuedAppend) readRows(read func(...any) (bool, error)) error {
	n := 0
	var position int64
	var at time.Time
	var err error
	for ok := true; ok; {
		if ok, err = read(&position, &at, &a.xid); err != nil || !ok {
			break
		}
		if n < len(a.recorded) {
			a.recorded[n].Position, a.recorded[n].RecordedAt = position, at
		}
		n++
	}
	stream := a.stream.ID
	// Both conflicts are Postgres's errors, so the transaction fails with them: queued
	// with a COMMIT, the COMMIT is skipped. A stream behind the expected version gets
	// version 0, which the table's check refuses.
	if isUniqueViolation(err) {
		return versionConflict(err, "stream %s changed concurrently: it is past version %d", stream, a.expected)
	}
	if isViolationOf(err, "events_stream_version_check") {
		return versionConflict(err, "stream %s is not at version %d", stream, a.expected)
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	if n != len(a.ids) {
		return fmt.Errorf("append to %s: %d events stored of %d", stream, n, len(a.ids))
	}
	return nil
}

// envelopeMessage is the message that publishes r: its envelope, and metadata naming the
// event. appendSQL builds the same message in Postgres.
func envelopeMessage(ctx context.Context, r Recorded) (*message.Message, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("marshal envelope: %w", err)
	}
	msg := message.NewMessage(r.EventID, body)
	msg.Metadata = messageMetadata(r.StreamID, r.Metadata)
	msg.Metadata.Set("name", r.Name)
	msg.SetContext(ctx)
	return msg, nil
}

// messageMetadata is the metadata of the message publishing an event of stream streamID,
// but the event's name: what every event of one append shares.
func messageMetadata(streamID string, meta Metadata) message.Metadata {
	md := message.Metadata{"stream_id": streamID, "correlation_id": meta.CorrelationID}
	if meta.HandledBy != "" {
		md[handledByKey] = meta.HandledBy
	}
	for k, v := range meta.Trace {
		md[k] = v
	}
	return md
}

// PublishInTx publishes messages to a consumer-group topic through tx, so they are
// delivered only if tx commits.
func PublishInTx(ctx context.Context, tx pgx.Tx, topic string, msgs ...*message.Message) error {
	return publish(ctx, tx, topic, "", msgs...)
}

// publish is PublishInTx of messages already handled by group handledBy, if not empty:
// its consumers are not woken for them.
func publish(ctx context.Context, tx pgx.Tx, topic, handledBy string, msgs ...*message.Message) error {
	pub, err := wsql.NewPublisher(wsql.TxFromPgx(tx), wsql.PublisherConfig{SchemaAdapter: wsql.DefaultPostgreSQLSchema{}}, nil)
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	for _, m := range msgs {
		if m.Context() == context.Background() {
			m.SetContext(ctx)
		}
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	markPublished(ctx, topic, handledBy)
	return nil
}

// loadStreamsSQL is LoadStreams's statement.
const loadStreamsSQL = `
	SELECT position, event_id::text, stream_id, stream_type, stream_version, event_name, payload, metadata, recorded_at
	FROM events WHERE stream_id = ANY($1) ORDER BY stream_id, stream_version`

// Load reads a stream's events in version order.
func Load(ctx context.Context, q Querier, streamID string) ([]Recorded, error) {
	rows, err := q.Query(ctx, `
		SELECT position, event_id::text, stream_id, stream_type, stream_version, event_name, payload, metadata, recorded_at
		FROM events WHERE stream_id = $1 ORDER BY stream_version`, streamID)
	if err != nil {
		return nil, fmt.Errorf("load stream %s: %w", streamID, err)
	}
	return collect(rows)
}

// LoadStreams reads the events of a few streams together in one statement: each stream's
// in version order, as Load reads it, the streams one after another. Each stream is a
// range of the (stream_id, stream_version) index, which gives them in that order with no
// sort (TestLoadStreamsWalksTheStreamsIndex).
func LoadStreams(ctx context.Context, q Querier, streamIDs ...string) ([]Recorded, error) {
	rows, err := q.Query(ctx, loadStreamsSQL, streamIDs)
	if err != nil {
		return nil, fmt.Errorf("load streams %v: %w", streamIDs, err)
	}
	return collect(rows)
}

func collect(rows pgx.Rows) ([]Recorded, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Recorded, error) {
		var r Recorded
		var meta []byte
		err := row.Scan(&r.Position, &r.EventID, &r.StreamID, &r.StreamType, &r.Version, &r.Name, &r.Payload, &meta, &r.RecordedAt)
		if err != nil {
			return r, err
		}
		if err := json.Unmarshal(meta, &r.Metadata); err != nil {
			return r, fmt.Errorf("decode metadata of event %d: %w", r.Position, err)
		}
		return r, nil
	})
}

// DecodeRecorded reads the envelope a consumer received from the log.
func DecodeRecorded(msg *message.Message) (Recorded, error) {
	var r Recorded
	if err := json.Unmarshal(msg.Payload, &r); err != nil {
		return r, Permanent(fmt.Errorf("decode event envelope %s: %w", msg.UUID, err)) // as Decode's
	}
	return r, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// isViolationOf reports whether err is Postgres's refusal of a row by check constraint.
func isViolationOf(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.ConstraintName == constraint
}

var errVersionConflict = errors.New("version conflict")

// versionConflict is a conflict error (HTTP 409) that IsVersionConflict can tell apart
// from a domain refusal; it wraps cause, Postgres's error.
func versionConflict(cause error, format string, args ...any) error {
	return fmt.Errorf("%w: %w (%w)", errVersionConflict, apperr.Errorf(apperr.CodeConflict, format, args...), cause)
}

// IsVersionConflict reports whether err means another writer appended to the stream first,
// so deciding again on fresh state may succeed.
func IsVersionConflict(err error) bool {
	return errors.Is(err, errVersionConflict)
}
