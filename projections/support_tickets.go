package projections

import (
	"context"
	"fmt"

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
	Tables:      []string{"orders.support_tickets"},
	Events:      []string{order.NameSupportTicketOpened},
	ApplyBatch:  eachEvent(recordSupportTicket),
}

// recordSupportTicket inserts the ticket a SupportTicketOpened event records. The row's id
// is the event's position, so a rebuild produces the same ids, and a redelivered event
// conflicts instead of inserting twice.
func recordSupportTicket(ctx context.Context, tx pgx.Tx, r eventstore.Recorded) error {
	e, err := orderstream.Decode(r)
	if err != nil {
		return err
	}
	ev := e.(*order.SupportTicketOpened)
	_, err = tx.Exec(ctx, `INSERT INTO orders.support_tickets (id, order_id, kind, reason, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, r.Position, r.StreamID, ev.Kind, ev.Reason, ev.At)
	if err != nil {
		return fmt.Errorf("record support ticket of %s: %w", r.StreamID, err)
	}
	return nil
}
