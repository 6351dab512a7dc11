package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/httpx"
)

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/shipments", s.createShipmentHTTP)
	mux.HandleFunc("GET /api/shipments/{orderId}", s.getShipmentHTTP)
	mux.HandleFunc("POST /api/shipments/{orderId}/simulate", s.simulateHTTP)
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

// createShipmentHTTP is delivery.create-shipment: 201 with a new shipment, 200 with the
// order's existing one, so a retried request is safe and tells the caller which happened.
func (s *Service) createShipmentHTTP(w http.ResponseWriter, r *http.Request) {
	var cmd shipping.CreateShipment
	if err := httpx.DecodeJSON(w, r, &cmd); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	if err := cmd.Validate(); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	ctx := r.Context()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		httpx.WriteError(w, r, s.logger, fmt.Errorf("begin: %w", err))
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sh, created, err := s.createShipment(ctx, tx, eventstore.Metadata{CorrelationID: cmd.OrderID, Actor: "api"}, cmd)
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, sh)
}

// getShipmentHTTP is delivery.get-status.
func (s *Service) getShipmentHTTP(w http.ResponseWriter, r *http.Request) {
	sh, err := s.ShipmentByOrder(r.Context(), s.pool, r.PathValue("orderId"))
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, sh)
}

// simulateHTTP is the courier simulator. Whatever the orders service answers is reported
// with 200; only an unreachable orders service is a 502, because then the simulator itself
// could not do its job.
func (s *Service) simulateHTTP(w http.ResponseWriter, r *http.Request) {
	var req SimulateRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	res, err := s.Simulate(r.Context(), r.PathValue("orderId"), req)
	var deliveryErr *DeliveryError
	if errors.As(err, &deliveryErr) {
		s.logger.WarnContext(r.Context(), "delivery: webhook not delivered", "err", err)
		httpx.WriteJSON(w, http.StatusBadGateway, httpx.ErrorBody{Error: httpx.ErrorDetail{
			Code:    "bad_gateway",
			Message: err.Error() + "; the status is recorded, repeat the request to notify again",
		}})
		return
	}
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

// healthz reports ready only when the database answers, since nothing works without it.
func (s *Service) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
