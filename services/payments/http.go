package payments

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/simulator"
)

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/payments/sessions", s.createSessionHTTP)
	mux.HandleFunc("GET /api/payments/sessions/{orderId}", s.getSessionHTTP)
	mux.HandleFunc("POST /api/payments/process", s.processHTTP)
	mux.HandleFunc("GET /pay/{sessionId}", s.checkoutPage)
	mux.HandleFunc("POST /pay/{sessionId}", s.checkoutSubmit)
	mux.HandleFunc("GET /healthz", httpx.Healthz(s.pool))
	return mux
}

// createSessionHTTP is payments.create-session: 201 with a new session, 200 with the
// order's existing one.
func (s *Service) createSessionHTTP(w http.ResponseWriter, r *http.Request) {
	httpx.Create(w, r, s.logger, s.pool, func(ctx context.Context, tx pgx.Tx, cmd payment.CreateSession) (Session, bool, error) {
		return s.createSession(ctx, tx, eventstore.Metadata{CorrelationID: cmd.OrderID, Actor: "api"}, cmd)
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

// checkoutPage is where a session's URL leads: a stand-in for the provider's hosted
// checkout, so the link in an order is clickable and a demo can pay or fail by hand.
func (s *Service) checkoutPage(w http.ResponseWriter, r *http.Request) {
	sess, err := sessionWhere(r.Context(), s.pool, "session_id", r.PathValue("sessionId"), false)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := checkoutTmpl.Execute(w, checkoutView{
		Session: sess,
		Amount:  fmt.Sprintf("%d.%02d %s", sess.Amount/100, sess.Amount%100, sess.Currency),
		Open:    sess.Status == StatusOpen && !s.cfg.Now().After(sess.ExpiresAt),
		Notice:  r.URL.Query().Get("notice"),
	}); err != nil {
		s.logger.ErrorContext(r.Context(), "payments: render checkout", "err", err)
	}
}

func (s *Service) checkoutSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxBody)
	if err := r.ParseForm(); err != nil {
		httpx.WriteError(w, r, s.logger, apperr.Errorf(apperr.CodeInvalid, "malformed form: %v", err))
		return
	}
	sess, err := sessionWhere(r.Context(), s.pool, "session_id", r.PathValue("sessionId"), false)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	res, err := s.Process(r.Context(), ProcessRequest{OrderID: sess.OrderID, Outcome: r.PostForm.Get("outcome")})
	var notice string
	switch {
	case err != nil && apperr.ErrorCode(err) == apperr.CodeInternal && !errors.As(err, new(*simulator.DeliveryError)):
		httpx.WriteError(w, r, s.logger, err)
		return
	case err != nil:
		notice = err.Error()
	default:
		notice = fmt.Sprintf("Payment %s; the shop answered HTTP %d.", res.Webhook.Status, res.OrdersStatus)
	}
	// Post/redirect/get, so reloading the page cannot submit the payment again.
	http.Redirect(w, r, "/pay/"+url.PathEscape(sess.SessionID)+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}

type checkoutView struct {
	Session Session
	Amount  string
	Open    bool
	Notice  string
}

var checkoutTmpl = template.Must(template.New("checkout").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout {{.Session.SessionID}}</title></head>
<body>
<h1>Pay {{.Amount}}</h1>
<p>Order <code data-testid="order-id">{{.Session.OrderID}}</code>, session <code>{{.Session.SessionID}}</code>,
status <strong data-testid="status">{{.Session.Status}}</strong>.</p>
{{with .Notice}}<p data-testid="notice">{{.}}</p>{{end}}
{{if .Open}}<form method="post">
<button name="outcome" value="completed" data-testid="pay">Pay</button>
<button name="outcome" value="failed" data-testid="decline">Decline</button>
</form>{{end}}
<p><small>Simulated payment provider: paying sends the shop a signed webhook.</small></p>
</body></html>
`))
