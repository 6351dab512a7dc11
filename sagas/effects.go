package sagas

import (
	"time"

	"github.com/ordermill/ordermill/domain/order"
)

// Effect is one thing a step decides should happen; the runner carries effects out in the
// same transaction as the message that caused them. Effects are plain values so steps can
// be tested as tables without a database.
type Effect interface{ isEffect() }

// OrderCommand changes the order aggregate. Run decides on the order's latest state.
type OrderCommand struct {
	Name string
	Run  func(o *order.Order, at time.Time) ([]order.Event, error)
}

// SendCommand sends a command to another service over the log.
type SendCommand struct {
	Topic string
	Name  string
	Data  any
}

// ScheduleDeadline arms a durable timer for one of the workflow's waits.
type ScheduleDeadline struct {
	Wait Wait
	At   time.Time
}

// Notify records an email to the customer; the sender delivers it at most once.
type Notify struct {
	Kind      string
	Recipient string
	Subject   string
	Body      string
}

// OpenTicket opens a support ticket for a person to look at.
type OpenTicket struct {
	Kind   string
	Reason string
}

func (OrderCommand) isEffect()     {}
func (SendCommand) isEffect()      {}
func (ScheduleDeadline) isEffect() {}
func (Notify) isEffect()           {}
func (OpenTicket) isEffect()       {}

// Wait names a pause of the workflow that has a deadline.
type Wait string

// The workflow's waits.
const (
	WaitApproval Wait = "approval"
	WaitPayment  Wait = "payment"
	WaitDelivery Wait = "delivery"
)

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
	// TicketPaymentMismatch: a provider reported a session or payment that is not for the
	// order's own session, total and currency; the order keeps waiting for a right one.
	TicketPaymentMismatch = "payment_mismatch"
)
