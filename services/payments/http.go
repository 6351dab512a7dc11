package payments

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/httpx"
)

// routes serves the payment procedures, internal and so behind a calling service's bearer
// token (Config.Callers): a session names the customer and where they pay. The provider
// simulator and the checkout page exist only with Config.Simulator (dev mode): outside it
// they are not routes at all, so they answer 404 like any unknown path.
func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	internal := func(h http.HandlerFunc) http.HandlerFunc { return httpx.RequireToken(s.cfg.Callers, s.logger, h) }
	mux.HandleFunc("POST /api/payments/sessions", internal(s.createSessionHTTP))
	mux.HandleFunc("GET /api/payments/sessions/{orderId}", internal(s.getSessionHTTP))
	if s.cfg.Simulator {
		mux.HandleFunc("POST /api/payments/process", internal(s.processHTTP))
		mux.HandleFunc("GET /pay/{sessionId}", checkoutHeaders(s.checkoutPage))
		mux.HandleFunc("POST /pay/{sessionId}", checkoutHeaders(s.checkoutSubmit))
	}
	return mux
}

// createSessionHTTP is payments.create-session: 201 with a new session, 200 with the
// order's existing one.
func (s *Service) createSessionHTTP(w http.ResponseWriter, r *http.Request) {
	httpx.Create(w, r, s.logger, s.pool, func(ctx context.Context, tx pgx.Tx, cmd payment.CreateSession) (Session, bool, error) {
		return s.createSession(ctx, tx, eventstore.Metadata{CorrelationID: cmd.OrderID, Actor: "service:" + httpx.Caller(ctx)}, cmd)
	})
}

func (s *Service) getSessionHTTP(w http.ResponseWriter, r *http.Request) {
	orderID, err := httpx.PathID(r, "orderId")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	sess, err := s.SessionByOrder(r.Context(), s.pool, orderID)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, sess)
}

// processHTTP is payments.process, the provider simulator.
func (s *Service) processHTTP(w http.ResponseWriter, r *http.Request) {
	var req ProcessRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	res, err := s.Process(r.Context(), req)
	s.webhooks.WriteResult(w, r, res, err, "the session is settled")
}
