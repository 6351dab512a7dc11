package order

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/payment"
)

// DefaultCurrency is used when a caller omits the currency, since most traffic is USD.
const DefaultCurrency = "USD"

// PlaceOrder is the input to Place; it mirrors OrderPlaced so validation has one home.
type PlaceOrder struct {
	OrderID         string
	CustomerID      string
	CustomerEmail   string
	NewCustomer     bool
	Items           []Item
	Total           Cents
	Currency        string
	ShippingAddress *Address
	BillingAddress  *Address
	At              time.Time
}

// Place validates a new order and emits OrderPlaced; it reports the first problem only so messages stay precise.
func (o *Order) Place(cmd PlaceOrder) ([]Event, error) {
	if o.Version != 0 {
		return nil, apperr.Errorf(apperr.CodeConflict, "order %q has already been placed", o.ID)
	}
	if err := required("orderId", cmd.OrderID); err != nil {
		return nil, err
	}
	sum, allPriced, err := CheckItems(cmd.Items)
	if err != nil {
		return nil, err
	}
	if err := checkTotal(cmd.Total); err != nil {
		return nil, err
	}
	currency := cmd.Currency
	if currency == "" {
		currency = DefaultCurrency
	}
	if err := checkCurrency(currency); err != nil {
		return nil, err
	}
	if allPriced && cmd.Total != sum {
		return nil, apperr.FieldErrorf("total", "total %s does not match the sum of item prices %s", cmd.Total.UnitsIn(currency), sum.UnitsIn(currency))
	}
	// Partly priced, the total stands for the lines without a price too, so it cannot be
	// less than the priced ones cost: such an order was taken, and its customer charged
	// the total, below the price of what the order said it sold.
	if cmd.Total < sum {
		return nil, apperr.FieldErrorf("total", "total %s is less than the priced items' sum %s", cmd.Total.UnitsIn(currency), sum.UnitsIn(currency))
	}
	if most := MaxTotalIn(currency); cmd.Total > most {
		return nil, apperr.FieldErrorf("total", "total must be at most %s %s, what one payment can take; got %s", most.UnitsIn(currency), currency, cmd.Total.UnitsIn(currency))
	}
	if err := limits.Check(limits.ID("customerId", cmd.CustomerID)); err != nil {
		return nil, err
	}
	if err := limits.EmailAddress("customerEmail", cmd.CustomerEmail); err != nil {
		return nil, err
	}
	if err := cmd.ShippingAddress.check("shippingAddress"); err != nil {
		return nil, err
	}
	if err := cmd.BillingAddress.check("billingAddress"); err != nil {
		return nil, err
	}
	return []Event{OrderPlaced{
		OrderID:         cmd.OrderID,
		CustomerID:      cmd.CustomerID,
		CustomerEmail:   cmd.CustomerEmail,
		NewCustomer:     cmd.NewCustomer,
		Items:           cloneItems(cmd.Items),
		Total:           Money{Amount: cmd.Total, Currency: currency},
		ShippingAddress: cloneAddress(cmd.ShippingAddress),
		BillingAddress:  cloneAddress(cmd.BillingAddress),
		PlacedAt:        cmd.At,
	}}, nil
}

// CheckItems reports the first problem with an order's lines (none, too many, a blank SKU,
// a quantity out of bounds, a negative price, a sum that overflows), and otherwise the sum
// of the priced lines and whether every line is priced.
func CheckItems(items []Item) (sum Cents, allPriced bool, err error) {
	if len(items) == 0 {
		return 0, false, apperr.FieldErrorf("items", "items must contain at least one item")
	}
	if err := limits.Lines("items", len(items)); err != nil {
		return 0, false, err
	}
	allPriced = true
	for i, it := range items {
		if err := limits.Line(fmt.Sprintf("items[%d]", i), it.SKU, it.Quantity); err != nil {
			return 0, false, err
		}
		if it.UnitPrice == nil {
			allPriced = false
			continue
		}
		price := *it.UnitPrice
		if price < 0 {
			f := fmt.Sprintf("items[%d].unitPrice", i)
			return 0, false, apperr.FieldErrorf(f, "%s must not be negative, got %s", f, price.Units())
		}
		added, ok := limits.AddPrice(int64(sum), int64(it.Quantity), int64(price))
		if !ok {
			f := fmt.Sprintf("items[%d].unitPrice", i)
			return 0, false, apperr.FieldErrorf(f, "%s times quantity overflows the order total", f)
		}
		sum = Cents(added)
	}
	return sum, allPriced, nil
}

// MaxTotalIn is the largest order total in currency: what one payment can take
// (payment.MaxAmount: Stripe's eight digits in its unit of the currency, 999,999.99 USD,
// 99,999.99 KWD, 99,999,999 JPY). A larger order would be accepted, perhaps approved, and
// then never get a payment session: its command refused by the provider every time. The
// cap follows the provider's unit, not ISO's decimals: at 99,999,999 hundredths in every
// currency, a 1,050,000 KRW order was refused for a payment Stripe takes (a probe).
func MaxTotalIn(currency string) Cents {
	return Cents(payment.MaxAmount(currency))
}

func checkTotal(total Cents) error {
	if total <= 0 {
		return apperr.FieldErrorf("total", "total must be positive, got %s", total.Units())
	}
	return nil
}

func checkCurrency(c string) error {
	if !validCurrency(c) {
		return apperr.FieldErrorf("currency", "currency must be three uppercase letters, got %q", apperr.Excerpt(c))
	}
	return nil
}

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

// AssessRisk records the risk decision; scores at or above threshold hold the order for a human until approvalDeadline.
func (o *Order) AssessRisk(score int, factors []RiskFactor, threshold int, approvalDeadline, at time.Time) ([]Event, error) {
	if err := o.require(CmdAssessRisk); err != nil {
		return nil, err
	}
	events := []Event{RiskAssessed{
		Score:      score,
		Factors:    append([]RiskFactor(nil), factors...),
		Threshold:  threshold,
		AssessedAt: at,
	}}
	if score >= threshold {
		events = append(events, HeldForApproval{Score: score, Deadline: approvalDeadline, HeldAt: at})
	}
	return events, nil
}

// Approve lets a held order proceed; a named approver is required for the audit trail.
func (o *Order) Approve(by, reason string, at time.Time) ([]Event, error) {
	if err := o.alreadyDecided(); err != nil {
		return nil, err
	}
	if err := o.require(CmdApprove); err != nil {
		return nil, err
	}
	if err := o.decidedInTime(at); err != nil {
		return nil, err
	}
	if err := required("by", strings.TrimSpace(by)); err != nil {
		return nil, err
	}
	return []Event{OrderApproved{By: by, Reason: reason, At: at}}, nil
}

// alreadyDecided refuses a decision on an order a manager has decided, saying who decided
// what, so that a manager retrying a decision that went through can tell it from another's.
func (o *Order) alreadyDecided() error {
	if o.DecidedBy == "" {
		return nil
	}
	what := "approved"
	if o.Rejected() {
		what = "rejected"
	}
	return apperr.Errorf(apperr.CodeConflict, "order %s was already %s by %s", o.ID, what, o.DecidedBy)
}

// Rejected reports whether a manager rejected the order.
func (o *Order) Rejected() bool { return o.DecidedBy != "" && o.CancelReason == ReasonRejected }

// Repeats reports whether a decision (approved or rejected, by manager) is the one already
// taken on the order: a retry of a decision that went through.
func (o *Order) Repeats(approved bool, manager string) bool {
	return o.DecidedBy != "" && o.DecidedBy == manager && o.Rejected() != approved
}

// decidedInTime refuses a manager's decision taken at or after the order's approval
// deadline: the deadline cancels the order as timed out, whether or not the saga has taken
// the deadline yet (it comes a moment late, or later after a restart). Before, a decision
// that came first was recorded, however late.
func (o *Order) decidedInTime(at time.Time) error {
	if !o.ApprovalDeadline.IsZero() && !at.Before(o.ApprovalDeadline) {
		return apperr.Errorf(apperr.CodeConflict, "the approval deadline passed at %s: the order is cancelled as timed out",
			o.ApprovalDeadline.UTC().Format(time.RFC3339))
	}
	return nil
}

// Reject refuses a held order; it also emits OrderCancelled so consumers that only watch cancellations release resources.
func (o *Order) Reject(by, reason string, at time.Time) ([]Event, error) {
	if err := o.alreadyDecided(); err != nil {
		return nil, err
	}
	if err := o.require(CmdReject); err != nil {
		return nil, err
	}
	if err := o.decidedInTime(at); err != nil {
		return nil, err
	}
	if err := required("by", strings.TrimSpace(by)); err != nil {
		return nil, err
	}
	// The reason is the customer's cancellation detail and the audit's record of why: a
	// rejection without one tells neither anything.
	if strings.TrimSpace(reason) == "" {
		return nil, apperr.FieldErrorf("reason", "reason is required to reject an order: it is the customer's cancellation detail and the audit's record of why")
	}
	return []Event{
		OrderRejected{By: by, Reason: reason, At: at},
		OrderCancelled{Reason: ReasonRejected, Detail: reason, At: at},
	}, nil
}

// ReserveInventory records the warehouse hold so the customer can be asked to pay.
func (o *Order) ReserveInventory(reservationID string, at time.Time) ([]Event, error) {
	if err := o.require(CmdReserveInventory); err != nil {
		return nil, err
	}
	if err := required("reservationId", reservationID); err != nil {
		return nil, err
	}
	return []Event{InventoryReserved{ReservationID: reservationID, At: at}}, nil
}

// FailReservation cancels the order because nothing can be sold without stock; sku is the
// line the warehouse could not hold, or "" when it named none. The order is out of stock
// only when sku is one of its lines: the warehouse names the first short one. Without one
// its items were not held for another cause (ReasonStockNotHeld): a reservation by hand
// of other units, one released already, a command the warehouse refused by its contract.
// Until 2026-12-07 every failure was out_of_stock, and the customer read that an item was
// out of stock while the items were on the shelf.
func (o *Order) FailReservation(reason, sku string, at time.Time) ([]Event, error) {
	if err := o.require(CmdFailReservation); err != nil {
		return nil, err
	}
	cancel := ReasonStockNotHeld
	if sku != "" && slices.ContainsFunc(o.Items, func(it Item) bool { return it.SKU == sku }) {
		cancel = ReasonOutOfStock
	}
	return []Event{
		ReservationFailed{Reason: reason, SKU: sku, At: at},
		OrderCancelled{Reason: cancel, Detail: reason, At: at},
	}, nil
}

// PaymentSession is a checkout session the payment service opened for an order.
type PaymentSession struct {
	ID       string
	URL      string
	Amount   Cents
	Currency string
	Deadline time.Time
}

// Charge is what a payment provider reports it settled: through which session, for how
// much, in which currency.
type Charge struct {
	SessionID string
	Amount    Cents
	Currency  string
}

// RecordPaymentSession stores the checkout session; only one is allowed so the customer
// cannot pay twice, and only one for the order's own total and currency, so what the
// customer is asked to pay is what the order costs.
func (o *Order) RecordPaymentSession(s PaymentSession, at time.Time) ([]Event, error) {
	if err := o.require(CmdRecordPaymentSession); err != nil {
		return nil, err
	}
	if o.PaymentSessionID != "" {
		return nil, apperr.Errorf(apperr.CodeConflict, "order already has payment session %q", o.PaymentSessionID)
	}
	if err := required("sessionId", s.ID); err != nil {
		return nil, err
	}
	if why := o.SessionMismatch(s); why != "" {
		return nil, apperr.Errorf(apperr.CodeConflict, "payment session %s cannot be the order's: %s", s.ID, why)
	}
	return []Event{PaymentSessionCreated{SessionID: s.ID, URL: s.URL, Amount: s.Amount, Currency: s.Currency, Deadline: s.Deadline, At: at}}, nil
}

// SessionMismatch says why s cannot be the order's payment session, or "" when it can: it
// must ask for the order's total in the order's currency.
func (o *Order) SessionMismatch(s PaymentSession) string {
	if s.Amount != o.Total || s.Currency != o.Currency {
		return fmt.Sprintf("the session is for %s, the order totals %s", s.Amount.Text(apperr.Excerpt(s.Currency)), o.Total.Text(o.Currency))
	}
	return ""
}

// ChargeMismatch says why c cannot pay for the order, or "" when it can: it must come
// through the order's recorded session, for the order's total, in the order's currency.
func (o *Order) ChargeMismatch(c Charge) string {
	switch {
	case o.PaymentSessionID == "":
		return "the order has no payment session yet"
	case c.SessionID != o.PaymentSessionID:
		return fmt.Sprintf("the payment names session %q, the order's session is %s", apperr.Excerpt(c.SessionID), o.PaymentSessionID)
	case c.Amount == 0:
		// A provider's amount of no whole hundredths (15.259 KWD at Stripe) comes as none.
		return fmt.Sprintf("the payment names no amount Ordermill counts (none, or a fraction of a hundredth), the order totals %s", o.Total.Text(o.Currency))
	case c.Amount != o.Total || c.Currency != o.Currency:
		return fmt.Sprintf("the payment is for %s, the order totals %s", c.Amount.Text(apperr.Excerpt(c.Currency)), o.Total.Text(o.Currency))
	}
	return ""
}

// CompletePayment records that money was taken, moving the order on to shipping; only a
// charge matching the order's session, total and currency pays for it.
func (o *Order) CompletePayment(paymentID string, c Charge, at time.Time) ([]Event, error) {
	if err := o.require(CmdCompletePayment); err != nil {
		return nil, err
	}
	if err := required("paymentId", paymentID); err != nil {
		return nil, err
	}
	if why := o.ChargeMismatch(c); why != "" {
		return nil, apperr.Errorf(apperr.CodeConflict, "payment %s does not pay for order %s: %s", paymentID, o.ID, why)
	}
	// A refund may be reported before its payment; money given back pays for nothing. Only
	// the saga refused it, so another caller could ship an order on a refunded payment (a
	// review).
	if o.Refunded(paymentID) {
		return nil, apperr.Errorf(apperr.CodeConflict, "payment %s does not pay for order %s: it was refunded", paymentID, o.ID)
	}
	return []Event{PaymentCompleted{PaymentID: paymentID, At: at}}, nil
}

// FailPayment cancels the order so its reservation is released; paymentID may be empty when no attempt was made.
func (o *Order) FailPayment(paymentID, reason string, at time.Time) ([]Event, error) {
	if err := o.require(CmdFailPayment); err != nil {
		return nil, err
	}
	return []Event{
		PaymentFailed{PaymentID: paymentID, Reason: reason, At: at},
		OrderCancelled{Reason: ReasonPaymentFailed, Detail: reason, At: at},
	}, nil
}

// CreateShipment records the carrier hand-over so delivery can be tracked.
func (o *Order) CreateShipment(shipmentID, carrier, tracking string, at time.Time) ([]Event, error) {
	if err := o.require(CmdCreateShipment); err != nil {
		return nil, err
	}
	if err := required("shipmentId", shipmentID); err != nil {
		return nil, err
	}
	return []Event{ShipmentCreated{ShipmentID: shipmentID, Carrier: carrier, TrackingNumber: tracking, At: at}}, nil
}

// Courier statuses that end delivery; every other status is informational.
const (
	// DeliveryStatusDelivered is the courier status that marks the order delivered.
	DeliveryStatusDelivered = "delivered"
	// DeliveryStatusFailed is the courier status that marks delivery as failed.
	DeliveryStatusFailed = "failed"
)

// UpdateDelivery records a courier update; only "delivered" and "failed" change the order's status.
func (o *Order) UpdateDelivery(status, reason string, at time.Time) ([]Event, error) {
	if err := o.require(CmdUpdateDelivery); err != nil {
		return nil, err
	}
	if err := required("status", status); err != nil {
		return nil, err
	}
	events := []Event{DeliveryStatusUpdated{Status: status, At: at}}
	switch status {
	case DeliveryStatusDelivered:
		events = append(events, OrderDelivered{At: at})
	case DeliveryStatusFailed:
		events = append(events, DeliveryFailed{Reason: reason, At: at})
	}
	return events, nil
}

// Complete closes a delivered order.
func (o *Order) Complete(at time.Time) ([]Event, error) {
	if err := o.require(CmdComplete); err != nil {
		return nil, err
	}
	return []Event{OrderCompleted{At: at}}, nil
}

// Cancel stops an order before payment; afterwards money has moved and the order must run its course.
func (o *Order) Cancel(reason CancelReason, detail string, at time.Time) ([]Event, error) {
	if err := o.require(CmdCancel); err != nil {
		return nil, err
	}
	if err := required("reason", string(reason)); err != nil {
		return nil, err
	}
	// A reason reports can tell apart; a rejection is a manager's, and only Reject records
	// it, with its decider (a cancellation "rejected" made an approved order read as
	// rejected by its approver: a review).
	switch reason {
	case ReasonOutOfStock, ReasonStockNotHeld, ReasonPaymentFailed, ReasonTimedOut:
	default:
		return nil, apperr.FieldErrorf("reason", "reason must be %s, %s, %s or %s, got %q",
			ReasonOutOfStock, ReasonStockNotHeld, ReasonPaymentFailed, ReasonTimedOut, apperr.Excerpt(string(reason)))
	}
	return []Event{OrderCancelled{Reason: reason, Detail: detail, At: at}}, nil
}

// OpenSupportTicket opens a ticket of kind for a person to look at; it is allowed in any
// status of a placed order, and a second ticket of the same kind is not opened (no events).
func (o *Order) OpenSupportTicket(kind, reason string, at time.Time) ([]Event, error) {
	if o.Version == 0 {
		return nil, apperr.Errorf(apperr.CodeConflict, "cannot open a support ticket for an order that has not been placed")
	}
	if err := required("kind", kind); err != nil {
		return nil, err
	}
	for _, k := range o.SupportTickets {
		if k == kind {
			return nil, nil
		}
	}
	return []Event{SupportTicketOpened{Kind: kind, Reason: reason, At: at}}, nil
}

// RecordRefund records that the provider refunded paymentID as refundID, total of it
// refunded so far (the provider's running total; 0 when it did not say: the payment given
// back whole). Each refund is recorded once, as the part it gave back: a payment refunded
// in parts at Stripe (in its dashboard, a part now and the rest later) has each part on
// the order, so the order's refunds add up to what Stripe refunded. A report that adds
// nothing (RefundAdds: the same refund reported again, an older one late) records nothing.
// Until 2026-12-07 only a payment's first refund was recorded, and the rest of it was in
// Stripe only: the books disagreed with it.
func (o *Order) RecordRefund(paymentID, refundID string, total Cents, currency string, at time.Time) ([]Event, error) {
	if o.Version == 0 {
		return nil, apperr.Errorf(apperr.CodeConflict, "cannot record a refund for an order that has not been placed")
	}
	if err := required("paymentId", paymentID); err != nil {
		return nil, err
	}
	if err := required("refundId", refundID); err != nil {
		return nil, err
	}
	// What is given back is counted from it: a negative total would make the next report
	// seem to give back more than it did.
	if total < 0 {
		return nil, apperr.FieldErrorf("amount", "amount must not be negative, got %s", total.Units())
	}
	if !o.RefundAdds(paymentID, total) {
		return nil, nil
	}
	ev := PaymentRefunded{PaymentID: paymentID, RefundID: refundID, Amount: total, Currency: currency, At: at}
	if given, _ := o.RefundedOf(paymentID); given > 0 {
		ev.Amount, ev.Total = total-given, total
	}
	return []Event{ev}, nil
}

// AddNote records a manager's note; it is allowed in any status of a placed order, and
// its text is required and bounded like a decision's reason.
func (o *Order) AddNote(by, text string, at time.Time) ([]Event, error) {
	if o.Version == 0 {
		return nil, apperr.Errorf(apperr.CodeConflict, "cannot add a note to an order that has not been placed")
	}
	text = strings.TrimSpace(text)
	if err := required("by", by); err != nil {
		return nil, err
	}
	if err := required("text", text); err != nil {
		return nil, err
	}
	if err := limits.Check(limits.Text("text", text)); err != nil {
		return nil, err
	}
	return []Event{NoteAdded{By: by, Text: text, At: at}}, nil
}

// Claim records that by is reviewing the held order from at until until, so other
// managers know. over is the claim by means to take over, as by saw the order ("" for
// none): a claim held by anyone else refuses it, so of two managers claiming a free order
// at once the first has it and the second is told whose it is (both were told it was
// theirs, and the later took it silently: a probe). By's own claim is renewed.
func (o *Order) Claim(by, over string, at, until time.Time) ([]Event, error) {
	if err := o.require(CmdClaim); err != nil {
		return nil, err
	}
	if err := required("by", by); err != nil {
		return nil, err
	}
	if !until.After(at) {
		return nil, apperr.FieldErrorf("until", "a claim must end after it starts")
	}
	if holder, since, _ := o.Claimant(at); holder != "" && holder != by && holder != over {
		return nil, apperr.Errorf(apperr.CodeConflict, "%s claimed this order first, at %s: it is theirs to review unless you claim it instead",
			holder, since.UTC().Format("15:04 MST"))
	}
	return []Event{OrderClaimed{By: by, At: at, Until: until}}, nil
}

// ReleaseClaim gives up by's claim on the order before it lapses; releasing a claim one
// does not hold (someone else's, a lapsed one, none) is a conflict.
func (o *Order) ReleaseClaim(by string, at time.Time) ([]Event, error) {
	if holder, _, _ := o.Claimant(at); holder == "" || holder != by {
		return nil, apperr.Errorf(apperr.CodeConflict, "the order is not claimed by %s", by)
	}
	return []Event{ClaimReleased{By: by, At: at}}, nil
}

// Claimant is who holds a claim on the order at now, since when and until when: empty
// when nobody does (never claimed, released, lapsed, or no longer waiting for a decision).
func (o *Order) Claimant(now time.Time) (by string, since, until time.Time) {
	if !o.Status.Accepts(CmdClaim) || o.ClaimedBy == "" || !now.Before(o.ClaimedUntil) {
		return "", time.Time{}, time.Time{}
	}
	return o.ClaimedBy, o.ClaimedAt, o.ClaimedUntil
}

// ClaimedError refuses a manager's decision on an order another manager has claimed, while
// the claim lasts (ClaimedByOther).
type ClaimedError struct {
	By    string
	Since time.Time
}

func (e *ClaimedError) Error() string {
	return fmt.Sprintf("%s is reviewing this order (since %s)", e.By, e.Since.UTC().Format("15:04 MST"))
}

// ClaimedByOther returns a *ClaimedError when someone other than manager holds a claim on
// the order at now, and nil otherwise. Checked on the order as it stands when the decision
// is written, a claim that came first is never missed.
func (o *Order) ClaimedByOther(manager string, now time.Time) error {
	by, since, _ := o.Claimant(now)
	if by == "" || by == manager {
		return nil
	}
	return &ClaimedError{By: by, Since: since}
}

// TicketOpen reports whether the order has a support ticket of kind that is not closed.
func (o *Order) TicketOpen(kind string) bool { return o.ticket(kind, true) == nil }

// ticket checks that the order has a support ticket of kind, open when open is asked.
func (o *Order) ticket(kind string, open bool) error {
	if !slices.Contains(o.SupportTickets, kind) {
		return apperr.Errorf(apperr.CodeNotFound, "the order has no %s ticket", kind)
	}
	if open && slices.Contains(o.ClosedTickets, kind) {
		return apperr.Errorf(apperr.CodeConflict, "the %s ticket is closed", kind)
	}
	return nil
}

// AssignTicket gives the open support ticket of kind to someone to handle.
func (o *Order) AssignTicket(kind, to, by string, at time.Time) ([]Event, error) {
	to = strings.TrimSpace(to)
	if err := o.ticketWork(kind, true, by, "to", to); err != nil {
		return nil, err
	}
	return []Event{TicketAssigned{Kind: kind, To: to, By: by, At: at}}, nil
}

// TicketSays reports whether the order's ticket of kind says text already, as the reason
// it was opened with or as a comment.
func (o *Order) TicketSays(kind, text string) bool {
	return slices.Contains(o.TicketDigests, ticketDigest(kind, strings.TrimSpace(text)))
}

// CommentTicket adds a comment to the support ticket of kind, open or closed.
func (o *Order) CommentTicket(kind, by, text string, at time.Time) ([]Event, error) {
	text = strings.TrimSpace(text)
	if err := o.ticketWork(kind, false, by, "text", text); err != nil {
		return nil, err
	}
	return []Event{TicketCommented{Kind: kind, By: by, Text: text, At: at}}, nil
}

// CloseTicket closes the open support ticket of kind, saying how it was dealt with.
func (o *Order) CloseTicket(kind, by, resolution string, at time.Time) ([]Event, error) {
	resolution = strings.TrimSpace(resolution)
	if err := o.ticketWork(kind, true, by, "resolution", resolution); err != nil {
		return nil, err
	}
	return []Event{TicketClosed{Kind: kind, By: by, Resolution: resolution, At: at}}, nil
}

// ticketWork checks a piece of work on the ticket of kind (open, when open is asked): who
// does it, and its one text field, required and bounded.
func (o *Order) ticketWork(kind string, open bool, by, field, value string) error {
	if err := o.ticket(kind, open); err != nil {
		return err
	}
	if err := required("by", by); err != nil {
		return err
	}
	if err := required(field, value); err != nil {
		return err
	}
	return limits.Check(limits.Text(field, value))
}
