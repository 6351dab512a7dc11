package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
)

// importBatch is how many messages one publish statement of Import carries: watermill-sql
// inserts a batch with one statement, and Postgres takes at most 65,535 parameters.
const importBatch = 5000

// Import stores events of new streams in bulk and publishes them to their topics, both
// through tx, as Append would one stream at a time: a log loaded from elsewhere, or a large
// realistic one for a benchmark. Each event names its stream, type, version, name, payload,
// metadata and (if not zero) when it was recorded; positions and event ids are assigned
// here, in slice order, and written back into events. Versions must continue their
// streams, which the unique (stream_id, stream_version) enforces; no snapshot is stored, so
// readers fold these streams from their events.
func Import(ctx context.Context, tx pgx.Tx, events []Recorded) error {
	rows, err := tx.Query(ctx, `SELECT nextval(pg_get_serial_sequence('events', 'position')), now() FROM generate_series(1, $1)`, len(events))
	if err != nil {
		return fmt.Errorf("reserve positions: %w", err)
	}
	i := 0
	var position int64
	var now time.Time
	_, err = pgx.ForEachRow(rows, []any{&position, &now}, func() error {
		r := &events[i]
		r.Position, r.EventID = position, NewID()
		if r.RecordedAt.IsZero() {
			r.RecordedAt = now
		}
		i++
		return nil
	})
	if err != nil {
		return fmt.Errorf("reserve positions: %w", err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"events"},
		[]string{"position", "event_id", "stream_id", "stream_type", "stream_version", "event_name", "payload", "metadata", "recorded_at"},
		pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
			r := events[i]
			return []any{r.Position, r.EventID, r.StreamID, r.StreamType, r.Version, r.Name, []byte(r.Payload), r.Metadata, r.RecordedAt}, nil
		}))
	if err != nil {
		return fmt.Errorf("import events: %w", err)
	}
	byTopic := map[string][]*message.Message{}
	var topics []string
	for _, r := range events {
		msg, err := envelopeMessage(ctx, r)
		if err != nil {
			return err
		}
		topic := Stream{Type: r.StreamType, ID: r.StreamID}.Topic()
		if byTopic[topic] == nil {
			topics = append(topics, topic)
		}
		byTopic[topic] = append(byTopic[topic], msg)
	}
	for _, topic := range topics {
		msgs := byTopic[topic]
		for len(msgs) > 0 {
			n := min(len(msgs), importBatch)
			if err := PublishInTx(ctx, tx, topic, msgs[:n]...); err != nil {
				return err
			}
			msgs = msgs[n:]
		}
	}
	return nil
}
