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
// with who handles it and whether it is closed, listed by the API and the dashboard; and
// orders.ticket_comments, what was written on them.
var SupportTickets = Projection{
	Name:        "projection.support_tickets",
	StreamTypes: []string{orderstream.StreamType},
	Tables:      []Table{{Name: "support_tickets", Position: "id"}, {Name: "ticket_comments", Position: "id"}},
	Events:      []string{order.NameSupportTicketOpened, order.NameTicketAssigned, order.NameTicketCommented, order.NameTicketClosed},
	ApplyBatch:  applyEvents(newTicketRows),
	rows:        newTicketRows,
}

// ticketRows holds support_tickets rows column by column, as unnest takes them, then
// the changes to tickets and their comments, in log order.
type ticketRows struct {
	ids                    []int64
	orders, kinds, reasons []string
	at                     []time.Time
	changes                []ticketChange
	comments               []ticketChange
}

// ticketChange is one assignment, comment or closing of the ticket (order, kind).
type ticketChange struct {
	position          int64
	order, kind       string
	closed            bool
	assignee, by, txt string
	at                time.Time
}

func newTicketRows() rows { return &ticketRows{} }

func (t *ticketRows) add(r eventstore.Recorded, e order.Event, _ *OrderAt) {
	switch ev := e.(type) {
	case *order.SupportTicketOpened:
		t.ids, t.orders, t.kinds = append(t.ids, r.Position), append(t.orders, r.StreamID), append(t.kinds, ev.Kind)
		t.reasons, t.at = append(t.reasons, ev.Reason), append(t.at, ev.At)
	case *order.TicketAssigned:
		t.changes = append(t.changes, ticketChange{position: r.Position, order: r.StreamID, kind: ev.Kind, assignee: ev.To, by: ev.By, at: ev.At})
	case *order.TicketClosed:
		t.changes = append(t.changes, ticketChange{position: r.Position, order: r.StreamID, kind: ev.Kind, closed: true, by: ev.By, txt: ev.Resolution, at: ev.At})
	case *order.TicketCommented:
		t.comments = append(t.comments, ticketChange{position: r.Position, order: r.StreamID, kind: ev.Kind, by: ev.By, txt: ev.Text, at: ev.At})
	}
}

// write inserts the tickets the events record, then applies their changes. A row's id is
// its event's position, so a rebuild produces the same ids, and a redelivered event
// conflicts instead of inserting twice. An assignment applies only to a row that reflects
// an older one (last_position), so a late one cannot undo a newer one; a close, which
// comes once and after every assignment of its ticket, applies to an open row and leaves
// last_position alone. The log hands a stream's events over in the order their
// transactions took ids, not always by position: an assignment that committed first but
// came after a close (its writer had taken its id, then met a conflict and retried) was
// skipped as older than the close, and the closed ticket lost its assignee, live and in a
// rebuild (a review). Fresh rows are copied in.
func (t *ticketRows) write(ctx context.Context, tx pgx.Tx, schema string, fresh bool) error {
	c := *t
	*t = ticketRows{}
	var err error
	if len(c.ids) > 0 && fresh {
		_, err = tx.CopyFrom(ctx, pgx.Identifier{schema, "support_tickets"},
			[]string{"id", "order_id", "kind", "reason", "created_at", "last_position"},
			pgx.CopyFromSlice(len(c.ids), func(i int) ([]any, error) {
				return []any{c.ids[i], c.orders[i], c.kinds[i], c.reasons[i], c.at[i], c.ids[i]}, nil
			}))
	} else if len(c.ids) > 0 {
		_, err = tx.Exec(ctx, `
			INSERT INTO `+table(schema, "support_tickets")+` (id, order_id, kind, reason, created_at, last_position)
			SELECT i, o, k, r, a, i FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(i, o, k, r, a)
			ON CONFLICT DO NOTHING`, c.ids, c.orders, c.kinds, c.reasons, c.at)
	}
	if err != nil {
		return fmt.Errorf("record support tickets: %w", err)
	}
	// Changes are rare (a person's action each): one statement apiece, in log order.
	for _, ch := range c.changes {
		if ch.closed {
			_, err = tx.Exec(ctx, `UPDATE `+table(schema, "support_tickets")+`
				SET status = 'closed', closed_by = $3, resolution = $4, closed_at = $5
				WHERE order_id = $1 AND kind = $2 AND status <> 'closed'`, ch.order, ch.kind, ch.by, ch.txt, ch.at)
		} else {
			_, err = tx.Exec(ctx, `UPDATE `+table(schema, "support_tickets")+`
				SET assignee = $3, last_position = $4
				WHERE order_id = $1 AND kind = $2 AND last_position < $4`, ch.order, ch.kind, ch.assignee, ch.position)
		}
		if err != nil {
			return fmt.Errorf("update support ticket: %w", err)
		}
	}
	for _, cm := range c.comments {
		if _, err := tx.Exec(ctx, `INSERT INTO `+table(schema, "ticket_comments")+` (id, order_id, kind, author, text, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, cm.position, cm.order, cm.kind, cm.by, cm.txt, cm.at); err != nil {
			return fmt.Errorf("record ticket comment: %w", err)
		}
	}
	return nil
}
