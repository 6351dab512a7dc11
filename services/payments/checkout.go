package payments

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/simulator"
)

// checkoutCookie carries the checkout form's CSRF token (double submit): the page sets it
// and puts the same value in the form, and a POST must bring both. Another site can make
// a browser send the cookie but cannot read it, nor the page, to fill in the field.
const checkoutCookie = "ordermill_checkout"

// csrfField is the form field that carries the token.
const csrfField = "csrf_token"

// checkoutCSP allows the page nothing but itself: no script, style, image or frame from
// anywhere, forms posted only back here, and no framing by another site (clickjacking a
// "Pay" button).
const checkoutCSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// checkoutHeaders sets the headers every checkout response carries. The referrer is never
// sent: the URL holds the session id, which is what lets anyone settle the session.
func checkoutHeaders(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", checkoutCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h(w, r)
	}
}

// pathSession reads the session the checkout path names; an id longer than any is a 400.
func (s *Service) pathSession(r *http.Request) (Session, error) {
	id, err := httpx.PathID(r, "sessionId")
	if err != nil {
		return Session{}, err
	}
	return sessionWhere(r.Context(), s.pool, "session_id", id, false)
}

// checkoutPage is where a session's URL leads: a stand-in for the provider's hosted
// checkout, so the link in an order is clickable and a demo can pay or fail by hand. Each
// view issues a fresh CSRF token, scoped to this session's path.
func (s *Service) checkoutPage(w http.ResponseWriter, r *http.Request) {
	sess, err := s.pathSession(r)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	token := rand.Text()
	http.SetCookie(w, &http.Cookie{
		Name: checkoutCookie, Value: token, Path: "/pay/" + url.PathEscape(sess.SessionID), MaxAge: 3600,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := checkoutTmpl.Execute(w, checkoutView{
		Session:   sess,
		Amount:    order.Cents(sess.Amount).Text(sess.Currency),
		Open:      sess.Status == StatusOpen && !s.cfg.Now().After(sess.ExpiresAt),
		Settled:   sess.Status == payment.StatusCompleted || sess.Status == payment.StatusFailed,
		Notice:    r.URL.Query().Get("notice"),
		CSRFToken: token,
	}); err != nil {
		s.logger.ErrorContext(r.Context(), "payments: render checkout", "err", err)
	}
}

// checkoutSubmit settles the session as the customer chose, once the form's token matches
// its cookie; without them it answers 403 and settles nothing.
func (s *Service) checkoutSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxBody)
	if err := r.ParseForm(); err != nil {
		httpx.WriteError(w, r, s.logger, apperr.Errorf(apperr.CodeInvalid, "malformed form: %v", err))
		return
	}
	c, err := r.Cookie(checkoutCookie)
	if err != nil || !httpx.TokenEqual(r.PostForm.Get(csrfField), c.Value) {
		httpx.WriteJSON(w, http.StatusForbidden, httpx.ErrorBody{Error: httpx.ErrorDetail{
			Code: "forbidden", Message: "missing or wrong CSRF token: reload the checkout page and try again",
		}})
		return
	}
	sess, err := s.pathSession(r)
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
	case errors.As(err, new(*simulator.DeliveryError)):
		// A real provider would try again; here the customer can, with the button the
		// settled page shows.
		notice = "The payment is recorded, but the shop could not be told (" + apperr.Excerpt(err.Error()) + "): tell it again below."
	case err != nil:
		notice = err.Error()
	default:
		notice = fmt.Sprintf("Payment %s; the shop answered HTTP %d.", res.Webhook.Status, res.OrdersStatus)
	}
	// Post/redirect/get, so reloading the page cannot submit the payment again.
	http.Redirect(w, r, "/pay/"+url.PathEscape(sess.SessionID)+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}

type checkoutView struct {
	Session   Session
	Amount    string
	Open      bool
	Settled   bool // paid or declined: the shop can be told again
	Notice    string
	CSRFToken string
}

var checkoutTmpl = template.Must(template.New("checkout").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout {{.Session.SessionID}}</title></head>
<body>
<h1>Pay {{.Amount}}</h1>
<p>Order <code data-testid="order-id">{{.Session.OrderID}}</code>, session <code>{{.Session.SessionID}}</code>,
status <strong data-testid="status">{{.Session.Status}}</strong>.</p>
{{with .Notice}}<p data-testid="notice">{{.}}</p>{{end}}
{{if .Open}}<form method="post">
<input type="hidden" name="csrf_token" value="{{.CSRFToken}}">
<button name="outcome" value="completed" data-testid="pay">Pay</button>
<button name="outcome" value="failed" data-testid="decline">Fail the payment</button>
</form>
<p><small>Failing stands for the provider's last word on the session (it will take no payment, as when
Stripe's session expires): the order is cancelled. A card declined at Stripe lets the customer try again
and ends nothing.</small></p>{{end}}
{{if .Settled}}<form method="post">
<input type="hidden" name="csrf_token" value="{{.CSRFToken}}">
<button name="outcome" value="{{.Session.Status}}" data-testid="notify">Tell the shop again</button>
</form>{{end}}
<p><small>Simulated payment provider: paying sends the shop a signed webhook.</small></p>
</body></html>
`))
