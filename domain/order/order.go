// Package order holds the event-sourced Order aggregate: commands decide which
// events happen, Apply folds events into state.
//
// Invariants of the Order aggregate:
//
//   - An order is placed exactly once, as the first event of its stream, with
//     from one to limits.MaxLines items of 1 to limits.MaxQuantity units each,
//     non-negative unit prices, a positive total (equal to the item sum when every
//     item is priced, no less than the priced items' sum when some are not), an
//     ISO-style three-letter currency and strings within the bounds of package limits.
//   - Status only moves along the lifecycle table (lifecycle.go)
//     placed → (awaiting_approval →) reserving_inventory → awaiting_payment →
//     awaiting_shipment → awaiting_delivery → delivered → completed,
//     or sideways into cancelled, rejected or delivery_failed; each command is
//     accepted only in the statuses the table lists for it.
//   - Terminal statuses (completed, cancelled, rejected, delivery_failed) accept
//     no further commands, except notes and support tickets, which record what people
//     say about the order, not what it does.
//   - Risk is assessed exactly once, before any inventory is reserved; an order
//     at or above the risk threshold needs a named human decision.
//   - Once paid, an order can no longer be cancelled; money has moved, so it must
//     run to delivery (or delivery failure).
//   - At most one payment session is opened per order, so a customer can never
//     be charged twice through two sessions; it is for the order's own total and
//     currency, and only a charge through it, for that amount, pays the order.
//   - Only an order awaiting approval can be claimed; a claim names one manager, lapses
//     at its end on its own, and only its holder releases it. A claim binds no one:
//     anybody may still decide, or claim the order in turn.
//   - Commands never mutate state; only Apply does, and Apply never fails, so
//     replaying a stored history always succeeds.
package order

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
)

// Status is the lifecycle position of an order; it is stored and exposed in the API, so values are stable.
type Status string

// Statuses of the order lifecycle.
const (
	// StatusPlaced means the order exists but risk is not yet assessed.
	StatusPlaced Status = "placed"
	// StatusAwaitingApproval means risk was too high and a human must decide.
	StatusAwaitingApproval Status = "awaiting_approval"
	// StatusReserving means risk is acceptable (or approved) and the warehouse must reserve stock.
	StatusReserving Status = "reserving_inventory"
	// StatusAwaitingPayment means stock is held for the customer while they pay.
	StatusAwaitingPayment Status = "awaiting_payment"
	// StatusAwaitingShipment means the order is paid and a shipment is being created.
	StatusAwaitingShipment Status = "awaiting_shipment"
	// StatusAwaitingDelivery means the carrier has the parcel.
	StatusAwaitingDelivery Status = "awaiting_delivery"
	// StatusDelivered means the carrier reported delivery but the order is not yet closed.
	StatusDelivered Status = "delivered"
	// StatusCompleted means the order is closed successfully.
	StatusCompleted Status = "completed"
	// StatusCancelled means the order stopped before payment was taken.
	StatusCancelled Status = "cancelled"
	// StatusRejected means a reviewer refused a risky order.
	StatusRejected Status = "rejected"
	// StatusDeliveryFailed means the carrier gave up after the order was paid.
	StatusDeliveryFailed Status = "delivery_failed"
)

var allStatuses = []Status{
	StatusPlaced, StatusAwaitingApproval, StatusReserving, StatusAwaitingPayment,
	StatusAwaitingShipment, StatusAwaitingDelivery, StatusDelivered, StatusCompleted,
	StatusCancelled, StatusRejected, StatusDeliveryFailed,
}

// Statuses lists every valid status in lifecycle order, for API docs, filters and exhaustive tests.
func Statuses() []Status {
	return append([]Status(nil), allStatuses...)
}

// Terminal reports whether no further commands can change the order, so workers can stop tracking it.
func (s Status) Terminal() bool { return s.Phase().Terminal }

// ParseStatus validates user input such as API filters so unknown statuses are rejected early.
func ParseStatus(s string) (Status, error) {
	for _, st := range allStatuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", apperr.FieldErrorf("status", "unknown order status %q", apperr.Excerpt(s))
}

// CancelReason explains why an order was cancelled, so reports can distinguish business causes.
type CancelReason string

// Known cancellation reasons.
const (
	// ReasonRejected means a reviewer rejected the order.
	ReasonRejected CancelReason = "rejected"
	// ReasonOutOfStock means the warehouse could not reserve the items: it named a line of
	// the order as short.
	ReasonOutOfStock CancelReason = "out_of_stock"
	// ReasonStockNotHeld means the order's items were not held for it for another cause
	// than a shortage: its reservation was released outside its workflow (by hand), held
	// other units than its items (a reservation by hand), or was refused by the warehouse
	// (an order is reserved once; a command its contract refuses).
	ReasonStockNotHeld CancelReason = "stock_not_held"
	// ReasonPaymentFailed means the payment provider declined or the payment errored.
	ReasonPaymentFailed CancelReason = "payment_failed"
	// ReasonTimedOut means a deadline (approval or payment) passed without an answer.
	ReasonTimedOut CancelReason = "timed_out"
)

// Cents is an amount in hundredths of its currency's major unit, in every currency (240000
// is 2,400 JPY, 1525 is 15.25 KWD); integers avoid floating-point rounding in money.
type Cents int64

// Units renders c in currency units with two decimals ("-5.00" for -500), as clients write
// amounts, for where its currency is not known; UnitsIn writes them as the currency does.
func (c Cents) Units() string {
	sign, u := "", uint64(c)
	if c < 0 {
		sign, u = "-", uint64(-c) // for the smallest Cents, -c wraps to itself and u is still right
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// isoDecimals are the currencies whose ISO 4217 minor unit is not a hundredth: how many
// decimals people write them with. It is for writing amounts only: what a payment can
// take goes by the provider's unit of each currency (package payment), which differs
// (Stripe counts IQD in cents and ISK in cents of whole krónur).
var isoDecimals = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// UnitsIn renders c in units of currency with the decimals of its ISO 4217 minor unit:
// "2400" JPY, "30.500" KWD, "19.99" USD. The value is c's, as a JSON number too: a
// fraction of a yen keeps its hundredths ("2400.50"), where "2400.00 JPY" and "30.50 KWD"
// were written for every currency alike.
func (c Cents) UnitsIn(currency string) string {
	units := c.Units()
	decimals, ok := isoDecimals[currency]
	switch {
	case !ok:
		return units
	case decimals > 2:
		return units + strings.Repeat("0", decimals-2)
	case strings.HasSuffix(units, ".00"):
		return strings.TrimSuffix(units, ".00")
	}
	return units
}

// Text writes c for people, with thousands grouped and the currency after it:
// "50,000.00 USD", "2,400 JPY", "30.500 KWD". Every page, email, ticket and timeline says
// amounts this one way.
func (c Cents) Text(currency string) string {
	units := c.UnitsIn(currency)
	sign := ""
	if units[0] == '-' {
		sign, units = "-", units[1:]
	}
	whole, frac, fractional := strings.Cut(units, ".")
	var b strings.Builder
	b.WriteString(sign)
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if fractional {
		b.WriteString("." + frac)
	}
	return b.String() + " " + currency
}

// Money is an amount with its currency, so the two never travel apart.
type Money struct {
	Amount   Cents  `json:"amount"`
	Currency string `json:"currency"`
}

// Item is one order line; UnitPrice is optional because some channels only send a total.
type Item struct {
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	UnitPrice *Cents `json:"unitPrice,omitempty"`
	// Name is what the catalog called the SKU when the order was priced, as the customer
	// is shown it at checkout; orders placed before names were kept have none.
	Name string `json:"name,omitempty"`
}

// Address is a postal address; risk scoring compares shipping and billing copies.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postalCode"`
	Country    string `json:"country"`
}

// check refuses a (possibly absent) address at field that lacks a part a parcel or a
// card check needs (name, line1, city, country; not every country has postal codes), or
// has a part out of bounds. The shipment's command takes what an order took before this
// was checked (shipping.CreateShipment.Validate), so only new orders are held to it.
func (a *Address) check(field string) error {
	if a == nil {
		return nil
	}
	for _, p := range []struct{ name, value string }{{"name", a.Name}, {"line1", a.Line1}, {"city", a.City}, {"country", a.Country}} {
		if strings.TrimSpace(p.value) == "" {
			return apperr.FieldErrorf(field+"."+p.name, "%s.%s is required", field, p.name)
		}
	}
	return limits.Address(field, a.Name, a.Line1, a.Line2, a.City, a.PostalCode, a.Country)
}

// RiskFactor is one explainable contribution to a risk score, so reviewers can see why an order was held.
type RiskFactor struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	Points      int    `json:"points"`
}

// Order is the aggregate state rebuilt from events; it is never persisted directly.
type Order struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Status  Status `json:"status"`

	CustomerID      string   `json:"customerId"`
	CustomerEmail   string   `json:"customerEmail,omitempty"`
	NewCustomer     bool     `json:"newCustomer"`
	Items           []Item   `json:"items"`
	Total           Cents    `json:"total"`
	Currency        string   `json:"currency"`
	ShippingAddress *Address `json:"shippingAddress,omitempty"`
	BillingAddress  *Address `json:"billingAddress,omitempty"`

	RiskScore        *int         `json:"riskScore,omitempty"`
	RiskFactors      []RiskFactor `json:"riskFactors,omitempty"`
	RiskThreshold    int          `json:"riskThreshold,omitempty"`
	ApprovalDeadline time.Time    `json:"approvalDeadline,omitempty"`
	DecidedBy        string       `json:"decidedBy,omitempty"`
	DecisionReason   string       `json:"decisionReason,omitempty"`
	// ClaimedBy is the manager who last claimed the order for review, from ClaimedAt
	// until ClaimedUntil (see Claim); empty once released.
	ClaimedBy    string    `json:"claimedBy,omitempty"`
	ClaimedAt    time.Time `json:"claimedAt,omitzero"`
	ClaimedUntil time.Time `json:"claimedUntil,omitzero"`

	ReservationID     string `json:"reservationId,omitempty"`
	ReservationFailed string `json:"reservationFailed,omitempty"`
	// ReservationFailedSKU is the line the warehouse could not hold, when it said which.
	ReservationFailedSKU string `json:"reservationFailedSku,omitempty"`

	PaymentSessionID  string    `json:"paymentSessionId,omitempty"`
	PaymentURL        string    `json:"paymentUrl,omitempty"`
	PaymentDeadline   time.Time `json:"paymentDeadline,omitempty"`
	PaymentID         string    `json:"paymentId,omitempty"`
	PaymentFailReason string    `json:"paymentFailReason,omitempty"`
	// Refunds lists the payments refunded, each once, with what was given back.
	Refunds []Refund `json:"refunds,omitempty"`

	ShipmentID            string `json:"shipmentId,omitempty"`
	Carrier               string `json:"carrier,omitempty"`
	TrackingNumber        string `json:"trackingNumber,omitempty"`
	DeliveryStatus        string `json:"deliveryStatus,omitempty"`
	DeliveryFailureReason string `json:"deliveryFailureReason,omitempty"`

	CancelReason CancelReason `json:"cancelReason,omitempty"`
	// SupportTickets lists the kinds of ticket opened, at most one of each.
	SupportTickets []string `json:"supportTickets,omitempty"`
	// ClosedTickets lists the kinds of ticket closed since.
	ClosedTickets []string `json:"closedTickets,omitempty"`
	// TicketDigests are what the tickets say, each text once as its digest (ticketDigest):
	// the reason each was opened with and every comment on it since, so that what a ticket
	// says already is not said again (TicketSays). A digest, not the text: a ticket takes
	// any number of comments of up to 1,000 characters each, and the order is held in
	// memory and written whole with each of its events as its snapshot; snapshot layout 6
	// kept every text.
	TicketDigests []string `json:"ticketDigests,omitempty"`
	CancelDetail  string   `json:"cancelDetail,omitempty"`

	PlacedAt time.Time `json:"placedAt"`
	// UpdatedAt is when the order's course last moved; the desk's own events (ForStaff:
	// notes, claims, support tickets) leave it.
	UpdatedAt time.Time `json:"updatedAt"`
}

// Rehydrate rebuilds an order from its stored history, oldest event first.
func Rehydrate(events []Event) *Order {
	o := &Order{}
	for _, e := range events {
		o.Apply(e)
	}
	return o
}

// Apply folds one event into the state; it never fails so any stored history can be replayed.
// Version counts every non-nil event so it equals the stream position. Pointer events (as produced by Decode) are accepted as well as values.
func (o *Order) Apply(e Event) {
	e, ok := normalize(e)
	if !ok {
		return
	}
	// The status moves as the lifecycle table says (lifecycle.go); the rest of the state
	// is each event's own. A rejection is reported as a cancellation too (for consumers
	// that only care whether the order goes ahead), but the table keeps "rejected", the
	// more precise status.
	o.Status = o.Status.after(e)
	var at time.Time
	switch ev := e.(type) {
	case OrderPlaced:
		o.ID = ev.OrderID
		o.CustomerID = ev.CustomerID
		o.CustomerEmail = ev.CustomerEmail
		o.NewCustomer = ev.NewCustomer
		o.Items = cloneItems(ev.Items)
		o.Total = ev.Total.Amount
		o.Currency = ev.Total.Currency
		o.ShippingAddress = cloneAddress(ev.ShippingAddress)
		o.BillingAddress = cloneAddress(ev.BillingAddress)
		o.PlacedAt = ev.PlacedAt
		at = ev.PlacedAt
	case RiskAssessed:
		score := ev.Score
		o.RiskScore = &score
		o.RiskFactors = append([]RiskFactor(nil), ev.Factors...)
		o.RiskThreshold = ev.Threshold
		at = ev.AssessedAt
	case HeldForApproval:
		o.ApprovalDeadline = ev.Deadline
		at = ev.HeldAt
	case OrderApproved:
		o.DecidedBy = ev.By
		o.DecisionReason = ev.Reason
		at = ev.At
	case OrderRejected:
		o.DecidedBy = ev.By
		o.DecisionReason = ev.Reason
		at = ev.At
	case InventoryReserved:
		o.ReservationID = ev.ReservationID
		at = ev.At
	case ReservationFailed:
		o.ReservationFailed, o.ReservationFailedSKU = ev.Reason, ev.SKU
		at = ev.At
	case PaymentSessionCreated:
		o.PaymentSessionID = ev.SessionID
		o.PaymentURL = ev.URL
		o.PaymentDeadline = ev.Deadline
		at = ev.At
	case PaymentCompleted:
		o.PaymentID = ev.PaymentID
		at = ev.At
	case PaymentFailed:
		if ev.PaymentID != "" {
			o.PaymentID = ev.PaymentID
		}
		o.PaymentFailReason = ev.Reason
		at = ev.At
	case ShipmentCreated:
		o.ShipmentID = ev.ShipmentID
		o.Carrier = ev.Carrier
		o.TrackingNumber = ev.TrackingNumber
		at = ev.At
	case DeliveryStatusUpdated:
		o.DeliveryStatus = ev.Status
		at = ev.At
	case OrderDelivered:
		at = ev.At
	case DeliveryFailed:
		o.DeliveryFailureReason = ev.Reason
		at = ev.At
	case OrderCompleted:
		at = ev.At
	// The desk's own events (ForStaff) are about the order, not its course: UpdatedAt stays
	// where the course left it. A claim before the decision made the approval's wait look
	// shorter (measured from UpdatedAt), and a customer's updatedAt told of staff at work.
	case SupportTicketOpened:
		o.SupportTickets = append(o.SupportTickets, ev.Kind)
		o.said(ev.Kind, strings.TrimSpace(ev.Reason)) // as a comment is
	case PaymentRefunded:
		o.Refunds = append(o.Refunds, Refund{PaymentID: ev.PaymentID, RefundID: ev.RefundID, Amount: ev.Amount, Currency: ev.Currency, At: ev.At})
		at = ev.At
	case TicketCommented:
		o.said(ev.Kind, ev.Text)
	case NoteAdded, TicketAssigned:
	case OrderClaimed:
		o.ClaimedBy, o.ClaimedAt, o.ClaimedUntil = ev.By, ev.At, ev.Until
	case TicketClosed:
		o.ClosedTickets = append(o.ClosedTickets, ev.Kind)
	case ClaimReleased:
		o.ClaimedBy, o.ClaimedAt, o.ClaimedUntil = "", time.Time{}, time.Time{}
	case OrderCancelled:
		o.CancelReason = ev.Reason
		o.CancelDetail = ev.Detail
		at = ev.At
	default:
		// Unknown events change no state but still count towards Version, so the
		// version keeps matching the stream position used for optimistic locking.
	}
	o.Version++
	if !at.IsZero() {
		o.UpdatedAt = at
	}
}

// normalize turns pointer events into values so Apply has one case per event.
func normalize(e Event) (Event, bool) {
	if e == nil {
		return nil, false
	}
	v := reflect.ValueOf(e)
	if v.Kind() != reflect.Pointer {
		return e, true
	}
	if v.IsNil() {
		return nil, false
	}
	ev, ok := v.Elem().Interface().(Event)
	return ev, ok
}

func cloneItems(items []Item) []Item {
	if items == nil {
		return nil
	}
	out := make([]Item, len(items))
	for i, it := range items {
		out[i] = it
		if it.UnitPrice != nil {
			p := *it.UnitPrice
			out[i].UnitPrice = &p
		}
	}
	return out
}

func cloneAddress(a *Address) *Address {
	if a == nil {
		return nil
	}
	c := *a
	return &c
}

// said records that the order's ticket of kind says text, once however often it says it.
func (o *Order) said(kind, text string) {
	if d := ticketDigest(kind, text); !slices.Contains(o.TicketDigests, d) {
		o.TicketDigests = append(o.TicketDigests, d)
	}
}

// ticketDigest is a text on the order's ticket of kind in 22 characters, whatever its
// length: the first 128 bits of the SHA-256 of the two, which no two texts an order's
// tickets say will share.
func ticketDigest(kind, text string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + text))
	return base64.RawStdEncoding.EncodeToString(sum[:16])
}

// Refund is money of a payment of the order given back, one refund: Amount in Currency,
// what this refund gave back (0 when the provider did not say; the payment was refunded
// whole). A payment refunded in parts has one a part.
type Refund struct {
	PaymentID string    `json:"paymentId"`
	RefundID  string    `json:"refundId"`
	Amount    Cents     `json:"amount,omitempty"`
	Currency  string    `json:"currency,omitempty"`
	At        time.Time `json:"at"`
}

// Refunded reports whether payment paymentID of the order has been refunded, in whole or
// in part.
func (o *Order) Refunded(paymentID string) bool {
	return slices.ContainsFunc(o.Refunds, func(r Refund) bool { return r.PaymentID == paymentID })
}

// RefundAdds reports whether a provider's report that total of payment paymentID is
// refunded so far (its running total: Stripe's amount_refunded) adds a refund to those the
// order records. A payment's first refund always does; a later one only when total is more
// than the order records given back of it: a report of a total recorded already is the
// same refund told again, or an older one arriving late (Stripe's events come in any
// order). After a refund whose amount the provider did not say (the payment given back
// whole), and for a report that does not say it, nothing more is added.
func (o *Order) RefundAdds(paymentID string, total Cents) bool {
	given, known := o.RefundedOf(paymentID)
	return known && (given == 0 || total > given)
}

// RefundedPayment is what is given back of one payment of the order so far, all its
// refunds together: what the payment provider shows refunded of it (Stripe's
// amount_refunded), where Refunds lists each part. Amount is 0 when a refund of it did not
// say its amount (the payment given back whole).
type RefundedPayment struct {
	PaymentID string
	Amount    Cents
	Currency  string
}

// RefundedPayments lists each payment of the order given back, in whole or in part, once,
// in the order of its first refund, with what is refunded of it so far.
func (o *Order) RefundedPayments() []RefundedPayment {
	var out []RefundedPayment
	for _, r := range o.Refunds {
		if slices.ContainsFunc(out, func(p RefundedPayment) bool { return p.PaymentID == r.PaymentID }) {
			continue
		}
		p := RefundedPayment{PaymentID: r.PaymentID, Currency: r.Currency}
		if given, known := o.RefundedOf(r.PaymentID); known {
			p.Amount = given
		}
		out = append(out, p)
	}
	return out
}

// RefundedOf is what the order records given back of payment paymentID, and whether every
// refund of it said its amount (one that did not gave the payment back whole, and nothing
// of it is left).
func (o *Order) RefundedOf(paymentID string) (given Cents, known bool) {
	for _, r := range o.Refunds {
		if r.PaymentID == paymentID {
			if r.Amount == 0 {
				return given, false
			}
			given += r.Amount
		}
	}
	return given, true
}
