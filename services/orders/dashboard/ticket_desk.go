package dashboard

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/ui"
)

// ticketCards reads the newest support tickets with their comments, open ones first.
func (s *Service) ticketCards(ctx context.Context, limit int) ([]ui.TicketCard, error) {
	tickets, err := projections.DeskTickets(ctx, s.pool, limit)
	if err != nil || len(tickets) == 0 {
		return nil, err
	}
	comments, err := projections.TicketComments(ctx, s.pool, tickets)
	if err != nil {
		return nil, err
	}
	cards := make([]ui.TicketCard, len(tickets))
	at := map[[2]string]int{}
	for i, t := range tickets {
		cards[i] = ui.TicketCard{ID: t.ID, OrderID: t.OrderID, Kind: t.Kind, Reason: t.Reason, Status: t.Status, CreatedAt: t.CreatedAt,
			Assignee: t.Assignee, ClosedBy: t.ClosedBy, Resolution: t.Resolution, ClosedAt: t.ClosedAt}
		at[[2]string{t.OrderID, t.Kind}] = i
	}
	for _, c := range comments {
		i := at[[2]string{c.OrderID, c.Kind}]
		cards[i].Comments = append(cards[i].Comments, ui.TicketComment{By: c.By, Text: c.Text, At: c.At})
	}
	return cards, nil
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
	h, err := orderstream.LoadHistory(ctx, s.pool, orderID)
	if err != nil {
		return ui.TicketCard{}, err
	}
	c := ui.TicketCard{ID: id, OrderID: orderID}
	for i, r := range h.Recorded {
		switch ev := h.Events[i].(type) {
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

// workOn assigns, comments or closes the support ticket opened at position id.
func (s *Service) workOn(ctx context.Context, id int64, manager, action, value string) error {
	t, err := s.ticketFromEvents(ctx, id)
	if err != nil {
		return err
	}
	if action == "assign" {
		// A typo must not hand the ticket to nobody (found by a probe: "Assigned to
		// nobody-at-all"): it goes to someone who can sign in and work on it, under the
		// address of their account, however it was typed ("BOB@example.com " was kept as
		// typed, and the ticket read as assigned to another person than Bob's own).
		err := s.pool.QueryRow(ctx, `SELECT email FROM orders.managers WHERE lower(email) = lower($1)`, strings.TrimSpace(value)).Scan(&value)
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.FieldErrorf("to", "%q is no manager's address: assign the ticket to someone who signs in to the dashboard", apperr.Excerpt(value))
		}
		if err != nil {
			return err
		}
	}
	err = s.cmds.WorkOnTicket(ctx, t.OrderID, t.Kind, manager, action, value)
	if apperr.ErrorCode(err) == apperr.CodeConflict && t.Status == "closed" {
		// Said with the kind's name as the desk shows it: the order's own refusal names the
		// kind as stored ("the delivery_failed ticket is closed").
		return apperr.Errorf(apperr.CodeConflict, "The \u201c%s\u201d ticket is closed: it can only be commented on.", ui.StatusLabel(t.Kind))
	}
	return err
}

// workOnTicket handles POST /dashboard/tickets/{id}: action=assign (to), comment (text)
// or close (resolution). htmx gets the ticket's card again, a refusal at the field it is
// about and a success said (TicketAnswer); a plain form goes back to the list.
func (s *Service) workOnTicket(w http.ResponseWriter, r *http.Request, m manager) {
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 { // a ticket's id is the position of the event that opened it
		s.dashboardError(w, r, http.StatusNotFound, "no such ticket", nil)
		return
	}
	action := r.PostForm.Get("action")
	value := map[string]string{"assign": r.PostForm.Get("to"), "comment": r.PostForm.Get("text"), "close": r.PostForm.Get("resolution")}[action]
	if action == "assign" && value == "" {
		value = m.Email // "Assign to me"
	}
	err = s.workOn(r.Context(), id, m.Email, action, value)
	refused, ok := s.refused(w, r, err, apperr.CodeInvalid, apperr.CodeConflict)
	if !ok || s.answeredPlainForm(w, r, refused, http.StatusBadRequest, "/dashboard/tickets") {
		return
	}
	c, err := s.ticketFromEvents(r.Context(), id)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	c.Action, c.Error = action, refused
	if refused == "" {
		c.Done = map[string]string{"assign": "Assigned to " + c.Assignee + ".", "comment": "Comment added.", "close": "Ticket closed."}[action]
	}
	s.renderPage(w, r, http.StatusOK, ui.TicketAnswer(c, m.CSRF))
}
