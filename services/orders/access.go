package orders

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/services/httpx"
)

// Who may read what (finding 4 of issue 8: customer data was public).
//
//   - The operator (Authorization: Bearer <OPERATOR_TOKEN>) reads everything: orders in
//     full, the order list, event histories with their data, emails, webhooks, tickets.
//   - A customer holds their order's access token, returned with the 201 of POST
//     /api/orders, and presents it as Authorization: Bearer <token> or in a link as
//     ?token=<token>. It reads that order's status, items, total and payment link and its
//     history's event names and times: no personal data (the token travels in links, and
//     links leak), no risk assessment (it would teach how to pass it), no other order.
//   - Anyone else gets 401, before the order is looked up, so no answer tells which
//     orders exist.
//   - In DEV_MODE a request with no credential at all reads as the operator, so the
//     README's curl lines work as written; a wrong credential is refused there too.

// reader is who a read request comes from.
type reader int

const (
	nobody reader = iota
	customer
	operator
)

// orderTokenPurpose keeps these MACs apart from any other use the secret might be put to.
const orderTokenPurpose = "ordermill order access token v1\x00"

// orderToken is order id's access token: an HMAC-SHA256 of the id under the service's
// secret. It needs no storage, every replica computes the same one, and a retried
// placement gets the same token back. Rotating the secret revokes every token at once.
func (s *Service) orderToken(id string) string {
	mac := hmac.New(sha256.New, s.orderSecret)
	mac.Write([]byte(orderTokenPurpose + id))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// readerOf says who r is, for order orderID ("" for lists and inboxes, which no customer
// reads). The operator's token counts only in the Authorization header: a link's query
// ends up in browser histories and proxy logs, which an order's token may risk and the
// key to every order may not.
func (s *Service) readerOf(r *http.Request, orderID string) reader {
	token, ok := httpx.BearerToken(r)
	switch {
	case ok:
		if httpx.TokenEqual(token, s.cfg.OperatorToken) {
			return operator
		}
	case r.Header.Get("Authorization") != "":
		return nobody // a credential of another scheme is a wrong one, not none
	case r.URL.Query().Has("token"):
		token = r.URL.Query().Get("token")
	case s.cfg.DevMode:
		return operator
	default:
		return nobody
	}
	if orderID != "" && hmac.Equal([]byte(token), []byte(s.orderToken(orderID))) {
		return customer
	}
	return nobody
}

// errNoCredential answers a read without the right credential.
var errNoCredential = apperr.Errorf(apperr.CodeUnauthorized,
	"a credential is required: the operator's token (Authorization: Bearer <token>) or, for one order, the access token returned when it was placed")

// errNotOperator answers a read only the operator may make: an order's access token does
// not open it, so the answer does not offer one.
var errNotOperator = apperr.Errorf(apperr.CodeUnauthorized,
	"the operator's token is required: Authorization: Bearer <token>")

// operatorWrites guards a change only the operator may make: it needs the operator's token
// in the Authorization header even in dev mode, where a read without a credential is
// answered as the operator's.
func (s *Service) operatorWrites(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := httpx.BearerToken(r); !ok || s.readerOf(r, "") != operator {
			httpx.WriteError(w, r, s.logger, errNotOperator)
			return
		}
		h(w, r)
	}
}

// operatorOnly guards a list or an inbox: only the operator reads those.
func (s *Service) operatorOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.readerOf(r, "") != operator {
			httpx.WriteError(w, r, s.logger, errNotOperator)
			return
		}
		h(w, r)
	}
}

// customerOrderView is what an order's customer reads with its access token: where the
// order stands and what they need to act on it.
type customerOrderView struct {
	ID             string             `json:"id"`
	Status         order.Status       `json:"status"`
	Items          []itemView         `json:"items"`
	Total          json.Number        `json:"total"`
	Currency       string             `json:"currency"`
	PaymentURL     string             `json:"paymentUrl,omitempty"`
	TrackingNumber string             `json:"trackingNumber,omitempty"`
	DeliveryStatus string             `json:"deliveryStatus,omitempty"`
	CancelReason   order.CancelReason `json:"cancelReason,omitempty"`
	Refunds        []refundView       `json:"refunds,omitempty"`
	CreatedAt      time.Time          `json:"createdAt"`
	UpdatedAt      time.Time          `json:"updatedAt"`
}

// customerView is v as its customer reads it. A refund says how much came back and when
// (a customer refunded saw only "cancelled"), and the payment link is there only while
// the order waits for its payment.
func customerView(v orderView) customerOrderView {
	c := customerOrderView{
		ID: v.ID, Status: v.Status, Items: v.Items, Total: v.Total, Currency: v.Currency,
		PaymentURL: v.PaymentURL, TrackingNumber: v.TrackingNumber, DeliveryStatus: v.DeliveryStatus,
		CancelReason: v.CancelReason, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
	}
	for _, r := range v.Refunds {
		c.Refunds = append(c.Refunds, refundView{Amount: r.Amount, Currency: r.Currency, At: r.At})
	}
	if v.Status != order.StatusAwaitingPayment {
		c.PaymentURL = "" // paid, or past paying: the link would take money for nothing
	}
	return c
}

// customerEventView is one entry of an order's history as its customer sees it: what
// happened and when. The payloads carry personal data and risk factors, the actors name
// managers; the desk's own events (order.ForStaff: notes, claims, tickets) are left out.
type customerEventView struct {
	Version    int       `json:"version"`
	Name       string    `json:"name"`
	RecordedAt time.Time `json:"recordedAt"`
}
