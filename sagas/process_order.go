package sagas

import (
	"fmt"
	"slices"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/risk"
	"github.com/ordermill/ordermill/domain/shipping"
)

// Names of the messages that are not events of an aggregate.
const (
	PaymentWebhookName  = "webhook.payment.v1"
	DeliveryWebhookName = "webhook.delivery.v1"
)

// DeadlineName is the message name of a wait's deadline.
func DeadlineName(w Wait) string { return "deadline." + string(w) + ".v1" }

// ProcessOrder is the whole order workflow of the business case, top to bottom: each rule
// says what happens when a message arrives. Waits are the statuses the order rests in
// (awaiting_approval, awaiting_payment, awaiting_delivery), each with a durable deadline.
var ProcessOrder = Flow{
	// 1. The order is placed: score its risk.
	On(order.NameOrderPlaced, when(while(order.StatusPlaced), assessRisk)),

	// 2. Low risk goes straight on; high risk pauses for a manager (approval wait).
	On(order.NameRiskAssessed, reserveIfNotHeld),
	On(order.NameHeldForApproval, waitFor(WaitApproval, func(o *order.Order) time.Time { return o.ApprovalDeadline })),
	On(order.NameOrderApproved, reserveInventory),
	On(DeadlineName(WaitApproval), when(while(order.StatusAwaitingApproval), cancel(order.ReasonTimedOut, "no manager decision before the deadline"))),

	// 3. Reserve inventory at the warehouse.
	On(inventory.ReservedName, recordReservation),
	On(inventory.ReservationFailedName, when(while(order.StatusReserving), failReservation)),

	// 4. Reserved: in parallel confirm by email and open a payment session for the order's
	//    total; wait for the payment webhook (payment wait). A webhook is checked against
	//    the recorded session, so one that came before it is applied once it is recorded.
	On(order.NameInventoryReserved,
		parallel(notify(KindOrderConfirmed), createPaymentSession),
		waitFor(WaitPayment, func(o *order.Order) time.Time { return time.Time{} })),
	On(payment.SessionCreatedName, when(while(order.StatusAwaitingPayment), recordPaymentSession)),
	On(PaymentWebhookName, onPaymentWebhook),
	On(DeadlineName(WaitPayment), when(while(order.StatusAwaitingPayment), cancel(order.ReasonTimedOut, "payment not received before the deadline"))),

	// 5. Paid: ship, and wait for the courier (delivery wait).
	On(order.NamePaymentCompleted, createShipment),
	On(shipping.ShipmentCreatedName, when(while(order.StatusAwaitingShipment), recordShipment)),
	On(order.NameShipmentCreated, waitFor(WaitDelivery, func(o *order.Order) time.Time { return time.Time{} }), applyEarlyDeliveries),
	On(DeliveryWebhookName, onDeliveryWebhook),
	On(DeadlineName(WaitDelivery), when(while(order.StatusAwaitingDelivery), openTicket(TicketDeliveryOverdue, "no delivery confirmation before the deadline"))),

	// 6. Delivered: complete and send the completion email.
	On(order.NameOrderDelivered, when(while(order.StatusDelivered), complete)),
	On(order.NameOrderCompleted, notify(KindOrderCompleted)),

	// Compensation: a cancelled order gives back its stock and tells the customer, and
	// money taken for it anyway is refunded (the refund recorded, and a ticket says so); a
	// failed delivery becomes a support ticket.
	On(order.NameOrderCancelled, releaseReservation, notifyCancellation, refundEarlyPayment),
	On(payment.RefundedName, recordRefund),
	On(order.NameDeliveryFailed, openTicket(TicketDeliveryFailed, "the courier reported the delivery as failed")),
}

func assessRisk(in Input) ([]Effect, error) {
	o := in.Order
	a := risk.Assess(risk.Input{
		Total: o.Total, Currency: o.Currency, NewCustomer: o.NewCustomer, Items: o.Items,
		ShippingAddress: o.ShippingAddress, BillingAddress: o.BillingAddress,
		RecentOrdersByCustomer: in.RecentOrders,
	})
	deadline := in.Now.Add(in.Cfg.ApprovalTimeout)
	threshold := in.Cfg.RiskThreshold
	return []Effect{OrderCommand{Name: "assess-risk", Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.AssessRisk(a.Score, a.Factors, threshold, deadline, at)
	}}}, nil
}

func reserveIfNotHeld(in Input) ([]Effect, error) {
	ev, err := decode[order.RiskAssessed](in.Msg)
	if err != nil || ev.Score >= ev.Threshold {
		return nil, err
	}
	return reserveInventory(in)
}

func reserveInventory(in Input) ([]Effect, error) {
	lines := make([]inventory.Line, len(in.Order.Items))
	for i, it := range in.Order.Items {
		lines[i] = inventory.Line{SKU: it.SKU, Quantity: it.Quantity}
	}
	return []Effect{SendCommand{Topic: inventory.CommandsTopic, Name: inventory.ReserveName, Data: inventory.Reserve{OrderID: in.Order.ID, Lines: lines}}}, nil
}

// waitFor arms the wait's deadline: at the time the order records (approval), or after
// the configured timeout from now.
func waitFor(w Wait, recorded func(*order.Order) time.Time) Step {
	return func(in Input) ([]Effect, error) {
		at := recorded(in.Order)
		if at.IsZero() {
			at = in.Now.Add(in.Cfg.timeout(w))
		}
		return []Effect{ScheduleDeadline{Wait: w, At: at}}, nil
	}
}

func (c Config) timeout(w Wait) time.Duration {
	switch w {
	case WaitApproval:
		return c.ApprovalTimeout
	case WaitPayment:
		return c.PaymentTimeout
	default:
		return c.DeliveryTimeout
	}
}

// recordReservation books the warehouse's reservation on the order, or, when the order
// no longer wants it (cancelled meanwhile), gives the stock straight back.
func recordReservation(in Input) ([]Effect, error) {
	ev, err := decode[inventory.Reserved](in.Msg)
	if err != nil {
		return nil, err
	}
	if in.Order.Status != order.StatusReserving {
		if in.Order.ReservationID == ev.ReservationID {
			return nil, nil // already recorded
		}
		return []Effect{release(in.Order.ID, "order no longer awaiting inventory")}, nil
	}
	return []Effect{OrderCommand{Name: "record-reservation", Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.ReserveInventory(ev.ReservationID, at)
	}}}, nil
}

func failReservation(in Input) ([]Effect, error) {
	ev, err := decode[inventory.ReservationFailed](in.Msg)
	if err != nil {
		return nil, err
	}
	return []Effect{OrderCommand{Name: "fail-reservation", Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.FailReservation(ev.Reason, at)
	}}}, nil
}

func createPaymentSession(in Input) ([]Effect, error) {
	o := in.Order
	cmd := payment.CreateSession{OrderID: o.ID, Amount: int64(o.Total), Currency: o.Currency, CustomerEmail: o.CustomerEmail}
	for _, it := range o.Items {
		if it.UnitPrice != nil {
			cmd.Lines = append(cmd.Lines, payment.Line{SKU: it.SKU, Quantity: int64(it.Quantity), UnitPrice: int64(*it.UnitPrice)})
		}
	}
	return []Effect{SendCommand{Topic: payment.CommandsTopic, Name: payment.CreateSessionName, Data: cmd}}, nil
}

// recordPaymentSession books the payment service's session on the order, unless it is not
// for the order's total and currency (a ticket then says so), and applies a payment webhook
// that came before it.
func recordPaymentSession(in Input) ([]Effect, error) {
	ev, err := decode[payment.SessionCreated](in.Msg)
	if err != nil || in.Order.PaymentSessionID != "" {
		return nil, err
	}
	s := order.PaymentSession{ID: ev.SessionID, URL: ev.URL, Amount: order.Cents(ev.Amount), Currency: ev.Currency, Deadline: ev.ExpiresAt}
	if why := in.Order.SessionMismatch(s); why != "" {
		return []Effect{OpenTicket{Kind: TicketPaymentMismatch, Reason: fmt.Sprintf("payment session %s not recorded: %s", s.ID, why)}}, nil
	}
	effects := []Effect{OrderCommand{Name: "record-payment-session", Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.RecordPaymentSession(s, at)
	}}}
	if wh := in.State.PendingPayment; wh != nil {
		in.State.PendingPayment = nil
		effects = append(effects, applyPayment(*wh)...)
	}
	return effects, nil
}

// onPaymentWebhook applies the provider's verdict while the order waits for it, keeps it
// when it came before the order's session was recorded, and flags money taken for an order
// already given up.
func onPaymentWebhook(in Input) ([]Effect, error) {
	wh, err := decode[PaymentWebhook](in.Msg)
	if err != nil {
		return nil, err
	}
	switch in.Order.Status {
	case order.StatusAwaitingPayment:
		if in.Order.PaymentSessionID != "" {
			return applyPayment(wh), nil
		}
		fallthrough
	case order.StatusPlaced, order.StatusAwaitingApproval, order.StatusReserving:
		if in.State.PendingPayment == nil {
			in.State.PendingPayment = &wh
		}
		return nil, nil
	case order.StatusCancelled, order.StatusRejected:
		if wh.Status == payment.StatusCompleted {
			return refund(in.Order, wh), nil
		}
	}
	return nil, nil // the payment wait is over: a duplicate or late webhook changes nothing
}

// applyPayment completes or fails the waiting order with wh, if wh is about the order's own
// session (and, completed, for its total and currency); otherwise it opens a
// payment_mismatch ticket and the order keeps waiting.
func applyPayment(wh PaymentWebhook) []Effect {
	// The business case's bare webhook names no payment; a completed payment must be
	// recorded against something, so fall back to the session, then to a marker.
	paymentID := wh.PaymentID
	if paymentID == "" {
		paymentID = wh.SessionID
	}
	if paymentID == "" {
		paymentID = "unreported"
	}
	mismatch := func(o *order.Order, at time.Time, why string) ([]order.Event, error) {
		return o.OpenSupportTicket(TicketPaymentMismatch, fmt.Sprintf("%s payment %s refused: %s", wh.Status, paymentID, why), at)
	}
	// Run re-checks the wait: another webhook may have ended it earlier in this batch.
	if wh.Status == payment.StatusCompleted {
		return []Effect{OrderCommand{Name: "complete-payment", Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
			if o.Status != order.StatusAwaitingPayment {
				return nil, nil
			}
			c := wh.charge(o)
			if why := o.ChargeMismatch(c); why != "" {
				return mismatch(o, at, why)
			}
			return o.CompletePayment(paymentID, c, at)
		}}}
	}
	reason := wh.Reason
	if reason == "" {
		reason = "the payment provider reported a failure"
	}
	return []Effect{OrderCommand{Name: "fail-payment", Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
		if o.Status != order.StatusAwaitingPayment {
			return nil, nil
		}
		if s := wh.charge(o).SessionID; s != o.PaymentSessionID && !wh.IntentOnly {
			return mismatch(o, at, fmt.Sprintf("it names session %q, the order's session is %s", apperr.Excerpt(s), o.PaymentSessionID))
		}
		return o.FailPayment(wh.PaymentID, reason, at)
	}}}
}

func createShipment(in Input) ([]Effect, error) {
	o := in.Order
	cmd := shipping.CreateShipment{OrderID: o.ID}
	if a := o.ShippingAddress; a != nil {
		cmd.Address = &shipping.Address{Name: a.Name, Line1: a.Line1, Line2: a.Line2, City: a.City, PostalCode: a.PostalCode, Country: a.Country}
	}
	for _, it := range o.Items {
		cmd.Lines = append(cmd.Lines, shipping.Line{SKU: it.SKU, Quantity: it.Quantity})
	}
	return []Effect{SendCommand{Topic: shipping.CommandsTopic, Name: shipping.CreateShipmentName, Data: cmd}}, nil
}

func recordShipment(in Input) ([]Effect, error) {
	ev, err := decode[shipping.ShipmentCreated](in.Msg)
	if err != nil {
		return nil, err
	}
	return []Effect{OrderCommand{Name: "record-shipment", Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.CreateShipment(ev.ShipmentID, ev.Carrier, ev.TrackingNumber, at)
	}}}, nil
}

// onDeliveryWebhook applies a courier update while the order waits for delivery and keeps
// updates that arrive before the shipment is recorded.
func onDeliveryWebhook(in Input) ([]Effect, error) {
	wh, err := decode[shipping.Webhook](in.Msg)
	if err != nil {
		return nil, err
	}
	switch in.Order.Status {
	case order.StatusAwaitingDelivery:
		return applyDelivery(in.Order, wh), nil
	case order.StatusPlaced, order.StatusAwaitingApproval, order.StatusReserving, order.StatusAwaitingPayment, order.StatusAwaitingShipment:
		in.State.PendingDelivery = append(in.State.PendingDelivery, wh)
	}
	return nil, nil
}

func applyDelivery(o *order.Order, wh shipping.Webhook) []Effect {
	if o.DeliveryStatus == wh.Status {
		return nil // the same status again has no second effect
	}
	return []Effect{OrderCommand{Name: "update-delivery", Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
		if o.Status != order.StatusAwaitingDelivery || o.DeliveryStatus == wh.Status {
			return nil, nil // an earlier update in this batch already ended the wait
		}
		return o.UpdateDelivery(wh.Status, wh.Reason, at)
	}}}
}

func applyEarlyDeliveries(in Input) ([]Effect, error) {
	var effects []Effect
	for _, wh := range in.State.PendingDelivery {
		effects = append(effects, applyDelivery(&order.Order{Status: order.StatusAwaitingDelivery}, wh)...)
	}
	in.State.PendingDelivery = nil
	return effects, nil
}

func complete(in Input) ([]Effect, error) {
	return []Effect{OrderCommand{Name: "complete", Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.Complete(at)
	}}}, nil
}

func cancel(reason order.CancelReason, detail string) Step {
	return func(in Input) ([]Effect, error) {
		return []Effect{OrderCommand{Name: "cancel-" + string(reason), Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
			return o.Cancel(reason, detail, at)
		}}}, nil
	}
}

func release(orderID, reason string) Effect {
	return SendCommand{Topic: inventory.CommandsTopic, Name: inventory.ReleaseName, Data: inventory.Release{OrderID: orderID, Reason: reason}}
}

func releaseReservation(in Input) ([]Effect, error) {
	if in.Order.ReservationID == "" {
		return nil, nil
	}
	return []Effect{release(in.Order.ID, "order cancelled: "+string(in.Order.CancelReason))}, nil
}

// refundEarlyPayment refunds money that arrived early for an order that was then given up.
func refundEarlyPayment(in Input) ([]Effect, error) {
	wh := in.State.PendingPayment
	if wh == nil {
		return nil, nil
	}
	in.State.PendingPayment = nil
	if wh.Status != payment.StatusCompleted {
		return nil, nil
	}
	return refund(in.Order, *wh), nil
}

// refund asks the payment service to give back a payment the provider took for an order
// already given up. Only a signed report of a named payment is refunded automatically: an
// unsigned one (dev mode) could name anybody's payment, so a ticket asks a person instead.
// The payment service refunds a payment at most once, however often it is asked.
func refund(o *order.Order, wh PaymentWebhook) []Effect {
	if wh.PaymentID == "" || wh.Unsigned {
		return []Effect{OpenTicket{Kind: TicketLatePayment, Reason: fmt.Sprintf("payment %q completed for an order already %s: refund it by hand (unsigned or unnamed, so not refunded automatically)", wh.PaymentID, o.Status)}}
	}
	if slices.Contains(o.RefundedPayments, wh.PaymentID) {
		return nil
	}
	return []Effect{SendCommand{Topic: payment.CommandsTopic, Name: payment.RefundName, Data: payment.Refund{
		OrderID: o.ID, PaymentID: wh.PaymentID, SessionID: wh.SessionID, Amount: wh.Amount, Currency: wh.Currency,
		Reason: "order " + string(o.Status),
	}}}
}

// recordRefund records the provider's refund on the order, and the payment_after_cancel
// ticket says what was taken and how it was given back.
func recordRefund(in Input) ([]Effect, error) {
	ev, err := decode[payment.Refunded](in.Msg)
	if err != nil {
		return nil, err
	}
	return []Effect{
		OrderCommand{Name: "record-refund", Run: func(o *order.Order, at time.Time) ([]order.Event, error) {
			return o.RecordRefund(ev.PaymentID, ev.RefundID, order.Cents(ev.Amount), ev.Currency, at)
		}},
		OpenTicket{Kind: TicketLatePayment, Reason: fmt.Sprintf("payment %s completed for an order already %s: refunded as %s", ev.PaymentID, in.Order.Status, ev.RefundID)},
	}, nil
}

func notifyCancellation(in Input) ([]Effect, error) {
	if in.Order.Status == order.StatusRejected {
		return notify(KindOrderRejected)(in)
	}
	return notify(KindOrderCancelled)(in)
}

func notify(kind string) Step {
	return func(in Input) ([]Effect, error) {
		subject, body := emailText(kind, in.Order)
		return []Effect{Notify{Kind: kind, Recipient: in.Order.CustomerEmail, Subject: subject, Body: body}}, nil
	}
}

func openTicket(kind, reason string) Step {
	return func(in Input) ([]Effect, error) {
		text := reason
		if kind == TicketDeliveryFailed && in.Order.DeliveryFailureReason != "" {
			text += ": " + in.Order.DeliveryFailureReason
		}
		return []Effect{OpenTicket{Kind: kind, Reason: text}}, nil
	}
}

func emailText(kind string, o *order.Order) (subject, body string) {
	total := fmt.Sprintf("%d.%02d %s", o.Total/100, o.Total%100, o.Currency)
	switch kind {
	case KindOrderConfirmed:
		return "Your order is confirmed", fmt.Sprintf("We have reserved your items for order %s (%s). Complete payment to have it shipped.", o.ID, total)
	case KindOrderCompleted:
		return "Your order has been delivered", fmt.Sprintf("Order %s has been delivered. Thank you for shopping with us.", o.ID)
	case KindOrderRejected:
		return "Your order could not be accepted", fmt.Sprintf("Order %s (%s) was not accepted after review. Nothing has been charged.", o.ID, total)
	default:
		return "Your order has been cancelled", fmt.Sprintf("Order %s (%s) was cancelled (%s). Any reserved items were released.", o.ID, total, o.CancelReason)
	}
}
