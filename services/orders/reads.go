package orders

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/httpx"
)

// orderReader reads the order id of the path and who asks for it; when either is refused
// it has answered the request, and ok is false.
func (s *Service) orderReader(w http.ResponseWriter, r *http.Request) (id string, who reader, ok bool) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		// Which of two credentials counts would depend on who reads it, as for headers.
		// Other parameters are let be: a link in an email may come back with a mail
		// tool's tracking added (the lists, which no link names, refuse them).
		err = httpx.Once(r.URL.Query(), "token")
	}
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return "", nobody, false
	}
	who = s.readerOf(r, id)
	if who == nobody {
		httpx.WriteError(w, r, s.logger, errNoCredential)
		return "", nobody, false
	}
	return id, who, true
}

// getOrder handles GET /api/orders/{id}: read from the event store, so it is never stale;
// concurrent reads share queries (orderstream.Reader).
// The operator sees the whole order, its customer the customerOrderView.
func (s *Service) getOrder(w http.ResponseWriter, r *http.Request) {
	id, who, ok := s.orderReader(w, r)
	if !ok {
		return
	}
	o, err := s.orders.Load(r.Context(), id)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	if who == customer {
		httpx.WriteJSON(w, http.StatusOK, customerView(viewOrder(o)))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, viewOrder(o))
}

// eventView is one entry of an order's history.
type eventView struct {
	Position   int64           `json:"position"`
	Version    int             `json:"version"`
	Name       string          `json:"name"`
	Data       json.RawMessage `json:"data"`
	Actor      string          `json:"actor,omitempty"`
	RecordedAt time.Time       `json:"recordedAt"`
}

// orderEvents handles GET /api/orders/{id}/events: the operator sees every event with its
// data, the customer what happened and when; each event in its current version.
func (s *Service) orderEvents(w http.ResponseWriter, r *http.Request) {
	if _, err := httpx.KnownQuery(r, "token"); err != nil { // a list: ?limit= would be ignored
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	id, who, ok := s.orderReader(w, r)
	if !ok {
		return
	}
	recorded, err := eventstore.Load(r.Context(), s.pool, id)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	if len(recorded) == 0 || recorded[0].StreamType != orderstream.StreamType {
		httpx.WriteError(w, r, s.logger, apperr.Errorf(apperr.CodeNotFound, "order %s not found", apperr.Excerpt(id)))
		return
	}
	for i, e := range recorded {
		if recorded[i], err = orderstream.Upcast(e); err != nil {
			httpx.WriteError(w, r, s.logger, err)
			return
		}
	}
	if who == customer {
		out := make([]customerEventView, 0, len(recorded))
		for _, e := range recorded {
			// Numbered as the customer's history counts them: the stream's versions would
			// leave a gap where each of the desk's events stands.
			if !order.ForStaff(e.Name) {
				out = append(out, customerEventView{Version: len(out) + 1, Name: e.Name, RecordedAt: e.RecordedAt})
			}
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"orderId": id, "events": out})
		return
	}
	out := make([]eventView, len(recorded))
	for i, e := range recorded {
		out[i] = eventView{Position: e.Position, Version: e.Version, Name: e.Name, Data: e.Payload, Actor: e.Metadata.Actor, RecordedAt: e.RecordedAt}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"orderId": id, "events": out})
}

// summaryView is one row of GET /api/orders.
type summaryView struct {
	ID            string      `json:"id"`
	Status        string      `json:"status"`
	CustomerID    string      `json:"customerId,omitempty"`
	CustomerEmail string      `json:"customerEmail,omitempty"`
	Total         json.Number `json:"total"`
	Currency      string      `json:"currency"`
	ItemCount     int         `json:"itemCount"`
	RiskScore     *int        `json:"riskScore,omitempty"`
	CreatedAt     time.Time   `json:"createdAt"`
	UpdatedAt     time.Time   `json:"updatedAt"`
}

// listOrders handles GET /api/orders?status=&limit=&cursor=: newest first, keyset-paginated
// over the order_summaries read model so every page costs the same.
func (s *Service) listOrders(w http.ResponseWriter, r *http.Request) {
	q, err := httpx.Query(r, "status", "limit", "cursor")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	var status string
	if v := q.Get("status"); v != "" {
		st, err := order.ParseStatus(v)
		if err != nil {
			httpx.WriteError(w, r, s.logger, err)
			return
		}
		status = string(st)
	}
	limit, err := httpx.PageSize(q)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	after, err := projections.DecodePlacedCursor(q.Get("cursor"))
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	// A turn at the lists' gate, which the dashboard's lists share: however many lists are
	// asked for at once, the pool is left to placements, webhooks and the workflow.
	summaries, err := httpx.Through(r.Context(), s.lists, httpx.ListsWait, func() ([]projections.Summary, error) {
		return projections.FilteredSummaries(r.Context(), s.pool, projections.SummaryFilter{Status: status}, after, limit+1)
	})
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	list := make([]summaryView, len(summaries))
	for i, sm := range summaries {
		list[i] = summaryView{ID: sm.OrderID, Status: sm.Status, CustomerID: sm.CustomerID, CustomerEmail: sm.CustomerEmail,
			Total: amount(order.Cents(sm.TotalCents), sm.Currency), Currency: sm.Currency, ItemCount: sm.ItemCount, RiskScore: sm.RiskScore,
			CreatedAt: sm.CreatedAt, UpdatedAt: sm.UpdatedAt}
	}
	resp := map[string]any{"orders": list}
	if len(list) > limit {
		list = list[:limit]
		last := list[len(list)-1]
		resp["orders"] = list
		resp["nextCursor"] = projections.EncodePlacedCursor(last.CreatedAt, last.ID)
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
}
