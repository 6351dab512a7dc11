package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// SupportTickets keeps orders.support_tickets: one row per ticket the workflow opened,
// listed by the API and the dashboard.
var SupportTickets = Projection{
	Name:        "projection.support_tickets",
	StreamTypes: []string{orderstream.StreamType},
	Tables:      []Table{{Name: "support_tickets", Position: "id"}},
	Events:      []string{order.NameSupportTicketOpened},
	ApplyBatch:  applyEvents(newTicketRows),
	rows:        newTicketRows,
}

// ticketRows holds support_tickets rows column by column, as unnest takes them.
type ticketRows struct {
	ids                    []int64
	orders, kinds, reasons []string
	at                     []time.Time
}

func newTicketRows() rows { return &ticketRows{} }

func (t *ticketRows) add(r eventstore.Recorded, e order.Event, _ *OrderAt) {
	ev := e.(*order.SupportTicketOpened)
	t.ids, t.orders, t.kinds = append(t.ids, r.Position), append(t.orders, r.StreamID), append(t.kinds, ev.Kind)
	t.reasons, t.at = append(t.reasons, ev.Reason), append(t.at, ev.At)
}

// write inserts the tickets the events record. A row's id is its event's position, so a
// rebuild produces the same ids, and a redelivered event conflicts instead of inserting
// twice. Fresh rows are copied in.
func (t *ticketRows) write(ctx context.Context, tx pgx.Tx, schema string, fresh bool) error {
	if len(t.ids) == 0 {
		return nil
	}
	c := *t
	*t = ticketRows{}
	var err error
	if fresh {
		_, err = tx.CopyFrom(ctx, pgx.Identifier{schema, "support_tickets"},
			[]string{"id", "order_id", "kind", "reason", "created_at"},
			pgx.CopyFromSlice(len(c.ids), func(i int) ([]any, error) {
				return []any{c.ids[i], c.orders[i], c.kinds[i], c.reasons[i], c.at[i]}, nil
			}))
	} else {
		_, err = tx.Exec(ctx, `
			INSERT INTO `+table(schema, "support_tickets")+` (id, order_id, kind, reason, created_at)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
			ON CONFLICT DO NOTHING`, c.ids, c.orders, c.kinds, c.reasons, c.at)
	}
	if err != nil {
		return fmt.Errorf("record support tickets: %w", err)
	}
	return nil
}
