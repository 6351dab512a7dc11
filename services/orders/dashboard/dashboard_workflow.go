package dashboard

import (
	"fmt"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/ui"
)

// The workflow diagram's steps, in the business case's order.
const (
	stepRisk        = "risk"
	stepApproval    = "approval"
	stepReservation = "reservation"
	stepPayment     = "payment"
	stepShipment    = "shipment"
	stepDelivery    = "delivery"
	stepCompletion  = "completion"
)

var workflowOrder = []struct{ key, label string }{
	{stepRisk, "Risk check"}, {stepApproval, "Approval"}, {stepReservation, "Reservation"},
	{stepPayment, "Payment"}, {stepShipment, "Shipment"}, {stepDelivery, "Delivery"}, {stepCompletion, "Completion"},
}

// workflowSteps draws where an order stands: steps before its position are done (the
// approval skipped when the score was below the threshold), its position is current (or
// failed, when the order ended there: rejected, when a manager ended it), and the rest
// wait, or, once the order has ended, were never reached.
func workflowSteps(o *order.Order) []ui.Step {
	at, failed := workflowPosition(o)
	steps := make([]ui.Step, len(workflowOrder))
	for i, w := range workflowOrder {
		st := ui.Step{Key: w.key, Label: w.label}
		switch {
		case i < at:
			st.State = ui.StepDone
		case i == at && failed && o.Status == order.StatusRejected:
			st.State = ui.StepRejected
		case i == at && failed:
			st.State = ui.StepFailed
		case i == at:
			st.State = ui.StepCurrent
		case failed:
			st.State = ui.StepNotReached
		default:
			st.State = ui.StepWaiting
		}
		st.Note = stepNote(o, w.key, st.State)
		if w.key == stepApproval && st.State == ui.StepDone && o.DecidedBy == "" {
			st.State = ui.StepSkipped
		}
		steps[i] = st
	}
	return steps
}

// workflowPosition is the index of the step the order is at (len for completed) and
// whether the order ended there unsuccessfully.
func workflowPosition(o *order.Order) (int, bool) {
	switch o.Status {
	case order.StatusPlaced:
		return 0, false
	case order.StatusAwaitingApproval:
		return 1, false
	case order.StatusReserving:
		return 2, false
	case order.StatusAwaitingPayment:
		return 3, false
	case order.StatusAwaitingShipment:
		return 4, false
	case order.StatusAwaitingDelivery:
		return 5, false
	case order.StatusDelivered:
		return 6, false
	case order.StatusCompleted:
		return len(workflowOrder), false
	case order.StatusRejected:
		return 1, true
	case order.StatusDeliveryFailed:
		return 5, true
	}
	// Cancelled: it failed at the step it was waiting in.
	switch {
	case o.PaymentFailReason != "" || o.ReservationID != "":
		return 3, true
	case o.ReservationFailed != "" || o.CancelReason == order.ReasonOutOfStock:
		return 2, true
	case !o.ApprovalDeadline.IsZero() && o.DecidedBy == "":
		return 1, true
	case o.RiskScore == nil:
		return 0, true
	default:
		return 2, true
	}
}

func stepNote(o *order.Order, key, state string) string {
	switch key {
	case stepRisk:
		if o.RiskScore != nil {
			return fmt.Sprintf("score %d", *o.RiskScore)
		}
	case stepApproval:
		switch {
		case o.DecidedBy != "":
			return "by " + o.DecidedBy
		case state == ui.StepDone:
			return "not needed"
		case state == ui.StepFailed:
			return "no decision in time"
		}
	case stepReservation:
		if o.ReservationFailed != "" {
			return o.ReservationFailed
		}
	case stepPayment:
		if o.PaymentFailReason != "" {
			return o.PaymentFailReason
		}
		if state == ui.StepFailed && o.CancelReason == order.ReasonTimedOut {
			return "not paid in time"
		}
	case stepDelivery:
		if o.DeliveryFailureReason != "" {
			return o.DeliveryFailureReason
		}
		if state == ui.StepCurrent && o.DeliveryStatus != "" {
			return o.DeliveryStatus
		}
	}
	return ""
}

// simulatorsFor lists the provider simulations that make sense for an order's status.
func simulatorsFor(st order.Status) []ui.Simulator {
	switch st {
	case order.StatusAwaitingPayment, order.StatusReserving:
		return []ui.Simulator{{Action: simPay, Label: "Mark paid"}, {Action: simPaymentFailed, Label: "Mark payment failed"}}
	case order.StatusAwaitingShipment, order.StatusAwaitingDelivery:
		return []ui.Simulator{{Action: simDelivered, Label: "Mark delivered"}, {Action: simDeliveryFailed, Label: "Mark delivery failed"}}
	}
	return nil
}
