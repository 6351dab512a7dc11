package dashboard

import (
	"fmt"
	"slices"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/ui"
)

// workflowSteps draws where an order stands: steps before its position are done (the
// approval skipped when the score was below the threshold), its position is current (or
// failed, when the order ended there: rejected, when a manager ended it), and the rest
// wait, or, once the order has ended, were never reached.
func workflowSteps(o *order.Order) []ui.Step {
	stages := order.Stages()
	at, failed := workflowPosition(o, stages)
	steps := make([]ui.Step, len(stages))
	for i, stage := range stages {
		st := ui.Step{Key: string(stage), Label: stage.Title()}
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
		st.Note = stepNote(o, stage, st.State)
		if stage == order.StageApproval && st.State == ui.StepDone && o.DecidedBy == "" {
			st.State = ui.StepSkipped
		}
		steps[i] = st
	}
	return steps
}

// workflowPosition is the index in stages of the stage the order is at or ended at (len
// for an order that passed them all) and whether it ended there unsuccessfully, as the
// lifecycle table says.
func workflowPosition(o *order.Order, stages []order.Stage) (int, bool) {
	phase := o.Status.Phase()
	if phase.Terminal && !phase.Failed {
		return len(stages), false
	}
	return slices.Index(stages, o.Stage()), phase.Failed
}

func stepNote(o *order.Order, stage order.Stage, state string) string {
	switch stage {
	case order.StageRisk:
		if o.RiskScore != nil {
			return fmt.Sprintf("score %d", *o.RiskScore)
		}
	case order.StageApproval:
		switch {
		case o.DecidedBy != "":
			return "by " + o.DecidedBy
		case state == ui.StepDone:
			return "not needed"
		case state == ui.StepFailed:
			return "no decision in time"
		}
	case order.StageReservation:
		if o.ReservationFailed != "" {
			return o.ReservationFailed
		}
	case order.StagePayment:
		if o.PaymentFailReason != "" {
			return o.PaymentFailReason
		}
		if state == ui.StepFailed && o.CancelReason == order.ReasonTimedOut {
			return "not paid in time"
		}
		if state == ui.StepFailed && o.CancelReason == order.ReasonStockNotHeld {
			return "its stock was released"
		}
		if state == ui.StepFailed && o.CancelReason == order.ReasonPaymentFailed {
			return o.CancelDetail // no payment failed: the payment service refused to open its session
		}
	case order.StageDelivery:
		if o.DeliveryFailureReason != "" {
			return o.DeliveryFailureReason
		}
		if state == ui.StepCurrent && o.DeliveryStatus != "" {
			return o.DeliveryStatus
		}
	}
	return ""
}

// simulatorsFor lists the provider simulations that make sense for an order where it
// stands: paying while it is reserved or waiting for payment, delivering while it is
// being shipped or delivered.
func simulatorsFor(o *order.Order) []ui.Simulator {
	if o.Status.Phase().Terminal {
		return nil
	}
	switch o.Stage() {
	case order.StageReservation, order.StagePayment:
		return []ui.Simulator{{Action: simPay, Label: "Mark paid"}, {Action: simPaymentFailed, Label: "Mark payment failed"}}
	case order.StageShipment, order.StageDelivery:
		return []ui.Simulator{{Action: simDelivered, Label: "Mark delivered"}, {Action: simDeliveryFailed, Label: "Mark delivery failed"}}
	}
	return nil
}
