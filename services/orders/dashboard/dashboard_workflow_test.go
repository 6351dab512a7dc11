package dashboard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/ui"
)

// The diagram follows the order through the workflow: a table of orders in different
// places, each with the state every step must show.
func TestWorkflowSteps(t *testing.T) {
	score := func(n int) *int { return &n }
	deadline := time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		order order.Order
		want  string // risk approval reservation payment shipment delivery completion, one letter each
	}{
		{"just placed", order.Order{Status: order.StatusPlaced}, "cwwwwww"},
		{"held for approval", order.Order{Status: order.StatusAwaitingApproval, RiskScore: score(85), ApprovalDeadline: deadline}, "dcwwwww"},
		{"low risk, reserving", order.Order{Status: order.StatusReserving, RiskScore: score(10)}, "dscwwww"},
		{"approved, awaiting payment", order.Order{Status: order.StatusAwaitingPayment, RiskScore: score(85), DecidedBy: "alice", ReservationID: "r"}, "dddcwww"},
		{"paid", order.Order{Status: order.StatusAwaitingShipment, RiskScore: score(10), ReservationID: "r", PaymentID: "p"}, "dsddcww"},
		{"shipped", order.Order{Status: order.StatusAwaitingDelivery, RiskScore: score(10), ShipmentID: "s"}, "dsdddcw"},
		{"delivered", order.Order{Status: order.StatusDelivered, RiskScore: score(10)}, "dsddddc"},
		{"completed", order.Order{Status: order.StatusCompleted, RiskScore: score(10)}, "dsddddd"},
		{"rejected", order.Order{Status: order.StatusRejected, RiskScore: score(95), DecidedBy: "bob", ApprovalDeadline: deadline}, "drnnnnn"},
		{"approval timed out", order.Order{Status: order.StatusCancelled, CancelReason: order.ReasonTimedOut, RiskScore: score(95), ApprovalDeadline: deadline}, "dfnnnnn"},
		{"out of stock", order.Order{Status: order.StatusCancelled, CancelReason: order.ReasonOutOfStock, RiskScore: score(10), ReservationFailed: "SKU-9 out of stock"}, "dsfnnnn"},
		{"stock released by hand while awaiting payment", order.Order{Status: order.StatusCancelled, CancelReason: order.ReasonStockNotHeld, RiskScore: score(10), ReservationID: "r"}, "dsdfnnn"},
		{"payment failed", order.Order{Status: order.StatusCancelled, CancelReason: order.ReasonPaymentFailed, RiskScore: score(10), ReservationID: "r", PaymentFailReason: "card_declined"}, "dsdfnnn"},
		{"delivery failed", order.Order{Status: order.StatusDeliveryFailed, RiskScore: score(10), ShipmentID: "s", DeliveryFailureReason: "lost"}, "dsdddfn"},
	}
	letter := map[string]byte{ui.StepDone: 'd', ui.StepCurrent: 'c', ui.StepWaiting: 'w', ui.StepFailed: 'f', ui.StepSkipped: 's', ui.StepRejected: 'r', ui.StepNotReached: 'n'}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			steps := workflowSteps(&c.order)
			got := make([]byte, len(steps))
			for i, s := range steps {
				got[i] = letter[s.State]
			}
			assert.Equal(t, c.want, string(got))
		})
	}
	steps := workflowSteps(&order.Order{Status: order.StatusCancelled, CancelReason: order.ReasonPaymentFailed, RiskScore: score(10), ReservationID: "r", PaymentFailReason: "card_declined"})
	assert.Equal(t, "card_declined", steps[3].Note)
	assert.Equal(t, "not needed", steps[1].Note)
	steps = workflowSteps(&order.Order{Status: order.StatusCancelled, CancelReason: order.ReasonStockNotHeld, RiskScore: score(10), ReservationID: "r"})
	assert.Equal(t, "its stock was released", steps[3].Note, "not a payment that failed: the stock it held was released")
	steps = workflowSteps(&order.Order{Status: order.StatusCancelled, CancelReason: order.ReasonPaymentFailed, CancelDetail: "the payment service refused to open its session: why", RiskScore: score(10), ReservationID: "r"})
	assert.Equal(t, "the payment service refused to open its session: why", steps[3].Note, "no payment failed: its session was refused")
	steps = workflowSteps(&order.Order{Status: order.StatusRejected, RiskScore: score(95), DecidedBy: "bob", ApprovalDeadline: deadline})
	assert.Equal(t, "by bob", steps[1].Note, "the diagram says who rejected it")
}

// The diagram is drawn from the lifecycle table: every status of the table puts an order
// on one of its steps, or past them all.
func TestWorkflowDiagramCoversTheLifecycle(t *testing.T) {
	stages := order.Stages()
	for _, p := range order.Lifecycle() {
		o := order.Order{Status: p.Status}
		at, failed := workflowPosition(&o, stages)
		assert.Equal(t, p.Failed, failed, p.Status)
		if p.Terminal && !p.Failed {
			assert.Equal(t, len(stages), at, p.Status)
			continue
		}
		assert.GreaterOrEqual(t, at, 0, "status %s is on no step of the diagram", p.Status)
	}
}
