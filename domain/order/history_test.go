package order

import (
	"strings"
	"testing"
)

// lifecycle is a high-risk order's whole path to completion, as the commands record it.
func lifecycle() []Event {
	p := validPlace()
	return []Event{
		OrderPlaced{OrderID: "o1", CustomerID: "c1", Items: p.Items, Total: Money{Amount: 2000, Currency: "EUR"}, PlacedAt: t0},
		RiskAssessed{Score: 80, Threshold: 70, AssessedAt: t0},
		HeldForApproval{Score: 80, Deadline: deadline, HeldAt: t0},
		&OrderApproved{By: "rev", At: t0}, // pointer, as decoded from storage
		InventoryReserved{ReservationID: "r1", At: t0},
		PaymentSessionCreated{SessionID: "s1", Amount: 2000, Currency: "EUR", At: t0},
		PaymentCompleted{PaymentID: "p1", At: t0},
		ShipmentCreated{ShipmentID: "sh1", At: t0},
		DeliveryStatusUpdated{Status: "in_transit", At: t0},
		DeliveryStatusUpdated{Status: DeliveryStatusDelivered, At: t0},
		OrderDelivered{At: t0},
		OrderCompleted{At: t0},
		SupportTicketOpened{Kind: "delivery_overdue", At: t0},
		NoteAdded{By: "rev", Text: "late but fine", At: t0},
	}
}

func TestCheckHistoryAcceptsEveryPathTheCommandsTake(t *testing.T) {
	placed := lifecycle()[:1]
	low := RiskAssessed{Score: 20, Threshold: 70, AssessedAt: t0}
	upToPayment := append(append([]Event{}, placed...), low, InventoryReserved{ReservationID: "r1"}, PaymentSessionCreated{SessionID: "s1"})
	for name, history := range map[string][]Event{
		"completed":       lifecycle(),
		"rejected":        append(append([]Event{}, lifecycle()[:3]...), OrderRejected{By: "rev"}, OrderCancelled{Reason: ReasonRejected}),
		"out of stock":    append(append([]Event{}, placed...), low, ReservationFailed{Reason: "SKU-1"}, OrderCancelled{Reason: ReasonOutOfStock}),
		"payment failed":  append(append([]Event{}, upToPayment...), PaymentFailed{Reason: "declined"}, OrderCancelled{Reason: ReasonPaymentFailed}),
		"timed out":       append(append([]Event{}, upToPayment...), OrderCancelled{Reason: ReasonTimedOut}),
		"delivery failed": append(append([]Event{}, lifecycle()[:8]...), DeliveryStatusUpdated{Status: DeliveryStatusFailed}, DeliveryFailed{Reason: "lost"}),
		"late payment refunded": append(append([]Event{}, upToPayment...), OrderCancelled{Reason: ReasonTimedOut},
			PaymentRefunded{PaymentID: "p1", RefundID: "re1"}, SupportTicketOpened{Kind: "late_payment"}),
		"refunded in parts": append(append([]Event{}, lifecycle()[:7]...), PaymentRefunded{PaymentID: "p1", RefundID: "ch1", Amount: 30},
			PaymentRefunded{PaymentID: "p1", RefundID: "ch1", Amount: 70, Total: 100}),
	} {
		if err := CheckHistory(history); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCheckHistoryRefusesWhatNoCommandRecords(t *testing.T) {
	full := lifecycle()
	splice := func(at int, e Event) []Event {
		out := append([]Event{}, full[:at]...)
		return append(append(out, e), full[at:]...)
	}
	for name, c := range map[string]struct {
		history []Event
		want    string
	}{
		"placed twice":          {splice(1, full[0]), "placed exactly once"},
		"not placed first":      {full[1:], "placed exactly once"},
		"assessed twice":        {splice(2, full[1]), "assessed once"},
		"approved twice":        {splice(4, full[3]), "event 5 (order.approved.v1)"},
		"second session":        {splice(6, PaymentSessionCreated{SessionID: "s2"}), "already has payment session s1"},
		"paid twice":            {splice(7, full[6]), "event 8 (order.payment_completed.v1)"},
		"shipped twice":         {splice(8, full[7]), "event 9 (order.shipment_created.v1)"},
		"completed twice":       {splice(12, full[11]), "event 13 (order.completed.v1)"},
		"cancelled after paid":  {splice(7, OrderCancelled{Reason: ReasonTimedOut}), "event 8 (order.cancelled.v1)"},
		"delivered unannounced": {splice(10, OrderDelivered{}), "only a courier"},
		"same ticket twice":     {append(append([]Event{}, full...), full[12]), "already open"},
		"held at low risk":      {append([]Event{full[0], RiskAssessed{Score: 10, Threshold: 70}}, full[2:]...), "held"},
		"refunded twice": {append(append([]Event{}, full...), PaymentRefunded{PaymentID: "p1", RefundID: "re1"},
			PaymentRefunded{PaymentID: "p1", RefundID: "re1"}), "already refunded"},
		"a part after the whole": {append(append([]Event{}, full...), PaymentRefunded{PaymentID: "p1", RefundID: "re1"},
			PaymentRefunded{PaymentID: "p1", RefundID: "re2", Amount: 30}), "already refunded"},
		"a further part of nothing": {append(append([]Event{}, full...), PaymentRefunded{PaymentID: "p1", RefundID: "re1", Amount: 30},
			PaymentRefunded{PaymentID: "p1", RefundID: "re2"}), "already refunded"},
	} {
		err := CheckHistory(c.history)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, c.want)
		}
	}
}
