package order

import (
	"fmt"
	"slices"
)

// CheckHistory folds a stored stream through Apply and reports the first event the order,
// in the state the events before it left, could not have recorded: an event its command
// refuses in that status, a second placement, a second payment session, a ticket kind or a
// refund recorded twice (a further refund of a payment must give back a part more). Apply
// never fails (any stored history must replay), so this is the check that a history is a
// legal path through the lifecycle, for crash tests and audits.
// Events a command records together (a rejection and its cancellation, a failed payment
// and its cancellation) are checked as one step: the second against the state the first left.
func CheckHistory(events []Event) error {
	o := &Order{}
	var prev Event
	for i, e := range events {
		e, ok := normalize(e)
		if !ok {
			return fmt.Errorf("event %d is nil", i+1)
		}
		if err := o.accepts(e, prev); err != nil {
			return fmt.Errorf("event %d (%s) in status %q: %w", i+1, e.EventName(), o.Status, err)
		}
		o.Apply(e)
		prev = e
	}
	return nil
}

// accepts reports why the order could not record e after prev, or nil when it could: the
// same status rules as the command that records e.
func (o *Order) accepts(e, prev Event) error {
	if _, placed := e.(OrderPlaced); placed != (o.Version == 0) {
		return fmt.Errorf("an order is placed exactly once, as its first event")
	}
	// in checks the status against the lifecycle table: one of the commands that record e
	// (or cmd, when given) must be accepted.
	in := func(cmd ...Command) error {
		if cmd == nil {
			cmd = recordedBy(e.EventName())
		}
		for _, c := range cmd {
			if o.Status.Accepts(c) {
				return nil
			}
		}
		return fmt.Errorf("recorded only by %v, which the status does not accept", cmd)
	}
	switch ev := e.(type) {
	case OrderPlaced:
		return nil
	case RiskAssessed:
		if o.RiskScore != nil {
			return fmt.Errorf("risk is assessed once")
		}
		return in()
	case HeldForApproval:
		if ra, ok := prev.(RiskAssessed); !ok || ra.Score < ra.Threshold {
			return fmt.Errorf("only a risk assessment at or above the threshold holds an order")
		}
		return in()
	case OrderApproved, OrderRejected:
		return in()
	case InventoryReserved, ReservationFailed:
		return in()
	case PaymentSessionCreated:
		if o.PaymentSessionID != "" {
			return fmt.Errorf("the order already has payment session %s", o.PaymentSessionID)
		}
		return in()
	case PaymentCompleted, PaymentFailed:
		return in()
	case ShipmentCreated:
		return in()
	case DeliveryStatusUpdated:
		return in()
	case OrderDelivered:
		if d, ok := prev.(DeliveryStatusUpdated); !ok || d.Status != DeliveryStatusDelivered {
			return fmt.Errorf("only a courier's %q update delivers an order", DeliveryStatusDelivered)
		}
		return in()
	case DeliveryFailed:
		if d, ok := prev.(DeliveryStatusUpdated); !ok || d.Status != DeliveryStatusFailed {
			return fmt.Errorf("only a courier's %q update fails a delivery", DeliveryStatusFailed)
		}
		return in()
	case OrderCompleted:
		return in()
	case OrderCancelled:
		switch prev.(type) {
		case OrderRejected, ReservationFailed, PaymentFailed:
			return nil // the second event of Reject, FailReservation or FailPayment
		}
		return in(CmdCancel)
	case SupportTicketOpened:
		if slices.Contains(o.SupportTickets, ev.Kind) {
			return fmt.Errorf("a %s ticket is already open", ev.Kind)
		}
		return nil
	case PaymentRefunded:
		// A further refund of a payment gives back a part more, as RecordRefund records it.
		if _, known := o.RefundedOf(ev.PaymentID); o.Refunded(ev.PaymentID) && (ev.Amount <= 0 || !known) {
			return fmt.Errorf("payment %s is already refunded", ev.PaymentID)
		}
		return nil
	case NoteAdded:
		return nil
	case OrderClaimed:
		return in()
	case ClaimReleased:
		if holder, _, _ := o.Claimant(ev.At); holder != ev.By {
			return fmt.Errorf("%s holds no claim to release", ev.By)
		}
		return nil
	case TicketAssigned:
		return o.ticket(ev.Kind, true)
	case TicketCommented:
		return o.ticket(ev.Kind, false)
	case TicketClosed:
		return o.ticket(ev.Kind, true)
	}
	return fmt.Errorf("unknown event")
}
