package delivery

import (
	"context"
	"net/http"
	"net/url"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/httpx"
)

// routes serves the delivery procedures, internal and so behind a calling service's bearer
// token (Config.Callers): a shipment carries the customer's address. The courier simulator
// exists only with Config.Simulator (dev mode); outside it, it is no route at all and
// answers 404 like any unknown path.
func (s *Service) routes() http.Handler {
	mux := httpx.NewMux()
	internal := func(h http.HandlerFunc) http.HandlerFunc { return httpx.RequireToken(s.cfg.Callers, s.logger, h) }
	mux.HandleFunc("POST /api/shipments", internal(s.createShipmentHTTP))
	mux.HandleFunc("GET /api/shipments/{orderId}", internal(s.getShipmentHTTP))
	if s.cfg.Simulator {
		mux.HandleFunc("POST /api/shipments/{orderId}/simulate", internal(s.simulateHTTP))
	}
	return mux
}

// createShipmentHTTP is delivery.create-shipment: 201 with a new shipment, 200 with the
// order's existing one, each with the Location that reads it.
func (s *Service) createShipmentHTTP(w http.ResponseWriter, r *http.Request) {
	httpx.Create(w, r, s.logger, s.pool, func(ctx context.Context, tx pgx.Tx, cmd shipping.CreateShipment) (Shipment, bool, error) {
		return s.createShipmentAs(ctx, tx, eventstore.Metadata{CorrelationID: cmd.OrderID, Actor: "service:" + httpx.Caller(ctx)}, cmd)
	}, func(sh Shipment) string { return "/api/shipments/" + url.PathEscape(sh.OrderID) })
}

// getShipmentHTTP is delivery.get-status.
func (s *Service) getShipmentHTTP(w http.ResponseWriter, r *http.Request) {
	orderID, err := httpx.PathID(r, "orderId")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	sh, err := s.ShipmentByOrder(r.Context(), s.pool, orderID)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, sh)
}

// simulateHTTP is the courier simulator.
func (s *Service) simulateHTTP(w http.ResponseWriter, r *http.Request) {
	orderID, err := httpx.PathID(r, "orderId")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	var req SimulateRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	res, err := s.Simulate(r.Context(), orderID, req)
	s.webhooks.WriteResult(w, r, res, err, "the status is recorded")
}
