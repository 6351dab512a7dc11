package payments

import (
	"net/http"

	"github.com/ordermill/ordermill/services/httpx"
)

// routes serves the payment procedures, internal and so behind a calling service's bearer
// token (Config.Callers): a session names the customer and where they pay. Sessions are
// opened only by the order workflow's payments.create_session command, for the order's
// own total and currency, never over HTTP. The provider
// simulator and the checkout page exist only with Config.Simulator (dev mode): outside it
// they are not routes at all, so they answer 404 like any unknown path.
func (s *Service) routes() http.Handler {
	mux := httpx.NewMux()
	internal := func(h http.HandlerFunc) http.HandlerFunc { return httpx.RequireToken(s.cfg.Callers, s.logger, h) }
	mux.HandleFunc("GET /api/payments/sessions/{orderId}", internal(s.getSessionHTTP))
	if s.cfg.Simulator {
		mux.HandleFunc("POST /api/payments/process", internal(s.processHTTP))
		mux.HandleFunc("GET /pay/{sessionId}", checkoutHeaders(s.checkoutPage))
		mux.HandleFunc("POST /pay/{sessionId}", checkoutHeaders(s.checkoutSubmit))
	}
	return mux
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
	// Where the customer pays, not the row: the row knows what the service did, the
	// provider whether the customer paid. If it does not answer, the row is the answer.
	if live, err := s.cfg.Provider.Observe(r.Context(), sess); err != nil {
		s.logger.WarnContext(r.Context(), "payments: the provider did not say how the session stands; answering as recorded", "order_id", orderID, "err", err)
	} else {
		sess = live
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
