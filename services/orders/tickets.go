package orders

import (
	"net/http"
	"time"

	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/httpx"
)

// ticketView is one support ticket.
type ticketView struct {
	ID        int64     `json:"id"`
	OrderID   string    `json:"orderId"`
	Kind      string    `json:"kind"`
	Reason    string    `json:"reason"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"createdAt"`
}

// listTickets handles GET /api/support-tickets?orderId=&limit=&cursor=: newest first,
// keyset-paginated on the ticket's id (the position of the event that opened it), so
// every ticket is reachable whatever their number; it stopped at 500 without saying so.
func (s *Service) listTickets(w http.ResponseWriter, r *http.Request) {
	q, err := httpx.Query(r, "orderId", "limit", "cursor")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	orderID := q.Get("orderId")
	if err := limits.Check(limits.ID("orderId", orderID)); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	page, err := httpx.ReadIDPage(q)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	tickets, err := projections.TicketsByID(r.Context(), s.pool, orderID, page.Before, page.Rows())
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	list := make([]ticketView, len(tickets))
	for i, t := range tickets {
		list[i] = ticketView{ID: t.ID, OrderID: t.OrderID, Kind: t.Kind, Reason: t.Reason, Status: t.Status, CreatedAt: t.CreatedAt}
	}
	resp := httpx.PageAnswer(page, "tickets", list, func(t ticketView) int64 { return t.ID })
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// resolutionRequest is the body of POST /api/orders/{id}/notifications/{kind}/resolve.
type resolutionRequest struct {
	Resolution string `json:"resolution"`
}

// resolveNotification handles POST /api/orders/{id}/notifications/{kind}/resolve: a
// person settles an email in doubt as they found it (mailer.Outbox.Resolve).
func (s *Service) resolveNotification(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var kind string
	if err == nil {
		kind, err = httpx.PathID(r, "kind")
	}
	var req resolutionRequest
	if err == nil {
		err = httpx.DecodeJSON(w, r, &req)
	}
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	n, err := s.outbox.Resolve(r.Context(), id, kind, req.Resolution)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, n)
}

// listNotifications handles GET /api/orders/{id}/notifications.
func (s *Service) listNotifications(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		_, err = httpx.KnownQuery(r) // a list: ?limit= would be ignored
	}
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	list, err := s.outbox.ForOrder(r.Context(), id)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"notifications": list})
}
