package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/ui"
)

// ticketCards reads the newest support tickets with their comments, open ones first.
func (s *Service) ticketCards(ctx context.Context, limit int) ([]ui.TicketCard, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, order_id, kind, reason, status, created_at, assignee, closed_by, resolution,
			coalesce(closed_at, 'epoch')
		FROM orders.support_tickets ORDER BY status = 'closed', created_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("tickets: %w", err)
	}
	cards, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ui.TicketCard, error) {
		var c ui.TicketCard
		err := row.Scan(&c.ID, &c.OrderID, &c.Kind, &c.Reason, &c.Status, &c.CreatedAt, &c.Assignee, &c.ClosedBy, &c.Resolution, &c.ClosedAt)
		return c, err
	})
	if err != nil || len(cards) == 0 {
		return cards, err
	}
	ids, kinds := make([]string, len(cards)), make([]string, len(cards))
	at := map[[2]string]int{}
	for i, c := range cards {
		ids[i], kinds[i] = c.OrderID, c.Kind
		at[[2]string{c.OrderID, c.Kind}] = i
	}
	rows, err = s.pool.Query(ctx, `SELECT c.order_id, c.kind, c.author, c.text, c.created_at
		FROM orders.ticket_comments c JOIN unnest($1::text[], $2::text[]) AS t(order_id, kind) USING (order_id, kind)
		ORDER BY c.id`, ids, kinds)
	if err != nil {
		return nil, fmt.Errorf("ticket comments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind string
		var cm ui.TicketComment
		if err := rows.Scan(&id, &kind, &cm.By, &cm.Text, &cm.At); err != nil {
			return nil, err
		}
		i := at[[2]string{id, kind}]
		cards[i].Comments = append(cards[i].Comments, cm)
	}
	return cards, rows.Err()
}

// ticketFromEvents is the ticket opened by the event at position id, from its order's
// own events: the answer to an action on it shows the action at once, whether or not the
// projection has it yet.
func (s *Service) ticketFromEvents(ctx context.Context, id int64) (ui.TicketCard, error) {
	var orderID string
	err := s.pool.QueryRow(ctx, `SELECT stream_id FROM events WHERE position = $1 AND event_name = $2`, id, order.NameSupportTicketOpened).Scan(&orderID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ui.TicketCard{}, apperr.Errorf(apperr.CodeNotFound, "no such ticket")
	}
	if err != nil {
		return ui.TicketCard{}, err
	}
	recorded, err := eventstore.Load(ctx, s.pool, orderID)
	if err != nil {
		return ui.TicketCard{}, err
	}
	c := ui.TicketCard{ID: id, OrderID: orderID}
	for _, r := range recorded {
		e, err := orderstream.Decode(r)
		if err != nil {
			return c, err
		}
		switch ev := e.(type) {
		case *order.SupportTicketOpened:
			if r.Position == id {
				c.Kind, c.Reason, c.Status, c.CreatedAt = ev.Kind, ev.Reason, "open", ev.At
			}
		case *order.TicketAssigned:
			if ev.Kind == c.Kind {
				c.Assignee = ev.To
			}
		case *order.TicketCommented:
			if ev.Kind == c.Kind {
				c.Comments = append(c.Comments, ui.TicketComment{By: ev.By, Text: ev.Text, At: ev.At})
			}
		case *order.TicketClosed:
			if ev.Kind == c.Kind {
				c.Status, c.ClosedBy, c.Resolution, c.ClosedAt = "closed", ev.By, ev.Resolution, ev.At
			}
		}
	}
	return c, nil
}

// WorkOnTicket assigns (to), comments (text) or closes (resolution) the support ticket
// opened at position id, as an event of its order named for manager.
func (s *Service) WorkOnTicket(ctx context.Context, id int64, manager, action, value string) error {
	t, err := s.ticketFromEvents(ctx, id)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, t.OrderID, eventstore.Metadata{CorrelationID: t.OrderID, Actor: "manager:" + manager},
			func(o *order.Order) ([]order.Event, error) {
				switch action {
				case "assign":
					return o.AssignTicket(t.Kind, value, manager, s.now())
				case "comment":
					return o.CommentTicket(t.Kind, manager, value, s.now())
				case "close":
					return o.CloseTicket(t.Kind, manager, value, s.now())
				}
				return nil, apperr.FieldErrorf("action", "action must be assign, comment or close")
			})
		return err
	})
}

// workOnTicket handles POST /dashboard/tickets/{id}: action=assign (to), comment (text)
// or close (resolution). htmx gets the ticket's card again; a plain form goes back to
// the list.
func (s *Service) workOnTicket(w http.ResponseWriter, r *http.Request, m manager) {
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.dashboardError(w, r, http.StatusNotFound, "no such ticket", nil)
		return
	}
	action := r.PostForm.Get("action")
	value := map[string]string{"assign": r.PostForm.Get("to"), "comment": r.PostForm.Get("text"), "close": r.PostForm.Get("resolution")}[action]
	if action == "assign" && value == "" {
		value = m.Email // "Assign to me"
	}
	err = s.WorkOnTicket(r.Context(), id, m.Email, action, value)
	var refused string
	switch apperr.ErrorCode(err) {
	case "":
	case apperr.CodeInvalid, apperr.CodeConflict:
		refused = apperr.ErrorMessage(err)
	default:
		s.failPage(w, r, err)
		return
	}
	if r.Header.Get("HX-Request") == "" {
		if refused != "" {
			s.dashboardError(w, r, http.StatusBadRequest, refused, nil)
			return
		}
		http.Redirect(w, r, "/dashboard/tickets", http.StatusSeeOther)
		return
	}
	c, err := s.ticketFromEvents(r.Context(), id)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	c.Error = refused
	s.renderPage(w, r, http.StatusOK, ui.TicketCardView(c, m.CSRF))
}
