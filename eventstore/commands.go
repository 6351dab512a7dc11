package eventstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/propagation"
)

// Message is a command or a notice sent over a topic: a versioned name and a JSON body.
type Message struct {
	// ID is the message's id; empty, Send gives it a new one (NewID).
	ID   string
	Name string
	Data any
}

// Send publishes msg to topic through tx, so it leaves only if tx commits. Its metadata
// carries the name, the correlation and causation ids, the group that already handled
// it (meta.HandledBy, whose consumers skip it and are not woken for it) and the trace
// context.
func Send(ctx context.Context, tx pgx.Tx, topic string, meta Metadata, msg Message) error {
	body, err := json.Marshal(msg.Data)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", msg.Name, err)
	}
	id := msg.ID
	if id == "" {
		id = NewID()
	}
	m := message.NewMessage(id, body)
	m.Metadata.Set("name", msg.Name)
	m.Metadata.Set("correlation_id", meta.CorrelationID)
	m.Metadata.Set("causation_id", meta.CausationID)
	m.Metadata.Set("actor", meta.Actor)
	if meta.HandledBy != "" {
		m.Metadata.Set(handledByKey, meta.HandledBy)
	}
	propagation.TraceContext{}.Inject(ctx, propagation.MapCarrier(m.Metadata))
	m.SetContext(ctx)
	return publish(ctx, tx, topic, meta.HandledBy, m)
}

// MetadataOf reads the metadata Send attached to msg, naming msg as the cause of whatever
// the receiver does next.
func MetadataOf(msg *message.Message) Metadata {
	return Metadata{
		CorrelationID: msg.Metadata.Get("correlation_id"),
		CausationID:   msg.UUID,
		Actor:         msg.Metadata.Get("actor"),
	}
}

// CommandMetadata is MetadataOf a command about order orderID, correlated with the order
// when the sender named no correlation.
func CommandMetadata(msg *message.Message, orderID string) Metadata {
	meta := MetadataOf(msg)
	if meta.CorrelationID == "" {
		meta.CorrelationID = orderID
	}
	return meta
}

// Decode unmarshals msg's body into v, naming the message in the error. A body that does
// not decode never will: the error is Permanent, and the consumer dead-letters the
// message at once instead of holding its topic up for its retries.
func Decode(msg *message.Message, v any) error {
	if err := json.Unmarshal(msg.Payload, v); err != nil {
		return Permanent(fmt.Errorf("decode %s %s: %w", msg.Metadata.Get("name"), msg.UUID, err))
	}
	return nil
}
