package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/eventstore"
)

// The reads of orders.support_tickets and orders.ticket_comments.

// Ticket is one row of orders.support_tickets.
type Ticket struct {
	ID         int64
	OrderID    string
	Kind       string
	Reason     string
	Status     string
	CreatedAt  time.Time
	Assignee   string
	ClosedBy   string
	Resolution string
	ClosedAt   time.Time // zero while open
}

const ticketColumns = `id, order_id, kind, reason, status, created_at, assignee, closed_by, resolution, coalesce(closed_at, 'epoch')`

// TicketsByID reads up to limit tickets by id, newest first, those below the ticket id
// before (the page after the one that ended there): one order's, or everyone's when
// orderID is "".
func TicketsByID(ctx context.Context, q eventstore.Querier, orderID string, before int64, limit int) ([]Ticket, error) {
	rows, err := q.Query(ctx, `SELECT `+ticketColumns+`
		FROM orders.support_tickets WHERE ($1 = '' OR order_id = $1) AND id < $2
		ORDER BY id DESC LIMIT $3`, orderID, before, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Ticket])
}

// RecentTickets reads up to limit tickets by creation, newest first: one order's, or
// everyone's when orderID is "".
func RecentTickets(ctx context.Context, q eventstore.Querier, orderID string, limit int) ([]Ticket, error) {
	rows, err := q.Query(ctx, `SELECT `+ticketColumns+`
		FROM orders.support_tickets WHERE ($1 = '' OR order_id = $1)
		ORDER BY created_at DESC, id DESC LIMIT $2`, orderID, limit)
	if err != nil {
		return nil, fmt.Errorf("tickets: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Ticket])
}

// deskTicketsSQL reads up to $1 tickets, those not closed first, then the newest, through
// the index in that order (sql/00093), whatever the number of tickets.
const deskTicketsSQL = `SELECT ` + ticketColumns + `
	FROM orders.support_tickets ORDER BY status = 'closed', created_at DESC, id DESC LIMIT $1`

// DeskTickets reads up to limit tickets for the ticket desk: open ones first, then the
// newest.
func DeskTickets(ctx context.Context, q eventstore.Querier, limit int) ([]Ticket, error) {
	rows, err := q.Query(ctx, deskTicketsSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("tickets: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Ticket])
}

// TicketComment is one comment on a ticket (an order's ticket of a kind).
type TicketComment struct {
	OrderID string
	Kind    string
	By      string
	Text    string
	At      time.Time
}

// TicketComments reads the comments on the tickets of tickets, oldest first.
func TicketComments(ctx context.Context, q eventstore.Querier, tickets []Ticket) ([]TicketComment, error) {
	ids, kinds := make([]string, len(tickets)), make([]string, len(tickets))
	for i, t := range tickets {
		ids[i], kinds[i] = t.OrderID, t.Kind
	}
	rows, err := q.Query(ctx, `SELECT c.order_id, c.kind, c.author, c.text, c.created_at
		FROM orders.ticket_comments c JOIN unnest($1::text[], $2::text[]) AS t(order_id, kind) USING (order_id, kind)
		ORDER BY c.id`, ids, kinds)
	if err != nil {
		return nil, fmt.Errorf("ticket comments: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[TicketComment])
}
