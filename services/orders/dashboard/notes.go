package orders

import (
	"context"
	"net/http"
	"net/url"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/ui"
)

// AddNote records a manager's note on an order as an order event (order.note_added.v1),
// so it is in the timeline, survives a replay and names its author.
func (s *Service) AddNote(ctx context.Context, orderID, manager, text string) error {
	if err := limits.Check(limits.ID("orderId", orderID)); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, orderID, eventstore.Metadata{CorrelationID: orderID, Actor: "manager:" + manager},
			func(o *order.Order) ([]order.Event, error) { return o.AddNote(manager, text, s.now()) })
		return err
	})
}

// addNote handles POST /dashboard/orders/{id}/notes: htmx gets the order page's content
// again (the note is in the timeline once the projection has it, which the live stream
// brings); a plain form goes back to the order page. A note the order refuses (empty, too
// long) is explained next to the field.
func (s *Service) addNote(w http.ResponseWriter, r *http.Request, m manager) {
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	id := r.PathValue("id")
	err := s.AddNote(r.Context(), id, m.Email, r.PostForm.Get("text"))
	var refused string
	switch apperr.ErrorCode(err) {
	case "":
	case apperr.CodeInvalid:
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
		http.Redirect(w, r, "/dashboard/orders/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	d, err := s.orderDetail(r.Context(), id, s.cfg.DevMode)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	d.NoteError = refused
	viewedBy(m.Email, d.Pending)
	if refused == "" {
		d.Flash = "Note added."
	}
	s.renderPage(w, r, http.StatusOK, ui.OrderLive(d, m.CSRF))
}
