package orders

import (
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

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
	rows, err := s.pool.Query(r.Context(), `SELECT id, order_id, kind, reason, status, created_at
		FROM orders.support_tickets WHERE ($1 = '' OR order_id = $1) ORDER BY id DESC LIMIT 500`, r.URL.Query().Get("orderId"))
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ticketView])
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"tickets": list})
}

// notificationView is one recorded email.
type notificationView struct {
	OrderID   string     `json:"orderId"`
	Kind      string     `json:"kind"`
	Recipient string     `json:"recipient"`
	Subject   string     `json:"subject"`
	CreatedAt time.Time  `json:"createdAt"`
	SentAt    *time.Time `json:"sentAt,omitempty"`
	Error     *string    `json:"error,omitempty"`
}

// listNotifications handles GET /api/orders/{id}/notifications.
func (s *Service) listNotifications(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	rows, err := s.pool.Query(r.Context(), `SELECT order_id, kind, recipient, subject, created_at, sent_at, error
		FROM orders.notifications WHERE order_id = $1 ORDER BY id`, id)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[notificationView])
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"notifications": list})
}
