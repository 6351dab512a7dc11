package sagas

import (
	"fmt"
	"slices"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
)

// Effect is one thing a step decides should happen; the runner carries effects out in the
// same transaction as the message that caused them. Effects are plain values so steps can
// be tested as tables without a database, comparing what they return with assert.Equal.
type Effect interface{ isEffect() }

// OrderCommand is an effect that changes the order aggregate: plain data naming the
// command and its arguments, which the runner runs on the order's latest state (an earlier
// effect of the same batch may have moved it on).
type OrderCommand interface {
	Effect
	// Name names the command in logs and the replay tool.
	Name() string
	// Run decides the command's events on o at time at.
	Run(o *order.Order, at time.Time) ([]order.Event, error)
}

// AssessRisk records the risk assessment, holding the order until Deadline at or above
// Threshold.
type AssessRisk struct {
	Score     int
	Factors   []order.RiskFactor
	Threshold int
	Deadline  time.Time
}

// RecordReservation books the warehouse's reservation on the order.
type RecordReservation struct{ ID string }

// FailReservation cancels the order the warehouse could not serve; SKU is the line it could
// not hold, when it named one.
type FailReservation struct{ Reason, SKU string }

// RecordPaymentSession books the payment service's checkout session on the order.
type RecordPaymentSession struct{ Session order.PaymentSession }

// CompletePayment pays the order with a provider's completed payment, if it is for the
// order's session, total and currency; otherwise a payment_mismatch ticket says why.
type CompletePayment struct{ Webhook PaymentWebhook }

// FailPayment cancels the order whose payment failed, if the failure is about the order's
// session; otherwise a payment_mismatch ticket says why.
type FailPayment struct{ Webhook PaymentWebhook }

// RecordShipment books the courier's shipment on the order.
type RecordShipment struct{ ShipmentID, Carrier, TrackingNumber string }

// UpdateDelivery records a courier's status update.
type UpdateDelivery struct{ Status, Reason string }

// Complete closes the delivered order.
type Complete struct{}

// Cancel cancels the order.
type Cancel struct {
	Reason order.CancelReason
	Detail string
}

// CloseTicket closes the order's open support ticket of Kind, which events made moot.
type CloseTicket struct{ Kind, Resolution string }

// RecordRefund records the provider's refund of a payment on the order.
type RecordRefund struct {
	PaymentID, RefundID string
	Amount              order.Cents
	Currency            string
}

// Name implements OrderCommand; the names are the ones logs and the replay tool showed
// before commands were values.
func (AssessRisk) Name() string           { return "assess-risk" }
func (RecordReservation) Name() string    { return "record-reservation" }
func (FailReservation) Name() string      { return "fail-reservation" }
func (RecordPaymentSession) Name() string { return "record-payment-session" }
func (CompletePayment) Name() string      { return "complete-payment" }
func (FailPayment) Name() string          { return "fail-payment" }
func (RecordShipment) Name() string       { return "record-shipment" }
func (UpdateDelivery) Name() string       { return "update-delivery" }
func (Complete) Name() string             { return "complete" }
func (c Cancel) Name() string             { return "cancel-" + string(c.Reason) }
func (RecordRefund) Name() string         { return "record-refund" }
func (c CloseTicket) Name() string        { return "close-ticket-" + c.Kind }

// Run implements OrderCommand.
func (c AssessRisk) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	return o.AssessRisk(c.Score, c.Factors, c.Threshold, c.Deadline, at)
}

// Run implements OrderCommand.
func (c RecordReservation) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	return o.ReserveInventory(c.ID, at)
}

// Run implements OrderCommand.
func (c FailReservation) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	return o.FailReservation(c.Reason, c.SKU, at)
}

// Run implements OrderCommand.
func (c RecordPaymentSession) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	return o.RecordPaymentSession(c.Session, at)
}

// Run implements OrderCommand. It re-checks the wait: another webhook may have ended it
// earlier in this batch.
func (c CompletePayment) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	if !o.Status.Accepts(order.CmdCompletePayment) {
		return nil, nil
	}
	if why := c.Webhook.refusal(o); why != "" {
		return c.Webhook.mismatch(o, at, why)
	}
	return o.CompletePayment(c.Webhook.paymentID(), c.Webhook.charge(o), at)
}

// Run implements OrderCommand, re-checking the wait as CompletePayment does.
func (c FailPayment) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	wh := c.Webhook
	if !o.Status.Accepts(order.CmdFailPayment) {
		return nil, nil
	}
	if why := wh.refusal(o); why != "" {
		return wh.mismatch(o, at, why)
	}
	reason := wh.Reason
	if reason == "" {
		reason = "the payment provider reported a failure"
	}
	return o.FailPayment(wh.PaymentID, reason, at)
}

// refusal says why o, waiting for its payment, refuses wh as its outcome: a completed
// payment must be for the order's session, total and currency, and not refunded, a
// failure about its session. "" means wh ends the wait. The charge is checked before the
// refund: a payment refused for its charge, and refunded for that, is refused for its
// charge again when it is reported again, as its ticket says already.
func (wh PaymentWebhook) refusal(o *order.Order) string {
	if wh.Status == payment.StatusCompleted {
		if why := o.ChargeMismatch(wh.charge(o)); why != "" {
			return why
		}
		if id := wh.paymentID(); o.Refunded(id) {
			return fmt.Sprintf("payment %s was refunded", apperr.Excerpt(id))
		}
		return ""
	}
	if s := wh.charge(o).SessionID; s != o.PaymentSessionID {
		return fmt.Sprintf("it names session %q, the order's session is %s", apperr.Excerpt(s), o.PaymentSessionID)
	}
	return ""
}

// paymentID is the payment a completed webhook is recorded against. The business case's
// bare webhook names no payment; a completed payment must be recorded against something,
// so it falls back to the session, then to a marker.
func (wh PaymentWebhook) paymentID() string {
	switch {
	case wh.PaymentID != "":
		return wh.PaymentID
	case wh.SessionID != "":
		return wh.SessionID
	}
	return unreported
}

// unreported is the payment a completed webhook naming neither payment nor session is
// recorded against.
const unreported = "unreported"

// mismatch opens the payment_mismatch ticket for a webhook the order refuses, or comments
// on it: no refused payment goes unseen.
func (wh PaymentWebhook) mismatch(o *order.Order, at time.Time, why string) ([]order.Event, error) {
	return wh.refused(why).events(o, at)
}

// refused is the payment_mismatch ticket's report that the order refused wh, and why.
func (wh PaymentWebhook) refused(why string) OpenTicket {
	return OpenTicket{Kind: TicketPaymentMismatch, Reason: fmt.Sprintf("%s payment %s refused: %s", wh.Status, wh.paymentID(), why)}
}

// Run implements OrderCommand.
func (c RecordShipment) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	return o.CreateShipment(c.ShipmentID, c.Carrier, c.TrackingNumber, at)
}

// Run implements OrderCommand. An earlier update in this batch may already have ended
// the wait, or recorded the same status.
func (c UpdateDelivery) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	if !o.Status.Accepts(order.CmdUpdateDelivery) || o.DeliveryStatus == c.Status {
		return nil, nil
	}
	return o.UpdateDelivery(c.Status, c.Reason, at)
}

// Run implements OrderCommand.
func (Complete) Run(o *order.Order, at time.Time) ([]order.Event, error) { return o.Complete(at) }

// Run implements OrderCommand.
func (c Cancel) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	return o.Cancel(c.Reason, c.Detail, at)
}

// Run implements OrderCommand; a person may have closed the ticket meanwhile.
func (c CloseTicket) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	if !o.TicketOpen(c.Kind) {
		return nil, nil
	}
	return o.CloseTicket(c.Kind, Actor, c.Resolution, at)
}

// Run implements OrderCommand.
func (c RecordRefund) Run(o *order.Order, at time.Time) ([]order.Event, error) {
	return o.RecordRefund(c.PaymentID, c.RefundID, c.Amount, c.Currency, at)
}

// SendCommand sends a command to another service over the log.
type SendCommand struct {
	Topic string
	Name  string
	Data  any
}

// ScheduleDeadline arms a durable timer for one of the workflow's waits.
type ScheduleDeadline struct {
	Wait order.Wait
	At   time.Time
	// Asking, for the payment deadline asked again (closePaymentWait), is when the wait's
	// close was first asked for.
	Asking time.Time
}

// Notify records an email to the customer; the sender delivers it at most once.
type Notify struct {
	Kind      string
	Recipient string
	Subject   string
	Body      string
}

// OpenTicket opens a support ticket for a person to look at. An order has one ticket of a
// kind, so when it has one of Kind already, open or closed, the reason is a comment on it
// by the saga instead: nothing a ticket reports goes unseen. A reason the ticket says
// already (order.TicketSays) is not said again: a webhook sent again once its inbox row
// was swept meets the order as it did the first time, and commented on its ticket once
// more each time (until 2026-12-07).
type OpenTicket struct {
	Kind   string
	Reason string
}

// events are the order events that open the ticket on o, or comment on it.
func (t OpenTicket) events(o *order.Order, at time.Time) ([]order.Event, error) {
	switch {
	case !slices.Contains(o.SupportTickets, t.Kind):
		return o.OpenSupportTicket(t.Kind, t.Reason, at)
	case o.TicketSays(t.Kind, t.Reason):
		return nil, nil
	}
	return o.CommentTicket(t.Kind, Actor, t.Reason, at)
}

// StateChange is an effect on the saga's own memory of the order, which the runner
// applies before the next message and saves with the batch.
type StateChange interface {
	Effect
	applyTo(s *State)
}

// KeepPendingPayment remembers a payment webhook that came before the order could take it,
// after those already remembered.
type KeepPendingPayment struct{ Webhook PaymentWebhook }

// ClearPendingPayments forgets the remembered payment webhooks, once they have been dealt
// with.
type ClearPendingPayments struct{}

// KeepPendingDelivery remembers a courier update that came before the shipment was recorded.
type KeepPendingDelivery struct{ Webhook shipping.Webhook }

// ClearPendingDelivery forgets the remembered courier updates, once they have been applied.
type ClearPendingDelivery struct{}

// RememberRefund remembers that a refund of the payment was asked for (State.Refunding).
type RememberRefund struct{ PaymentID string }

func (c KeepPendingPayment) applyTo(s *State) {
	s.PendingPayments = append(s.PendingPayments, c.Webhook)
}
func (ClearPendingPayments) applyTo(s *State) { s.PendingPayments = nil }
func (c KeepPendingDelivery) applyTo(s *State) {
	s.PendingDelivery = append(s.PendingDelivery, c.Webhook)
}
func (ClearPendingDelivery) applyTo(s *State) { s.PendingDelivery = nil }
func (r RememberRefund) applyTo(s *State) {
	if !slices.Contains(s.Refunding, r.PaymentID) {
		s.Refunding = append(s.Refunding, r.PaymentID)
	}
}

func (AssessRisk) isEffect()           {}
func (RecordReservation) isEffect()    {}
func (FailReservation) isEffect()      {}
func (RecordPaymentSession) isEffect() {}
func (CompletePayment) isEffect()      {}
func (FailPayment) isEffect()          {}
func (RecordShipment) isEffect()       {}
func (UpdateDelivery) isEffect()       {}
func (Complete) isEffect()             {}
func (Cancel) isEffect()               {}
func (RecordRefund) isEffect()         {}
func (CloseTicket) isEffect()          {}
func (SendCommand) isEffect()          {}
func (ScheduleDeadline) isEffect()     {}
func (Notify) isEffect()               {}
func (OpenTicket) isEffect()           {}
func (KeepPendingPayment) isEffect()   {}
func (ClearPendingPayments) isEffect() {}
func (KeepPendingDelivery) isEffect()  {}
func (ClearPendingDelivery) isEffect() {}
func (RememberRefund) isEffect()       {}

// Notification kinds, one email of each kind per order at most.
const (
	KindOrderConfirmed = "order_confirmed"
	KindOrderCompleted = "order_completed"
	KindOrderCancelled = "order_cancelled"
	KindOrderRejected  = "order_rejected"
)

// Ticket kinds.
const (
	TicketDeliveryFailed  = "delivery_failed"
	TicketDeliveryOverdue = "delivery_overdue"
	TicketLatePayment     = "payment_after_cancel"
	// TicketSecondPayment: a provider reported a completed payment other than the one that
	// paid the order; it is refunded, or left to a person when it cannot be told apart
	// from the order's own.
	TicketSecondPayment = "second_payment"
	// TicketPaymentMismatch: a provider reported a session or payment that is not for the
	// order's own session, total and currency; the order keeps waiting for a right one.
	TicketPaymentMismatch = "payment_mismatch"
	// TicketRefundedOutside: the provider gave back the order's payment without Ordermill
	// asking (a refund made in Stripe's dashboard); a person decides whether the order
	// goes on.
	TicketRefundedOutside = "refunded_outside"
	// TicketStockReleased: a paid order's reservation was released outside its workflow
	// (an operator's inventory.release); its goods may be sold twice.
	TicketStockReleased = "stock_released"
	// TicketDeliveryMismatch: the courier reported on a shipment that is not the order's,
	// or before the order was paid; the order keeps waiting for its own parcel's news.
	TicketDeliveryMismatch = "delivery_mismatch"
	// TicketShipmentRefused: the delivery service refused a paid order's shipment by its
	// contract (data an earlier release accepted); nothing will ship it.
	TicketShipmentRefused = "shipment_refused"
	// TicketRefundRefused: the payment service refused for good to refund a payment the
	// order gives back (a payment of another order, a command its contract refuses, a
	// refusal of the provider's: a disputed charge's is to be answered as a dispute);
	// nothing was given back.
	TicketRefundRefused = "refund_refused"
)
