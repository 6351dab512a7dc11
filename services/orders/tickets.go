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

// listTickets handles GET /api/support-tickets?orderId=.
func (s *Service) listTickets(w http.ResponseWriter, r *http.Request) {
	q, err := httpx.Query(r, "orderId")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	orderID := q.Get("orderId")
	if err := limits.Check(limits.ID("orderId", orderID)); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	tickets, err := projections.TicketsByID(r.Context(), s.pool, orderID, 500)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	list := make([]ticketView, len(tickets))
	for i, t := range tickets {
		list[i] = ticketView{ID: t.ID, OrderID: t.OrderID, Kind: t.Kind, Reason: t.Reason, Status: t.Status, CreatedAt: t.CreatedAt}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"tickets": list})
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
