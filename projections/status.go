package projections

import (
	"context"
	"fmt"

	"github.com/ordermill/ordermill/eventstore"
)

// Status is where one projection stands against the log.
type Status struct {
	Name string
	// Position is the log position of the newest event its rows reflect (0: none).
	Position int64
	// Head is the position of the newest event of its stream types.
	Head int64
	// Behind counts the messages its consumer group has not consumed yet.
	Behind int64
}

// Statuses reports where every projection stands.
func Statuses(ctx context.Context, q eventstore.Querier) ([]Status, error) {
	lags, err := eventstore.GroupLags(ctx, q)
	if err != nil {
		return nil, err
	}
	var behind int64
	for _, l := range lags {
		if l.Group == ConsumerGroup {
			behind += l.Behind
		}
	}
	var out []Status
	for _, p := range All() {
		s := Status{Name: p.Name, Behind: behind}
		err := q.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events WHERE stream_type = ANY($1)`, p.StreamTypes).Scan(&s.Head)
		if err != nil {
			return nil, fmt.Errorf("head of %s: %w", p.Name, err)
		}
		for _, t := range p.Tables {
			if t.Position == "" {
				continue
			}
			var at int64
			err := q.QueryRow(ctx, `SELECT coalesce(max(`+t.Position+`), 0) FROM `+table(Schema, t.Name)).Scan(&at)
			if err != nil {
				return nil, fmt.Errorf("position of %s: %w", p.Name, err)
			}
			s.Position = max(s.Position, at)
		}
		out = append(out, s)
	}
	return out, nil
}
