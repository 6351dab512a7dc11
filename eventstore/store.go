package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
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

// Topic is the Watermill topic a stream's events are published to.
func (s Stream) Topic() string { return EventsTopic(s.Type) }

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

// Append stores events at the stream's next versions and publishes them to the stream's
// topic, both through tx, so they commit or vanish together. expectedVersion is the
// version the caller decided on; if another writer got there first the result is a
// conflict error and nothing is written.
func Append(ctx context.Context, tx pgx.Tx, stream Stream, expectedVersion int, meta Metadata, events ...Event) ([]Recorded, error) {
	if len(events) == 0 {
		return nil, nil
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`, stream.ID).Scan(&current); err != nil {
		return nil, fmt.Errorf("read stream version: %w", err)
	}
	if current != expectedVersion {
		return nil, versionConflict("stream %s is at version %d, not %d: it changed concurrently", stream.ID, current, expectedVersion)
	}
	if meta.Trace == nil {
		meta.Trace = map[string]string{}
		propagation.TraceContext{}.Inject(ctx, propagation.MapCarrier(meta.Trace))
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("marshal metadata: %w", err)
	}
	recorded := make([]Recorded, 0, len(events))
	msgs := make([]*message.Message, 0, len(events))
	for i, e := range events {
		payload, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", e.Name, err)
		}
		r := Recorded{
			EventID:    uuid.NewString(),
			StreamID:   stream.ID,
			StreamType: stream.Type,
			Version:    expectedVersion + i + 1,
			Name:       e.Name,
			Payload:    payload,
			Metadata:   meta,
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_name, payload, metadata)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			RETURNING position, recorded_at`,
			r.EventID, r.StreamID, r.StreamType, r.Version, r.Name, payload, metaJSON,
		).Scan(&r.Position, &r.RecordedAt)
		if isUniqueViolation(err) {
			return nil, versionConflict("stream %s changed concurrently", stream.ID)
		}
		if err != nil {
			return nil, fmt.Errorf("insert %s: %w", e.Name, err)
		}
		msg, err := envelopeMessage(ctx, r)
		if err != nil {
			return nil, err
		}
		recorded = append(recorded, r)
		msgs = append(msgs, msg)
	}
	if err := PublishInTx(ctx, tx, stream.Topic(), msgs...); err != nil {
		return nil, err
	}
	return recorded, nil
}

func envelopeMessage(ctx context.Context, r Recorded) (*message.Message, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("marshal envelope: %w", err)
	}
	msg := message.NewMessage(r.EventID, body)
	msg.Metadata.Set("name", r.Name)
	msg.Metadata.Set("stream_id", r.StreamID)
	msg.Metadata.Set("correlation_id", r.Metadata.CorrelationID)
	for k, v := range r.Metadata.Trace {
		msg.Metadata.Set(k, v)
	}
	msg.SetContext(ctx)
	return msg, nil
}

// PublishInTx publishes messages to a consumer-group topic through tx, so they are
// delivered only if tx commits.
func PublishInTx(ctx context.Context, tx pgx.Tx, topic string, msgs ...*message.Message) error {
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
	return nil
}

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

// ReadAll reads events of the given stream types (all types when none are given) after a
// global position, in position order, at most limit of them: what the replay tool walks.
func ReadAll(ctx context.Context, q Querier, after int64, limit int, streamTypes ...string) ([]Recorded, error) {
	rows, err := q.Query(ctx, `
		SELECT position, event_id::text, stream_id, stream_type, stream_version, event_name, payload, metadata, recorded_at
		FROM events WHERE position > $1 AND (cardinality($3::text[]) = 0 OR stream_type = ANY($3))
		ORDER BY position LIMIT $2`, after, limit, streamTypes)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
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
		return r, fmt.Errorf("decode event envelope %s: %w", msg.UUID, err)
	}
	return r, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

var errVersionConflict = errors.New("version conflict")

// versionConflict is a conflict error (HTTP 409) that IsVersionConflict can tell apart
// from a domain refusal.
func versionConflict(format string, args ...any) error {
	return fmt.Errorf("%w: %w", errVersionConflict, apperr.Errorf(apperr.CodeConflict, format, args...))
}

// IsVersionConflict reports whether err means another writer appended to the stream first,
// so deciding again on fresh state may succeed.
func IsVersionConflict(err error) bool {
	return errors.Is(err, errVersionConflict)
}
