// Package payment is the payment service's public contract: the command that opens a
// checkout session, the event that reports it, and the webhook the provider sends when the
// customer has paid or failed to.
package payment

import (
	"fmt"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
)

// The names and shapes below are decoded by the saga, projections and the orders service,
// so a field or name never changes in place; a new shape gets a new versioned name.

// SessionTTL is how long a checkout session stays open at most: Stripe's limit, and its
// default. A payment wait longer than it would hold an order's stock past the moment it
// can no longer be paid, so none may be configured (the orders service refuses it).
const SessionTTL = 24 * time.Hour

// CommandsTopic is the topic other components send payment commands to.
const CommandsTopic = "payments_commands"

// StreamType is the stream type of payment sessions, so their events travel on "payment_events".
const StreamType = "payment"

// Command and event names carry a schema version so old messages stay decodable.
const (
	// CreateSessionName is the message name of CreateSession.
	CreateSessionName = "payments.create_session.v1"
	// SessionCreatedName is the stored name of SessionCreated.
	SessionCreatedName = "payment.session_created.v1"
	// RefundName is the message name of Refund.
	RefundName = "payments.refund.v1"
	// RefundedName is the stored name of Refunded.
	RefundedName = "payment.refunded.v1"
	// AlreadyRefundedName is the stored name of AlreadyRefunded.
	AlreadyRefundedName = "payment.already_refunded.v1"
	// ExpireSessionName is the message name of ExpireSession.
	ExpireSessionName = "payments.expire_session.v1"
	// SessionFoundPaidName is the stored name of SessionFoundPaid.
	SessionFoundPaidName = "payment.session_found_paid.v1"
	// SessionExpiredName is the stored name of SessionExpired.
	SessionExpiredName = "payment.session_expired.v1"
	// SessionRefusedName is the stored name of SessionRefused.
	SessionRefusedName = "payment.session_refused.v1"
	// RefundRefusedName is the stored name of RefundRefused.
	RefundRefusedName = "payment.refund_refused.v1"
)

// ReasonSessionExpired is the failure a provider reports when the session expired unpaid
// (Stripe's checkout.session.expired): the order's time to pay ran out.
const ReasonSessionExpired = "checkout_session_expired"

// Webhook statuses the provider reports; the orders service branches on exactly these.
const (
	// StatusCompleted means the money was taken.
	StatusCompleted = "completed"
	// StatusFailed means the payment was declined or errored; nothing was taken.
	StatusFailed = "failed"
)

// CreateSession asks for a checkout session for an order; it is honoured at most once per
// order, so a redelivered command can never open a second way to charge the customer.
type CreateSession struct {
	OrderID       string `json:"orderId"`
	Amount        int64  `json:"amount"` // in hundredths of the currency, like the order total (see units.go)
	Currency      string `json:"currency"`
	CustomerEmail string `json:"customerEmail,omitempty"`
	// Lines are what the customer is shown at the provider's checkout; commands sent
	// before lines existed have none, and a provider then shows one line for the amount.
	Lines []Line `json:"lines,omitempty"`
	// PayBy is when the order stops waiting for its payment (its payment deadline): the
	// session is recorded as expiring then if that comes before the provider's expiry.
	// Commands sent before it existed have none.
	PayBy time.Time `json:"payBy,omitzero"`
}

// Line is one line of the order at checkout, priced in hundredths, with the catalog's
// name of its SKU (none in commands for orders placed before names were kept).
type Line struct {
	SKU       string `json:"sku"`
	Name      string `json:"name,omitempty"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unitPrice"`
}

// Label is what the customer is shown for l: the product's name, else its SKU.
func (l Line) Label() string {
	if l.Name != "" {
		return l.Name
	}
	return l.SKU
}

// LinesMatch reports whether c's lines add up to its amount, so a provider may show
// them as the bill; otherwise it shows the amount as one line. Lines CheckLines refuses
// do not match: a sum past what int64 holds, wrapped around, could equal the amount while
// the provider would bill the lines' true total.
func (c CreateSession) LinesMatch() bool {
	sum, err := c.linesSum()
	return err == nil && len(c.Lines) > 0 && sum == c.Amount
}

// CheckLines refuses c's lines as the order refuses its items (order.CheckItems, and
// order.Place for its total): more than limits.MaxLines, a blank or unclean SKU, a
// quantity out of bounds, a negative unit price, or a sum past c's amount. The lines are
// an order's priced items only, so they may add up to less. An order an earlier release
// accepted may hold lines it refuses: its command is sent without them (the saga).
func (c CreateSession) CheckLines() error {
	_, err := c.linesSum()
	return err
}

// linesSum is what c's lines add up to, or CheckLines' refusal.
func (c CreateSession) linesSum() (int64, error) {
	if err := limits.Lines("lines", len(c.Lines)); err != nil {
		return 0, err
	}
	var sum int64
	for i, l := range c.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		if err := limits.Line(f, l.SKU, l.Quantity); err != nil {
			return 0, err
		}
		if l.UnitPrice < 0 {
			return 0, apperr.FieldErrorf(f+".unitPrice", "%s.unitPrice must not be negative, got %d", f, l.UnitPrice)
		}
		var ok bool
		if sum, ok = limits.AddPrice(sum, l.Quantity, l.UnitPrice); !ok {
			return 0, apperr.FieldErrorf(f+".unitPrice", "%s.unitPrice times quantity overflows the lines' sum", f)
		}
	}
	if sum > c.Amount {
		return 0, apperr.FieldErrorf("lines", "lines add up to %d, more than the amount %d", sum, c.Amount)
	}
	return sum, nil
}

// Validate reports the first problem with c as a field error, so the HTTP edge and the
// command consumer refuse the same inputs.
func (c CreateSession) Validate() error {
	if err := limits.OrderID(c.OrderID); err != nil {
		return err
	}
	if c.Amount <= 0 {
		return apperr.FieldErrorf("amount", "amount must be a positive number of hundredths of the currency, got %d", c.Amount)
	}
	if !validCurrency(c.Currency) {
		return apperr.FieldErrorf("currency", "currency must be three uppercase letters, got %q", apperr.Excerpt(c.Currency))
	}
	if err := limits.EmailAddress("customerEmail", c.CustomerEmail); err != nil {
		return err
	}
	return c.CheckLines()
}

// SessionRefused records that the service refused an order's CreateSession by this
// contract (Validate): an order an earlier release accepted, or a command written by hand.
// The order waits for its session, so it is answered, once an order, as the warehouse
// answers a reservation it refuses; nobody can pay the order.
type SessionRefused struct {
	OrderID string `json:"orderId"`
	Reason  string `json:"reason"`
}

// MessageName is the name SessionRefused travels under, so a consumer can subscribe by type.
func (SessionRefused) MessageName() string { return SessionRefusedName }

// SessionCreated records the checkout the customer must complete before ExpiresAt.
type SessionCreated struct {
	OrderID   string    `json:"orderId"`
	SessionID string    `json:"sessionId"`
	URL       string    `json:"url"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Webhook is the body the provider POSTs to the orders service at /webhooks/payment, signed
// with Stripe's scheme; ID is the provider's event id, so a redelivery can be recognised.
type Webhook struct {
	ID        string `json:"id,omitempty"`
	OrderID   string `json:"orderId"`
	Status    string `json:"status"`
	PaymentID string `json:"paymentId,omitempty"`
	SessionID string `json:"sessionId,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// Amount and Currency are what the provider settled; the orders service pays an order
	// only with its own session's amount and currency. Amount is in hundredths of the
	// currency in every currency (units.go), in the flat body too: 240000 for 2,400 JPY.
	// That body is Ordermill's own (the simulator's, bin/loadgen's), in the unit of the
	// session it pays (GET /api/payments/sessions/{id}); only Stripe's events come in
	// Stripe's unit, converted at that edge (stripeevent). It stays so, not the provider's
	// unit: a flat webhook an older simulator keeps in its outbox across an upgrade would
	// be read 100 times off, and refunded. 0 from Stripe is an amount of no whole
	// hundredths (15.259 KWD), which pays no order.
	Amount   int64  `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
}

// Validate reports the first problem with w as a field error, so a receiver can refuse a
// webhook it could not act on with a 400 instead of storing nonsense.
func (w Webhook) Validate() error {
	if strings.TrimSpace(w.OrderID) == "" {
		return apperr.FieldErrorf("orderId", "orderId is required")
	}
	if w.Status != StatusCompleted && w.Status != StatusFailed {
		return apperr.FieldErrorf("status", "status must be %q or %q, got %q", StatusCompleted, StatusFailed, apperr.Excerpt(w.Status))
	}
	if w.Amount < 0 {
		return apperr.FieldErrorf("amount", "amount must not be negative, got %d", w.Amount)
	}
	if w.Currency != "" && !validCurrency(w.Currency) {
		return apperr.FieldErrorf("currency", "currency must be three uppercase letters, got %q", apperr.Excerpt(w.Currency))
	}
	return limits.Check(limits.ID("id", w.ID), limits.ID("orderId", w.OrderID), limits.ID("paymentId", w.PaymentID),
		limits.ID("sessionId", w.SessionID), limits.Text("reason", w.Reason))
}

// RefundReport is the provider's report that money taken for an order was given back,
// by whoever gave it: Ordermill's own refunds are reported too, and so is a refund made in
// the provider's dashboard (Stripe's charge.refunded). Amount is what was refunded of the
// payment so far, in hundredths; Full says the whole payment was.
type RefundReport struct {
	ID        string `json:"id"`
	OrderID   string `json:"orderId"`
	PaymentID string `json:"paymentId"`
	RefundID  string `json:"refundId"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Full      bool   `json:"full"`
}

// RefundReportName is the message name of RefundReport.
const RefundReportName = "webhook.payment_refunded.v1"

// MessageName is the name RefundReport travels under to the saga.
func (RefundReport) MessageName() string { return RefundReportName }

// Validate reports the first problem with r as a field error.
func (r RefundReport) Validate() error {
	if strings.TrimSpace(r.OrderID) == "" {
		return apperr.FieldErrorf("orderId", "orderId is required")
	}
	return r.ValidateReported()
}

// ValidateReported checks what the provider's report says, before the order it is about
// is found by its payment (all of Validate but the order).
func (r RefundReport) ValidateReported() error {
	for _, f := range []struct{ name, value string }{{"paymentId", r.PaymentID}, {"refundId", r.RefundID}} {
		if strings.TrimSpace(f.value) == "" {
			return apperr.FieldErrorf(f.name, "%s is required", f.name)
		}
	}
	if err := checkRefundAmount(r.Amount, r.Currency); err != nil {
		return err
	}
	return limits.Check(limits.ID("id", r.ID), limits.ID("orderId", r.OrderID), limits.ID("paymentId", r.PaymentID), limits.ID("refundId", r.RefundID))
}

// checkRefundAmount refuses a refund's amount below zero (zero, or none, is the whole
// payment) and a currency, when given, that is not three uppercase letters.
func checkRefundAmount(amount int64, currency string) error {
	if amount < 0 {
		return apperr.FieldErrorf("amount", "amount must not be negative, got %d", amount)
	}
	if currency != "" && !validCurrency(currency) {
		return apperr.FieldErrorf("currency", "currency must be three uppercase letters, got %q", apperr.Excerpt(currency))
	}
	return nil
}

// Refund asks the payment service to give back a payment the provider took for an order
// that no longer wants it: what is still taken of it, since a part may have been given
// back at the provider already (in Stripe's dashboard). It is honoured at most once per
// payment: the provider is called with an idempotency key derived from PaymentID, and the
// refund is recorded once.
type Refund struct {
	OrderID   string `json:"orderId"`
	PaymentID string `json:"paymentId"`
	SessionID string `json:"sessionId,omitempty"`
	Amount    int64  `json:"amount,omitempty"` // hundredths; what the provider reported taken
	Currency  string `json:"currency,omitempty"`
	// Refunded is what the order records given back of the payment already, in
	// hundredths: parts refunded at the provider, not by Ordermill. A provider that keeps
	// no account of a payment's refunds (the simulator) gives back Amount less this;
	// Stripe counts what is left itself. Commands sent before it existed have none.
	Refunded int64  `json:"refunded,omitempty"`
	Reason   string `json:"reason"`
}

// Rest is what the order knows to be still taken of r's payment: Amount less Refunded,
// none when the payment's report did not say its amount.
func (r Refund) Rest() int64 {
	if r.Amount <= r.Refunded {
		return 0
	}
	return r.Amount - r.Refunded
}

// Validate reports the first problem with r as a field error.
func (r Refund) Validate() error {
	if strings.TrimSpace(r.OrderID) == "" {
		return apperr.FieldErrorf("orderId", "orderId is required")
	}
	if strings.TrimSpace(r.PaymentID) == "" {
		return apperr.FieldErrorf("paymentId", "paymentId is required: a refund gives back one payment")
	}
	// A refund command with -5 "usd" passed, to fail at the provider (a review).
	if err := checkRefundAmount(r.Amount, r.Currency); err != nil {
		return err
	}
	if r.Refunded < 0 {
		return apperr.FieldErrorf("refunded", "refunded must not be negative, got %d", r.Refunded)
	}
	return limits.Check(limits.ID("orderId", r.OrderID), limits.ID("paymentId", r.PaymentID),
		limits.ID("sessionId", r.SessionID), limits.Text("reason", r.Reason))
}

// RefundRefused records that the service refused an order's Refund for good: by this
// contract (Validate), because the payment was made for another order, or because the
// provider refuses it for a cause of the payment's own. Nothing was given back, so it is
// answered, once a payment, for a person to settle: the money stays taken until someone
// does. Disputed says the customer disputed the payment's charge: the dispute decides
// where its money goes, and a person answers it rather than refunding (false in an event
// recorded before it was said).
type RefundRefused struct {
	OrderID   string `json:"orderId"`
	PaymentID string `json:"paymentId"`
	Reason    string `json:"reason"`
	Disputed  bool   `json:"disputed,omitempty"`
}

// MessageName is the name RefundRefused travels under, so a consumer can subscribe by type.
func (RefundRefused) MessageName() string { return RefundRefusedName }

// Refunded records that the provider refunded a payment (RefundID is the provider's):
// what was still taken of it, Amount (0 when the provider did not say: the payment given
// back whole).
type Refunded struct {
	OrderID   string `json:"orderId"`
	PaymentID string `json:"paymentId"`
	RefundID  string `json:"refundId"`
	Amount    int64  `json:"amount,omitempty"`
	// Total is what the provider shows refunded of the payment with this refund: Amount
	// and every part given back before it at the provider (in Stripe's dashboard), which
	// the order may not have heard of yet (their reports come in any order). A provider
	// that does not say (the simulator) gave back all that was left: the total is then the
	// payment's amount, or 0 when that is not known either. Events recorded before it
	// existed have none, nor have the simulator's before 2026-12-08.
	Total    int64  `json:"total,omitempty"`
	Currency string `json:"currency,omitempty"`
	// Charge is the provider's charge of the payment (Stripe's ch_…), which Stripe's
	// reports of the parts refunded before name; empty when the provider has none.
	Charge string    `json:"charge,omitempty"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// AlreadyRefunded records that a payment the service was asked to refund had nothing
// left to give back: the provider shows it refunded in full already, not by Ordermill (a
// refund made in Stripe's dashboard, reported or not). No refund was made, and none is
// asked again. Total is what the provider shows refunded of it (the whole payment), in
// Currency, on Charge, as in Refunded.
type AlreadyRefunded struct {
	OrderID   string    `json:"orderId"`
	PaymentID string    `json:"paymentId"`
	Total     int64     `json:"total,omitempty"`
	Currency  string    `json:"currency,omitempty"`
	Charge    string    `json:"charge,omitempty"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// ExpireSession closes the checkout session of an order given up, so that nobody pays for
// it any more. A session no longer open (paid, failed, closed) stays as it is: money paid
// before it closed comes as a payment webhook and is refunded as for any order given up.
type ExpireSession struct {
	OrderID   string `json:"orderId"`
	SessionID string `json:"sessionId"`
	// AskedAt, when set, asks for the outcome: SessionExpired when the session closed
	// unpaid, SessionFoundPaid when it had been paid, each carrying AskedAt. The order's
	// payment deadline asks, and the order is cancelled only on SessionExpired: a customer
	// who paid in time while the orders service was down was cancelled and refunded for a
	// deadline it handled before the payment's webhook (a probe). Each question is
	// answered once, however often its command comes, and a question asked again (a lost
	// answer) is answered again. Commands sent before it existed have none.
	AskedAt time.Time `json:"askedAt,omitzero"`
}

// Validate reports the first problem with c as a field error.
func (c ExpireSession) Validate() error {
	if strings.TrimSpace(c.OrderID) == "" {
		return apperr.FieldErrorf("orderId", "orderId is required")
	}
	if strings.TrimSpace(c.SessionID) == "" {
		return apperr.FieldErrorf("sessionId", "sessionId is required")
	}
	return limits.Check(limits.ID("orderId", c.OrderID), limits.ID("sessionId", c.SessionID))
}

// SessionFoundPaid records that a session the service was asked to close (its order given
// up) had been paid at the provider already: the provider's own report of the payment may
// come late or never (a webhook endpoint disabled), and the money must not stay taken
// for an order given up without anyone knowing. The saga takes it as that report.
type SessionFoundPaid struct {
	OrderID   string `json:"orderId"`
	SessionID string `json:"sessionId"`
	PaymentID string `json:"paymentId"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	// AskedAt is the question it answers (ExpireSession.AskedAt); zero for an order given up.
	AskedAt time.Time `json:"askedAt,omitzero"`
}

// MessageName is the name SessionFoundPaid travels under, so a consumer can subscribe by type.
func (SessionFoundPaid) MessageName() string { return SessionFoundPaidName }

// SessionExpired records that a session the service was asked to close, with an answer
// (ExpireSession.AskedAt), closed unpaid: nobody can pay it any more.
type SessionExpired struct {
	OrderID   string    `json:"orderId"`
	SessionID string    `json:"sessionId"`
	AskedAt   time.Time `json:"askedAt"` // the question it answers (ExpireSession.AskedAt)
}

// MessageName is the name SessionExpired travels under, so a consumer can subscribe by type.
func (SessionExpired) MessageName() string { return SessionExpiredName }

// StreamID names the payment stream of an order, so one order has one payment history.
func StreamID(orderID string) string { return "payment-" + orderID }

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// MessageName is the name SessionCreated travels under, so a consumer can subscribe by type.
func (SessionCreated) MessageName() string { return SessionCreatedName }

// MessageName is the name Refunded travels under, so a consumer can subscribe by type.
func (Refunded) MessageName() string { return RefundedName }

// MessageName is the name AlreadyRefunded travels under, so a consumer can subscribe by type.
func (AlreadyRefunded) MessageName() string { return AlreadyRefundedName }
