package sagas

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/limits"
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
func DeadlineName(w order.Wait) string { return "deadline." + string(w) + ".v1" }

// ProcessOrder is the whole order workflow of the business case, top to bottom: each rule
// says what happens when a message of a type arrives. The order's lifecycle table
// (domain/order/lifecycle.go) says which status accepts which command and which wait each
// status rests in: a rule guarded by IfAccepts, or a deadline (OnDeadline), does nothing
// once its moment has passed (a duplicate reply, a late deadline).
var ProcessOrder = Flow{
	// 1. The order is placed: score its risk.
	After[order.OrderPlaced](assessRisk).IfAccepts(order.CmdAssessRisk),

	// 2. Low risk goes straight on; high risk pauses for a manager (approval wait).
	After[order.RiskAssessed](reserveInventory).IfAccepts(order.CmdReserveInventory),
	On[order.HeldForApproval](waitUntil(order.WaitApproval, heldUntil)),
	After[order.OrderApproved](reserveInventory).IfAccepts(order.CmdReserveInventory),
	OnDeadline(order.WaitApproval, cancel(order.ReasonTimedOut, "no manager decision before the deadline")),

	// 3. Reserve inventory at the warehouse.
	On[inventory.Reserved](recordReservation),
	On[inventory.ReservationFailed](failReservation).IfAccepts(order.CmdFailReservation),
	//    Stock released outside the workflow (an operator's inventory.release) cancels an
	//    order still waiting for its payment; a paid one gets a ticket.
	On[inventory.Released](onReleasedOutside),

	// 4. Reserved: open a payment session for the order's total and wait for the payment
	//    webhook (payment wait); the session recorded, confirm by email with its link and
	//    due time. A webhook is checked against the recorded session, so one that came
	//    before it is applied once it is recorded.
	After[order.InventoryReserved](createPaymentSession, waitFor(order.WaitPayment)),
	On[payment.SessionCreated](onSessionCreated),
	On[payment.SessionRefused](onSessionRefused).IfAccepts(order.CmdRecordPaymentSession),
	On[PaymentWebhook](onPaymentWebhook),
	On[payment.SessionFoundPaid](onSessionFoundPaid),
	//    At the deadline the session is closed first, and the order cancelled once the
	//    provider says it closed unpaid: paid in time, it pays the order, whichever of the
	//    deadline and the payment's webhook the saga meets first.
	OnDeadline(order.WaitPayment, closePaymentWait),
	On[payment.SessionExpired](onSessionExpired),

	// 5. Paid: ship, and wait for the courier (delivery wait).
	After[order.PaymentCompleted](createShipment),
	//    A shipment booked by hand (the delivery service's procedure) for an order not paid
	//    yet, or given up, is called off; the workflow books its own once the order is paid.
	On[shipping.ShipmentCreated](onShipmentCreated),
	//    The workflow's booking may have met that hand booking before its cancel (the
	//    delivery service then books nothing): a paid order whose hand booking was called
	//    off asks for its own again.
	After[shipping.ShipmentCancelled](createShipment).IfAccepts(order.CmdCreateShipment),
	On[shipping.ShipmentRefused](onShipmentRefused).IfAccepts(order.CmdCreateShipment),
	//    A shipment booked after a refusal (a command an operator corrected by hand) ships
	//    the order, and settles the refusal's ticket.
	After[order.ShipmentCreated](waitFor(order.WaitDelivery), applyEarlyDeliveries,
		closeTicket(TicketShipmentRefused, "the delivery service booked the shipment after all")),
	On[shipping.Webhook](onDeliveryWebhook),
	OnDeadline(order.WaitDelivery, openTicket(TicketDeliveryOverdue, "no delivery confirmation before the deadline")),

	// 6. Delivered: complete and send the completion email; an overdue ticket is moot.
	After[order.OrderDelivered](complete).IfAccepts(order.CmdComplete),
	After[order.OrderDelivered](closeTicket(TicketDeliveryOverdue, "the courier confirmed the delivery after the deadline")),
	After[order.OrderCompleted](notify(KindOrderCompleted)),

	// Compensation: a cancelled order gives back its stock, closes its payment session and
	// tells the customer, and money taken for it anyway is refunded (the refund recorded,
	// and a ticket says so; a refund the payment service refuses goes to a person with a
	// ticket); a failed delivery becomes a support ticket.
	After[order.OrderCancelled](releaseReservation, expireSession, notifyCancellation, refundEarlyPayment),
	On[payment.Refunded](recordRefund),
	On[payment.RefundRefused](onRefundRefused),
	On[payment.AlreadyRefunded](onAlreadyRefunded),
	On[payment.RefundReport](onRefundReport),
	After[order.DeliveryFailed](openTicket(TicketDeliveryFailed, "the courier reported the delivery as failed"),
		closeTicket(TicketDeliveryOverdue, "the courier reported the delivery as failed: see the delivery_failed ticket")),
}

func assessRisk(in Input) ([]Effect, error) {
	o := in.Order
	a := risk.Assess(risk.Input{
		Total: o.Total, Currency: o.Currency, NewCustomer: o.NewCustomer, Items: o.Items,
		ShippingAddress: o.ShippingAddress, BillingAddress: o.BillingAddress,
		RecentOrdersByCustomer: in.RecentOrders,
	})
	return []Effect{AssessRisk{Score: a.Score, Factors: a.Factors, Threshold: in.Cfg.RiskThreshold, Deadline: in.Now.Add(in.Cfg.ApprovalTimeout)}}, nil
}

func reserveInventory(in Input) ([]Effect, error) {
	return []Effect{SendCommand{Topic: inventory.CommandsTopic, Name: inventory.ReserveName, Data: inventory.Reserve{OrderID: in.Order.ID, Lines: orderLines(in.Order)}}}, nil
}

// orderLines is what order o asks the warehouse to hold: a line an item.
func orderLines(o *order.Order) []inventory.Line {
	lines := make([]inventory.Line, len(o.Items))
	for i, it := range o.Items {
		lines[i] = inventory.Line{SKU: it.SKU, Quantity: it.Quantity}
	}
	return lines
}

// waitFor arms the wait's deadline after the configured timeout from now.
func waitFor(w order.Wait) Step {
	return func(in Input) ([]Effect, error) {
		return []Effect{ScheduleDeadline{Wait: w, At: in.deadline(w)}}, nil
	}
}

// deadline is when wait w, armed now, ends: the configured timeout from now.
func (in Input) deadline(w order.Wait) time.Time { return in.Now.Add(in.Cfg.timeout(w)) }

// waitUntil arms the wait's deadline at the time the message records, or after the
// configured timeout when it records none.
func waitUntil[T any](w order.Wait, deadline func(T) time.Time) func(Input, T) ([]Effect, error) {
	return func(in Input, msg T) ([]Effect, error) {
		if at := deadline(msg); !at.IsZero() {
			return []Effect{ScheduleDeadline{Wait: w, At: at}}, nil
		}
		return waitFor(w)(in)
	}
}

// heldUntil is the approval deadline a hold records.
func heldUntil(ev order.HeldForApproval) time.Time { return ev.Deadline }

func (c Config) timeout(w order.Wait) time.Duration {
	switch w {
	case order.WaitApproval:
		return c.ApprovalTimeout
	case order.WaitPayment:
		return c.PaymentTimeout
	default:
		return c.DeliveryTimeout
	}
}

// recordReservation books the warehouse's reservation on the order, or, when the order
// no longer wants it (cancelled meanwhile, or not approved yet), gives the stock straight
// back. A reservation of other units than the order's items is not booked either: an
// operator can reserve an order by hand (the warehouse's procedure) before the saga does,
// and the order went on holding, say, two units for a one-unit order, while the warehouse
// refused the saga's own reservation for good (an order is reserved once). It is released
// and the order cancelled, its stock not held (order.ReasonStockNotHeld: the items are
// not out of stock), its customer told, as a release outside the workflow cancels it
// (onReleasedOutside): the reservation wait has no deadline, and a ticket alone would
// leave the order waiting for ever.
func recordReservation(in Input, ev inventory.Reserved) ([]Effect, error) {
	o := in.Order
	if !o.Status.Accepts(order.CmdReserveInventory) {
		if o.ReservationID == ev.ReservationID {
			return nil, nil // already recorded
		}
		return []Effect{release(o.ID, "order no longer awaiting inventory")}, nil
	}
	if diff := inventory.Differences(ev.Lines, orderLines(o)); len(diff) > 0 {
		held := make([]string, len(diff))
		for i, d := range diff {
			held[i] = fmt.Sprintf("%s: %d held, %d ordered", d.SKU, d.A, d.B)
		}
		why := fmt.Sprintf("its reservation %s holds other units than the order (%s)", ev.ReservationID, strings.Join(held, "; "))
		return []Effect{release(o.ID, "reservation holds other units than the order"), FailReservation{Reason: why}}, nil
	}
	return []Effect{RecordReservation{ID: ev.ReservationID}}, nil
}

func failReservation(_ Input, ev inventory.ReservationFailed) ([]Effect, error) {
	return []Effect{FailReservation{Reason: ev.Reason, SKU: ev.SKU}}, nil
}

func createPaymentSession(in Input) ([]Effect, error) {
	o := in.Order
	// An order placed before text-direction controls, control and invisible characters were
	// refused may hold them; the services' contracts refuse them, and a command for an
	// accepted order must pass.
	cmd := payment.CreateSession{OrderID: o.ID, Amount: int64(o.Total), Currency: o.Currency,
		CustomerEmail: limits.Email("customerEmail", o.CustomerEmail).Clean(),
		PayBy:         in.deadline(order.WaitPayment)} // the deadline waitFor arms with it
	for _, it := range o.Items {
		if it.UnitPrice != nil {
			cmd.Lines = append(cmd.Lines, payment.Line{SKU: it.SKU, Name: it.Name, Quantity: int64(it.Quantity), UnitPrice: int64(*it.UnitPrice)})
		}
	}
	// The contract refuses the email and lines the order refuses now, which an order an
	// earlier release accepted may hold (an email to "localhost", or past any address's
	// length, which cleaning does not cut; a line of 20,000 units, or priced above the
	// total): refused, the session would cancel the order. It opens without them: the
	// provider asks the customer for the email, and shows one line for the amount.
	if limits.EmailAddress("customerEmail", cmd.CustomerEmail) != nil {
		cmd.CustomerEmail = ""
	}
	if cmd.CheckLines() != nil {
		cmd.Lines = nil
	}
	return []Effect{SendCommand{Topic: payment.CommandsTopic, Name: payment.CreateSessionName, Data: cmd}}, nil
}

// onSessionCreated records the payment service's session on an order that waits for it,
// and closes one opened for an order given up meanwhile: it must not stay payable.
func onSessionCreated(in Input, ev payment.SessionCreated) ([]Effect, error) {
	o := in.Order
	switch {
	case o.Status.Accepts(order.CmdRecordPaymentSession):
		return recordPaymentSession(in, ev)
	case o.PaymentSessionID == "" && o.Status == order.StatusCancelled:
		return []Effect{expire(o.ID, ev.SessionID)}, nil
	}
	return nil, nil
}

// onSessionRefused cancels the order whose session the payment service refused by its
// contract (an order an earlier release accepted, whose data a tightened check refuses),
// if it still waits for one: no session will open, and nobody can pay it. Cancelled, it
// gives back its stock and its customer is told, as for a payment that failed.
func onSessionRefused(in Input, ev payment.SessionRefused) ([]Effect, error) {
	if in.Order.PaymentSessionID != "" {
		return nil, nil
	}
	return []Effect{Cancel{Reason: order.ReasonPaymentFailed, Detail: "the payment service refused to open its session: " + ev.Reason}}, nil
}

// recordPaymentSession books the payment service's session on the order, unless it is not
// for the order's total and currency (a ticket then says so), and applies the payment
// webhooks that came before it as if each had come just now, in the order they came:
// until one ends the wait, each is applied (a refused one opens a ticket, and a refused
// payment is refunded); after that, each meets the order as the one that ended the wait
// left it, as it would had it come later: a completed payment is refunded, for an order
// cancelled by a failure, or as a second payment for one paid.
func recordPaymentSession(in Input, ev payment.SessionCreated) ([]Effect, error) {
	if in.Order.PaymentSessionID != "" {
		return nil, nil
	}
	s := order.PaymentSession{ID: ev.SessionID, URL: ev.URL, Amount: order.Cents(ev.Amount), Currency: ev.Currency, Deadline: ev.ExpiresAt}
	if why := in.Order.SessionMismatch(s); why != "" {
		return []Effect{OpenTicket{Kind: TicketPaymentMismatch, Reason: fmt.Sprintf("payment session %s not recorded: %s", s.ID, why)}}, nil
	}
	effects := []Effect{RecordPaymentSession{Session: s}, confirmation(in.Order, s)}
	if len(in.State.PendingPayments) == 0 {
		return effects, nil
	}
	effects = append(effects, ClearPendingPayments{})
	waiting := *in.Order // the order as the webhooks will find it: waiting, with s recorded
	waiting.PaymentSessionID = s.ID
	var after *order.Order // the order once a webhook ended its wait
	// What the saga will remember once the effects so far have run: each webhook meets it.
	remembered := State{Refunding: slices.Clone(in.State.Refunding)}
	for _, wh := range in.State.PendingPayments {
		if wh.Declined {
			continue
		}
		if after != nil {
			effects = append(effects, afterPaymentWait(after, wh)...)
			continue
		}
		applied := applyPayment(&waiting, wh, remembered.Refunding)
		effects = append(effects, applied...)
		for _, e := range applied {
			if c, ok := e.(StateChange); ok {
				c.applyTo(&remembered)
			}
		}
		if wh.refusal(&waiting) == "" && !refundAsked(wh, remembered.Refunding) {
			after = endedBy(waiting, wh)
		}
	}
	return effects, nil
}

// refundAsked reports whether wh is a payment whose refund was asked for (State.Refunding):
// it may not pay the order, though its refund is not on the order yet.
func refundAsked(wh PaymentWebhook, refunding []string) bool {
	return wh.Status == payment.StatusCompleted && slices.Contains(refunding, wh.paymentID())
}

// endedBy is o, waiting for its payment, as wh leaves it: paid by it, or cancelled.
func endedBy(o order.Order, wh PaymentWebhook) *order.Order {
	if wh.Status == payment.StatusCompleted {
		o.Status, o.PaymentID = order.StatusAwaitingShipment, wh.paymentID()
	} else {
		o.Status = order.StatusCancelled
	}
	return &o
}

// onPaymentWebhook applies the provider's verdict while the order waits for it, keeps it
// when it came before the order's session was recorded, and gives back money the order
// must not keep: a payment it refuses, taken for an order already given up, or a second
// payment for a paid one.
func onPaymentWebhook(in Input, wh PaymentWebhook) ([]Effect, error) {
	o := in.Order
	switch {
	case wh.Declined:
		return nil, nil
	case waitsForPayment(o) && wh.Status == payment.StatusFailed && wh.Reason == payment.ReasonSessionExpired && wh.refusal(o) == "":
		// The session ran out unpaid (Stripe's checkout.session.expired, which the
		// deadline's own close also sets off): the time to pay is over, no payment failed.
		return []Effect{paymentTimedOut}, nil
	case waitsForPayment(o):
		return applyPayment(o, wh, in.State.Refunding), nil
	case o.Status.CanReach(order.StatusAwaitingPayment):
		return []Effect{KeepPendingPayment{Webhook: wh}}, nil
	}
	return afterPaymentWait(o, wh), nil
}

// onSessionFoundPaid takes the payment service's finding, when it closed the order's
// session, that the session had been paid, as the provider's signed report of that
// payment: an order given up refunds it (afterPaymentWait), whether or not the provider's
// own webhook ever comes (if it does, the refund is asked again and made once); an order
// still waiting, its deadline past, is paid by it.
func onSessionFoundPaid(in Input, p payment.SessionFoundPaid) ([]Effect, error) {
	wh := PaymentWebhook{Webhook: payment.Webhook{OrderID: p.OrderID, Status: payment.StatusCompleted,
		PaymentID: p.PaymentID, SessionID: p.SessionID, Amount: p.Amount, Currency: p.Currency}}
	effects, err := onPaymentWebhook(in, wh)
	// The answer to the payment deadline's close (closePaymentWait), for an order still
	// waiting: a payment it refuses (another amount) is given back, and the session, closed
	// now, can take no other: the order is cancelled, or it would wait for ever.
	o := in.Order
	if err == nil && waitsForPayment(o) && p.SessionID == o.PaymentSessionID &&
		(wh.refusal(o) != "" || refundAsked(wh, in.State.Refunding)) {
		effects = append(effects, paymentTimedOut)
	}
	return effects, err
}

// paymentDeadlineDetail is why an order whose payment deadline passed is cancelled, and
// paymentTimedOut its cancellation.
const paymentDeadlineDetail = "payment not received before the deadline"

var paymentTimedOut = Cancel{Reason: order.ReasonTimedOut, Detail: paymentDeadlineDetail}

// closePaymentWait ends the payment wait at its deadline: it asks the payment service to
// close the order's session and to answer (ExpireSession.AskedAt), and the order waits for
// that answer. The deadline cancelled the order at once, and a customer who had paid in
// time while the orders service was down was cancelled and refunded, since the saga met
// the overdue deadline before the payment's webhook (a probe: 40 orders of 40). Closed
// unpaid, the order is cancelled (onSessionExpired); found paid, or paid meanwhile, the
// payment pays it. An order whose session is not recorded has none to close: no link to
// pay was handed out, and it is cancelled now.
func closePaymentWait(in Input) ([]Effect, error) {
	o := in.Order
	var deadline struct {
		Asking time.Time `json:"asking"` // when the close was first asked for; zero at the first
	}
	if err := json.Unmarshal(in.Msg.Payload, &deadline); err != nil {
		return nil, apperr.Errorf(apperr.CodeInvalid, "decode the payment deadline %s: %v", in.Msg.ID, err)
	}
	if deadline.Asking.IsZero() {
		deadline.Asking = in.Now
	}
	switch {
	case o.PaymentSessionID == "":
		return []Effect{paymentTimedOut}, nil
	case in.Now.Sub(deadline.Asking) >= closeGiveUp:
		// Asked for an hour without an answer (a close that fails for good: a key
		// revoked, a session Stripe does not know): cancelled as before the decision, and
		// a payment that comes later is refunded.
		return []Effect{Cancel{Reason: order.ReasonTimedOut, Detail: paymentDeadlineDetail + " (the payment service did not answer the session's close for an hour)"}}, nil
	}
	// Asked again every closeAskAgain until answered: an answer lost (an orders process of
	// an earlier release leaves it unread), or a payment process of an earlier release,
	// which closes the session without answering, would leave the order waiting for ever.
	return []Effect{
		SendCommand{Topic: payment.CommandsTopic, Name: payment.ExpireSessionName,
			Data: payment.ExpireSession{OrderID: o.ID, SessionID: o.PaymentSessionID, AskedAt: in.Now}},
		ScheduleDeadline{Wait: order.WaitPayment, At: in.Now.Add(closeAskAgain), Asking: deadline.Asking},
	}, nil
}

// closeAskAgain is how long an order past its payment deadline waits for the payment
// service's answer before it asks again; closeGiveUp, how long after its first question it
// stops asking and is cancelled.
const (
	closeAskAgain = 10 * time.Minute
	closeGiveUp   = time.Hour
)

// onSessionExpired cancels the order whose session its payment deadline closed unpaid,
// if it still waits for its payment.
func onSessionExpired(in Input, ev payment.SessionExpired) ([]Effect, error) {
	if !waitsForPayment(in.Order) || ev.SessionID != in.Order.PaymentSessionID {
		return nil, nil
	}
	return []Effect{paymentTimedOut}, nil
}

// afterPaymentWait is what a payment webhook does to an order whose payment wait is over:
// money taken for an order given up, or a second payment for a paid one, is given back;
// a failure, or a duplicate of the payment that paid it, changes nothing.
func afterPaymentWait(o *order.Order, wh PaymentWebhook) []Effect {
	switch {
	case wh.Status != payment.StatusCompleted:
	case o.Status == order.StatusCancelled, o.Status == order.StatusRejected, o.Paid() && wh.paymentID() != o.PaymentID:
		return refund(o, wh)
	}
	return nil
}

// applyPayment completes or fails the waiting order o with wh, if wh is about the order's
// own session (and, completed, for its total and currency); otherwise it opens a
// payment_mismatch ticket and the order keeps waiting, and money taken that it refuses is
// given back: it pays for nothing, and kept it would stay taken whether the order is
// paid later or given up. Whether o refuses wh does not change before the effects run:
// the session, total and currency are the order's for good once its session is recorded.
// A payment whose refund was asked for is refused as it was the first time, so that the
// same report sent again says what the ticket says already (OpenTicket), or, reported
// again for the right charge, because its refund was asked for.
func applyPayment(o *order.Order, wh PaymentWebhook, refunding []string) []Effect {
	if wh.Status != payment.StatusCompleted {
		return []Effect{FailPayment{Webhook: wh}}
	}
	if refundAsked(wh, refunding) {
		why := wh.refusal(o)
		if why == "" {
			why = "its refund was asked for already"
		}
		return []Effect{wh.refused(why)}
	}
	effects := []Effect{CompletePayment{Webhook: wh}}
	if wh.refusal(o) != "" {
		effects = append(effects, refund(o, wh)...)
	}
	return effects
}

func createShipment(in Input) ([]Effect, error) {
	return []Effect{SendCommand{Topic: shipping.CommandsTopic, Name: shipping.CreateShipmentName, Data: shipmentOf(in.Order)}}, nil
}

// shipmentOf is the shipment order o asks the delivery service for: its items, to its
// shipping address.
func shipmentOf(o *order.Order) shipping.CreateShipment {
	cmd := shipping.CreateShipment{OrderID: o.ID}
	if a := o.ShippingAddress; a != nil {
		clean := func(part string) string { return limits.AddressPart("", part).Clean() } // as in createPaymentSession
		cmd.Address = &shipping.Address{Name: clean(a.Name), Line1: clean(a.Line1), Line2: clean(a.Line2),
			City: clean(a.City), PostalCode: clean(a.PostalCode), Country: clean(a.Country)}
	}
	for _, it := range o.Items {
		cmd.Lines = append(cmd.Lines, shipping.Line{SKU: it.SKU, Quantity: it.Quantity})
	}
	return cmd
}

// onShipmentCreated records the delivery service's shipment on an order that waits for
// it, and calls off one an operator booked by hand (the delivery service's procedure) for
// an order that does not: one not paid yet, or given up (cancelled, rejected). Left booked
// (until 2026-12-07), the courier could collect goods nobody had paid for, or for an order
// nobody will pay for; and the workflow's own booking, once the order was paid, met the
// hand booking (the delivery service keeps one shipment an order), booked and announced
// nothing, and the order stayed awaiting_shipment for ever (it has no deadline).
//
// The hand booking of an order not paid yet is called off rather than kept for the order
// once paid: kept, it could be collected before the payment, and then for an order never
// paid, and it carries the operator's lines and address, which the saga cannot check
// against the order's (the event names neither). Called off, the delivery service books
// the workflow's own once the order is paid, with the order's lines and address
// (createShipment), in its place. The cancel names the hand booking, so it never calls
// off the workflow's. The log delivers a topic in transaction id order, not commit order,
// so the workflow's booking, sent in the payment's transaction, may reach the delivery
// service before the cancel, meet the hand booking still booked, and book nothing: the
// ShipmentCancelled that follows finds the order waiting for its shipment, and it asks
// again (the ShipmentCancelled rule). One booked by hand while the order waits for its
// shipment (paid, not booked yet) is the order's when it carries the order's lines and
// address, and so is any booked after a refusal (a person's correction, which differs
// from the order by its nature). One of other lines or address is called off, and the
// order's own is booked in its place once the cancel is done (the ShipmentCancelled
// rule): recorded (until 2026-12-07), the courier carried the operator's goods to the
// operator's address for the order, and nobody was told. The workflow's own booking
// meets it first (it was sent with the payment) and is refused (shipment.refused.v1,
// naming it), so the order's shipment_refused ticket tells what happened. A
// ShipmentCreated of a release before 2026-12-07 names no lines: it is recorded, as
// then. Any other status has its own shipment, the only one the delivery service keeps
// for it (a hand booking of it answers with that one, and appends nothing, or is
// refused): a ShipmentCreated then is that shipment's, recorded already.
func onShipmentCreated(in Input, ev shipping.ShipmentCreated) ([]Effect, error) {
	o := in.Order
	switch s := o.Status; {
	case s.Accepts(order.CmdCreateShipment):
		if diff := shipping.Differences(ev.Parcel(), shipmentOf(o)); ev.Lines != nil && diff != nil && !slices.Contains(o.SupportTickets, TicketShipmentRefused) {
			return []Effect{cancelShipment(ev, fmt.Sprintf("order %s: booked with other lines or address than the order's (%s): its shipment is booked by its workflow",
				s, strings.Join(diff, "; ")))}, nil
		}
		return []Effect{RecordShipment{ShipmentID: ev.ShipmentID, Carrier: ev.Carrier, TrackingNumber: ev.TrackingNumber}}, nil
	case s.CanReach(order.StatusAwaitingShipment):
		return []Effect{cancelShipment(ev, fmt.Sprintf("order %s: its shipment is booked by its workflow once it is paid", s))}, nil
	case s == order.StatusCancelled, s == order.StatusRejected:
		return []Effect{cancelShipment(ev, fmt.Sprintf("order %s: nothing is shipped for an order given up", s))}, nil
	}
	return nil, nil
}

// onShipmentRefused hands the order whose shipment the delivery service refused by its
// contract (an order an earlier release accepted, whose data a tightened check refuses) to
// a person: it is paid, so it cannot be cancelled, and nothing will ship it. A
// shipment_refused ticket says why, as a failed delivery's ticket does. A refusal naming
// a shipment met one booked by hand with other lines or address, which the saga calls
// off (onShipmentCreated): the order's own is booked once it is, and the ticket closed,
// unless the courier had collected it.
func onShipmentRefused(_ Input, ev shipping.ShipmentRefused) ([]Effect, error) {
	next := "; the order is paid and stays awaiting_shipment: ship it by hand, or refund it"
	if ev.ShipmentID != "" {
		next = fmt.Sprintf("; the workflow calls shipment %s off and books the order's own in its place, which closes this ticket: "+
			"if the courier has collected it already, the order is paid and stays awaiting_shipment: ship it by hand, or refund it", ev.ShipmentID)
	}
	return []Effect{OpenTicket{Kind: TicketShipmentRefused, Reason: "the delivery service refused the order's shipment: " + ev.Reason + next}}, nil
}

// onDeliveryWebhook applies a courier update while the order waits for delivery, and
// keeps those that arrive between the shipment's command and its record, naming the
// shipment they are about (checked once it is recorded). One that comes
// before the order is paid is about no parcel of it (none is sent before): it opens a
// delivery_mismatch ticket and changes nothing, or it would complete the order the moment
// it is shipped.
func onDeliveryWebhook(in Input, wh shipping.Webhook) ([]Effect, error) {
	switch s := in.Order.Status; {
	case s.Waiting(order.WaitDelivery):
		return applyDelivery(in.Order, wh), nil
	case s == order.StatusAwaitingShipment && wh.ShipmentID == "":
		// Kept, it was taken as the order's the moment its shipment was recorded: an early
		// "delivered" completed an order whose parcel did not exist yet (a probe, 22 of 25).
		return []Effect{refuseDelivery(wh, "it names no shipment, and the order's is not booked yet")}, nil
	case s == order.StatusAwaitingShipment:
		return []Effect{KeepPendingDelivery{Webhook: wh}}, nil
	case s.CanReach(order.StatusAwaitingShipment):
		return []Effect{refuseDelivery(wh, "the order is not paid, so nothing was shipped")}, nil
	case s == order.StatusDeliveryFailed && wh.Status != shipping.StatusFailed:
		// The courier tried again, or found the parcel: the order stays failed, but the
		// person on its ticket must hear of it.
		return []Effect{OpenTicket{Kind: TicketDeliveryFailed, Reason: fmt.Sprintf("courier update %q after the delivery failed: the order stays delivery_failed; settle it with the courier and the customer",
			apperr.Excerpt(wh.Status))}}, nil
	case (s == order.StatusDelivered || s == order.StatusCompleted) && wh.Status == shipping.StatusFailed:
		// The courier contradicts the delivery: the order stays as it is (the customer may
		// have the parcel), but a person must hear of it; it was dropped without a word.
		reason := fmt.Sprintf("courier reported the delivery as failed after it was delivered: the order stays %s; settle it with the courier and the customer", s)
		if wh.Reason != "" {
			reason += ": " + apperr.Excerpt(wh.Reason)
		}
		return []Effect{OpenTicket{Kind: TicketDeliveryFailed, Reason: reason}}, nil
	}
	return nil, nil
}

// applyDelivery applies wh to o, waiting for its delivery, unless wh names a shipment
// other than o's: a courier's update about another parcel opens a delivery_mismatch
// ticket instead. An update that names none is taken as the order's.
func applyDelivery(o *order.Order, wh shipping.Webhook) []Effect {
	switch {
	case wh.ShipmentID != "" && wh.ShipmentID != o.ShipmentID:
		return []Effect{refuseDelivery(wh, "the order's shipment is "+o.ShipmentID)}
	case o.DeliveryStatus == wh.Status:
		return nil // the same status again has no second effect
	}
	return []Effect{UpdateDelivery{Status: wh.Status, Reason: wh.Reason}}
}

// refuseDelivery opens the order's delivery_mismatch ticket for wh, or comments on it.
func refuseDelivery(wh shipping.Webhook, why string) Effect {
	return OpenTicket{Kind: TicketDeliveryMismatch, Reason: fmt.Sprintf("courier update %q for shipment %q refused: %s",
		apperr.Excerpt(wh.Status), apperr.Excerpt(wh.ShipmentID), why)}
}

func applyEarlyDeliveries(in Input) ([]Effect, error) {
	if len(in.State.PendingDelivery) == 0 {
		return nil, nil
	}
	var effects []Effect
	for _, wh := range in.State.PendingDelivery {
		effects = append(effects, applyDelivery(&order.Order{Status: order.StatusAwaitingDelivery, ShipmentID: in.Order.ShipmentID}, wh)...)
	}
	return append(effects, ClearPendingDelivery{}), nil
}

func complete(Input) ([]Effect, error) { return []Effect{Complete{}}, nil }

// closeTicket closes the order's ticket of kind, if one is open: what it asked a person
// to settle has come, as resolution says.
func closeTicket(kind, resolution string) Step {
	return func(in Input) ([]Effect, error) {
		if !in.Order.TicketOpen(kind) {
			return nil, nil
		}
		return []Effect{CloseTicket{Kind: kind, Resolution: resolution}}, nil
	}
}

func cancel(reason order.CancelReason, detail string) Step {
	return func(Input) ([]Effect, error) { return []Effect{Cancel{Reason: reason, Detail: detail}}, nil }
}

func release(orderID, reason string) SendCommand {
	return SendCommand{Topic: inventory.CommandsTopic, Name: inventory.ReleaseName, Data: inventory.Release{OrderID: orderID, Reason: reason}}
}

// cancelShipment calls off the shipment ev booked, and no booking of its order after it.
func cancelShipment(ev shipping.ShipmentCreated, reason string) SendCommand {
	return SendCommand{Topic: shipping.CommandsTopic, Name: shipping.CancelShipmentName,
		Data: shipping.CancelShipment{OrderID: ev.OrderID, ShipmentID: ev.ShipmentID, Reason: reason}}
}

// The reasons the saga gives back what was held by hand for an order never placed.
const (
	unplacedRelease = "no such order: stock is held only for an order the orders service placed"
	unplacedCancel  = "no such order: a shipment is booked only for an order the orders service placed"
)

// forUnplacedOrder answers m, a message about an order that was never placed, and says
// whether it is one the saga answers (known). Only a procedure called by hand (the
// warehouse's reserve, the delivery service's create-shipment: an operator's tool) names
// such an order: the saga's own commands follow a placement, and order ids are the orders
// service's. What it held is given back at once, as a reservation of an order that no
// longer wants it is (recordReservation): nothing could ever claim it, and it was
// dead-lettered as "order not found" while its stock stayed held, or its shipment booked
// with the courier, for ever. A Reserved is released (the warehouse records Released, with
// this reason, and the reservation's row says so), a ShipmentCreated cancelled (the
// delivery service records ShipmentCancelled, and the shipment's row says so); that
// Released or ShipmentCancelled, or a failed reservation of such an order, holds nothing
// to answer. Nor does a command's refusal (a refund, a payment session or a shipment
// asked for by hand, naming such an order and refused by its service's contract): the
// refusal is recorded on the order's stream, nothing was given back or booked, and there
// is no order to open a ticket on or to cancel; it was dead-lettered as "order not
// found", a second dead letter for one command its service had answered. Anything else
// about an order never placed is not known.
func forUnplacedOrder(m Message) (cmds []SendCommand, known bool, err error) {
	switch m.Name {
	case inventory.ReservedName:
		ev, err := decode[inventory.Reserved](m)
		if err != nil {
			return nil, true, err
		}
		return []SendCommand{release(ev.OrderID, unplacedRelease)}, true, nil
	case shipping.ShipmentCreatedName:
		ev, err := decode[shipping.ShipmentCreated](m)
		if err != nil {
			return nil, true, err
		}
		return []SendCommand{cancelShipment(ev, unplacedCancel)}, true, nil
	case inventory.ReleasedName, inventory.ReservationFailedName, shipping.ShipmentCancelledName,
		payment.RefundRefusedName, payment.SessionRefusedName, shipping.ShipmentRefusedName:
		return nil, true, nil
	}
	return nil, false, nil
}

// onReleasedOutside answers the warehouse's report that the order's reservation was
// released while the order still holds it: only an operator's inventory.release does
// that, as the workflow releases the stock of orders given up alone. Nothing can be sold
// without its stock, so an order still waiting for its payment is cancelled (its customer
// told, its session closed); a paid order's goods may now be sold twice, which a person
// must settle (reserve them again, or refund), so it gets a stock_released ticket. Before,
// the order went on as if it held its stock, and the units were sold again.
func onReleasedOutside(in Input, ev inventory.Released) ([]Effect, error) {
	o := in.Order
	why := "its reservation " + ev.ReservationID + " was released outside its workflow"
	if ev.Reason != "" {
		why += " (" + ev.Reason + ")"
	}
	switch {
	case o.ReservationID == "" || ev.ReservationID != o.ReservationID:
		return nil, nil
	case o.Status == order.StatusCancelled || o.Status == order.StatusRejected:
		return nil, nil // the workflow's own release
	case o.Paid():
		return []Effect{OpenTicket{Kind: TicketStockReleased, Reason: why + " after the order was paid: its goods may be sold twice; reserve them again or refund"}}, nil
	case o.Status.Accepts(order.CmdCancel):
		return []Effect{Cancel{Reason: order.ReasonStockNotHeld, Detail: why}}, nil
	}
	return nil, nil
}

// expireSession closes the payment session of a cancelled order: the customer could
// otherwise still pay for it at the provider, and be refunded. An order cancelled at its
// payment deadline by the session's own close (its answer, or the provider's report that
// it expired: paymentTimedOut) has it closed already: closed again, it cost the provider
// a call or two and the payment stream a second report of the same close (a probe). One
// whose close went unanswered for an hour is asked once more.
func expireSession(in Input) ([]Effect, error) {
	o := in.Order
	if o.PaymentSessionID == "" || o.CancelReason == paymentTimedOut.Reason && o.CancelDetail == paymentTimedOut.Detail {
		return nil, nil
	}
	return []Effect{expire(o.ID, o.PaymentSessionID)}, nil
}

func expire(orderID, sessionID string) Effect {
	return SendCommand{Topic: payment.CommandsTopic, Name: payment.ExpireSessionName, Data: payment.ExpireSession{OrderID: orderID, SessionID: sessionID}}
}

func releaseReservation(in Input) ([]Effect, error) {
	if in.Order.ReservationID == "" {
		return nil, nil
	}
	return []Effect{release(in.Order.ID, "order cancelled: "+string(in.Order.CancelReason))}, nil
}

// refundEarlyPayment refunds every payment that arrived early for an order that was then
// given up.
func refundEarlyPayment(in Input) ([]Effect, error) {
	if len(in.State.PendingPayments) == 0 {
		return nil, nil
	}
	effects := []Effect{ClearPendingPayments{}}
	for _, wh := range in.State.PendingPayments {
		if wh.Status == payment.StatusCompleted {
			effects = append(effects, refund(in.Order, wh)...)
		}
	}
	return effects, nil
}

// refund asks the payment service to give back a payment the provider took that the order
// must not keep: one it refused while it waited, one for an order already given up, or a
// second one for an order already paid. Only a signed report of a named payment is
// refunded automatically: an unsigned one (dev mode) could name anybody's payment, and for
// a paid order whose own payment is unnamed (recorded under its session's id) the two may
// be one payment, so a ticket asks a person instead. The payment service refunds a
// payment at most once, however often it is asked, and gives back what is still taken of
// it: a part may have been refunded at the provider already (in Stripe's dashboard), and
// the command says what the order records so (Refund.Refunded). A payment the order
// records refunded in full needs nothing more. Until 2026-12-07 a payment of which the
// order recorded any part refunded was taken for refunded, and its rest stayed taken.
func refund(o *order.Order, wh PaymentWebhook) []Effect {
	why := whyRefund(o)
	whyNot := ""
	switch {
	case wh.PaymentID == "" || wh.Unsigned:
		whyNot = "unsigned or unnamed"
	case o.Paid() && (o.PaymentID == o.PaymentSessionID || o.PaymentID == unreported):
		whyNot = "the order's own payment is unnamed and may be this one"
	}
	if whyNot != "" {
		return []Effect{OpenTicket{Kind: why.ticket, Reason: fmt.Sprintf("payment %q completed for %s: refund it by hand (%s, so not refunded automatically)", wh.PaymentID, why.order, whyNot)}}
	}
	given, known := o.RefundedOf(wh.PaymentID)
	if !known || (wh.Amount > 0 && given >= order.Cents(wh.Amount)) {
		return nil // refunded in full: nothing is left to give back
	}
	return []Effect{SendCommand{Topic: payment.CommandsTopic, Name: payment.RefundName, Data: payment.Refund{
		OrderID: o.ID, PaymentID: wh.PaymentID, SessionID: wh.SessionID, Amount: wh.Amount, Currency: wh.Currency,
		Refunded: int64(given), Reason: why.reason,
	}}, RememberRefund{PaymentID: wh.PaymentID}}
}

// refundWhy is why an order gives a payment back: the refund's reason, the order as the
// ticket tells it, and the kind of that ticket.
type refundWhy struct{ reason, order, ticket string }

// refusedPayment is why a payment the waiting order refused is given back. Its reason
// travels with the refund, so the refund is recorded on the payment_mismatch ticket even
// when the order has been paid or given up by the time the provider confirms it.
var refusedPayment = refundWhy{reason: "a payment the order refused", order: "an order that refused it", ticket: TicketPaymentMismatch}

// whyRefund says why o gives back a payment that comes now: it refuses it while it waits,
// it is paid already, or it was given up.
func whyRefund(o *order.Order) refundWhy {
	switch {
	case waitsForPayment(o):
		return refusedPayment
	case o.Paid():
		paid := "an order already paid as " + o.PaymentID
		return refundWhy{reason: "a second payment for " + paid, order: paid, ticket: TicketSecondPayment}
	}
	return refundWhy{reason: "order " + string(o.Status), order: "an order already " + string(o.Status), ticket: TicketLatePayment}
}

// whyRefunded is why o gave back a payment refunded for reason: a payment the waiting
// order refused says so on its payment_mismatch ticket, even when the order has been paid
// or given up by the time the provider confirms it.
func whyRefunded(o *order.Order, reason string) refundWhy {
	if reason == refusedPayment.reason {
		return refusedPayment
	}
	return whyRefund(o)
}

// waitsForPayment reports whether o waits for its payment, its session recorded: a
// completed payment it refuses then is money it must give back.
func waitsForPayment(o *order.Order) bool {
	return o.Status.Accepts(order.CmdCompletePayment) && o.PaymentSessionID != ""
}

// recordRefund records the provider's refund on the order, and its ticket says what was
// taken and how it was given back. A refund reported again changes nothing. The refund gave
// back what was still taken of the payment: a part refunded at the provider before it (in
// Stripe's dashboard) the order may record already, or not yet, as its report may come
// later, or came while this refund was on its way and was left to this record (a full
// one could have been this refund's). The provider's total with this refund says how much
// that was: the parts the order lacks are recorded first, as the provider's (named by its
// charge, as Stripe's reports name them), then this refund, as the part it adds, so the
// order's refunds of the payment add up to what the provider refunded. Until 2026-12-07 a
// refund of a payment with a part recorded refunded was not recorded at all.
func recordRefund(in Input, ev payment.Refunded) ([]Effect, error) {
	o := in.Order
	if slices.ContainsFunc(o.Refunds, func(r order.Refund) bool { return r.PaymentID == ev.PaymentID && r.RefundID == ev.RefundID }) {
		return nil, nil
	}
	given, known := o.RefundedOf(ev.PaymentID)
	if !known {
		return nil, nil // given back whole already, by a refund that did not say how much
	}
	before := max(given, order.Cents(ev.Total-ev.Amount))
	// The provider's total bounds what the refund adds: the simulator counts what it gave
	// back from the refund's command, asked before a part reported since (dev mode's
	// unsigned events) that the order records now, and 130.00 was recorded refunded of a
	// 100.00 payment.
	adds := order.Cents(ev.Amount)
	if ev.Total > 0 {
		adds = max(0, min(adds, order.Cents(ev.Total)-before))
	}
	var effects []Effect
	if before > given {
		effects = append(effects, RecordRefund{PaymentID: ev.PaymentID, RefundID: cmp.Or(ev.Charge, ev.PaymentID), Amount: before, Currency: ev.Currency})
	}
	why := whyRefunded(o, ev.Reason)
	refunded := "refunded as " + ev.RefundID
	if before > 0 {
		// A rest whose amount nobody said (the payment reported without it, paid at no
		// session of the order's, and a provider that keeps no account: the simulator) is
		// said to be unknown, in the currency of the parts before it.
		rest, currency := "the rest, an amount neither the payment's report nor the payment provider said,", ev.Currency
		if ev.Amount > 0 {
			rest = "the rest, " + adds.Text(ev.Currency) + ","
		}
		if i := slices.IndexFunc(o.Refunds, func(r order.Refund) bool { return r.PaymentID == ev.PaymentID }); currency == "" && i >= 0 {
			currency = o.Refunds[i].Currency
		}
		refunded = fmt.Sprintf("refunded %s as %s; %s of it was refunded at the payment provider before, not by Ordermill", rest, ev.RefundID, before.Text(currency))
	}
	return append(effects,
		RecordRefund{PaymentID: ev.PaymentID, RefundID: ev.RefundID, Amount: before + adds, Currency: ev.Currency},
		OpenTicket{Kind: why.ticket, Reason: fmt.Sprintf("payment %s completed for %s: %s", ev.PaymentID, why.order, refunded)},
	), nil
}

// onAlreadyRefunded takes the payment service's answer to a refund the saga asked for that
// nothing of the payment was left: it was refunded in full at the provider already, not by
// Ordermill (in Stripe's dashboard), and no refund was made. What the order does not record
// of it yet (the report of its last part was left to this answer, as it could have been
// Ordermill's own refund) is recorded as the provider's, and the refund's ticket says
// nothing was left. Until 2026-12-07 Stripe refused the refund, and the command was
// dead-lettered.
func onAlreadyRefunded(in Input, ev payment.AlreadyRefunded) ([]Effect, error) {
	o := in.Order
	var effects []Effect
	if ev.Total > 0 && o.RefundAdds(ev.PaymentID, order.Cents(ev.Total)) {
		effects = append(effects, RecordRefund{PaymentID: ev.PaymentID, RefundID: cmp.Or(ev.Charge, ev.PaymentID), Amount: order.Cents(ev.Total), Currency: ev.Currency})
	}
	whole := "in full"
	if ev.Total > 0 {
		whole += " (" + order.Cents(ev.Total).Text(ev.Currency) + ")"
	}
	why := whyRefunded(o, ev.Reason)
	return append(effects, OpenTicket{Kind: why.ticket, Reason: fmt.Sprintf("payment %s completed for %s: nothing left to refund, it was refunded %s at the payment provider already, not by Ordermill",
		ev.PaymentID, why.order, whole)}), nil
}

// onRefundReport records a refund the saga did not ask for: the order's own payment given
// back at the provider (a refund made in Stripe's dashboard). The order keeps its status,
// the refund is an order event, and a refunded_outside ticket asks a person whether the
// order goes on: its goods may be on their way, paid for no longer. A payment refunded in
// parts is reported once a part, with the running total: each report that refunds more
// than the order records is recorded (as the part it adds) and told on the ticket, as a
// comment once it is open; one that adds nothing (a total recorded already) records
// nothing. Until 2026-12-07 a payment's first refund was its only one: the rest of it,
// given back later, was in Stripe only. A report that may be of a refund the saga asked
// for is left to the payment service's own record of it (recordRefund, or
// onAlreadyRefunded when nothing was left), whichever comes first: a report of the
// payment refunded in full, as that refund leaves it. A part is never that refund's, which
// gives back all that is left, and is recorded (until 2026-12-07 it was left too, and the
// order's books lacked it).
func onRefundReport(in Input, r payment.RefundReport) ([]Effect, error) {
	o := in.Order
	if !o.RefundAdds(r.PaymentID, order.Cents(r.Amount)) || (r.Full && slices.Contains(in.State.Refunding, r.PaymentID)) {
		return nil, nil
	}
	part := "in full"
	if !r.Full {
		part = fmt.Sprintf("in part (%s so far)", order.Cents(r.Amount).Text(r.Currency))
	}
	return []Effect{
		RecordRefund{PaymentID: r.PaymentID, RefundID: r.RefundID, Amount: order.Cents(r.Amount), Currency: r.Currency},
		OpenTicket{Kind: TicketRefundedOutside, Reason: fmt.Sprintf("payment %s refunded %s at the payment provider as %s, not by Ordermill, while the order is %s: decide whether it goes on",
			apperr.Excerpt(r.PaymentID), part, apperr.Excerpt(r.RefundID), o.Status)},
	}, nil
}

// onRefundRefused hands a refund the payment service refused for good (a payment made for
// another order, or a command its contract refuses) to a person with a refund_refused
// ticket: nothing was given back, and the money stays taken until someone does. The
// command was dead-lettered, with nothing on the order to say so, until a person found
// it. A second payment's refusal is a comment on the ticket. A payment whose charge the
// customer disputed is not to be refunded by hand: the dispute decides where its money
// goes, and a refund besides would pay the customer twice; the ticket asks for the
// dispute to be answered (it asked for a refund by hand, as for any refusal).
func onRefundRefused(_ Input, ev payment.RefundRefused) ([]Effect, error) {
	todo := "nothing was given back: refund it by hand, or say here why not"
	if ev.Disputed {
		todo = "the customer disputed the charge, and the dispute decides where its money goes: answer the dispute at the payment provider " +
			"(Stripe's dashboard, Disputes), accepting it to give the money back or countering it with the order's evidence; " +
			"do not refund it by hand, or the customer is paid twice"
	}
	return []Effect{OpenTicket{Kind: TicketRefundRefused, Reason: fmt.Sprintf("the payment service refused to refund payment %s: %s; %s",
		apperr.Excerpt(ev.PaymentID), ev.Reason, todo)}}, nil
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

// confirmation is the email confirming order o once its payment session s is recorded:
// it gives the session's link and the time it is payable until, the payment wait's
// deadline or sooner (the payment service's session.ExpiresAt). The business case sends
// it in parallel with the session's creation; sent then, it asked the customer to pay
// without saying where (a probe, 2026-12-06), so it waits for the session.
func confirmation(o *order.Order, s order.PaymentSession) Effect {
	with := *o
	with.PaymentSessionID, with.PaymentURL, with.PaymentDeadline = s.ID, s.URL, s.Deadline
	subject, body := emailText(KindOrderConfirmed, &with)
	return Notify{Kind: KindOrderConfirmed, Recipient: o.CustomerEmail, Subject: subject, Body: body}
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

// emailText is the customer's email of kind about o. The confirmation says where and by
// when to pay (o's payment session); an order not paid by then is cancelled and its items
// released.
func emailText(kind string, o *order.Order) (subject, body string) {
	total := o.Total.Text(o.Currency)
	switch kind {
	case KindOrderConfirmed:
		return "Your order is confirmed", fmt.Sprintf("We have reserved your items for order %s (%s). Pay at %s by %s to have it shipped; "+
			"an order not paid by then is cancelled and its items released. If you have paid already, there is nothing more to do.",
			o.ID, total, o.PaymentURL, o.PaymentDeadline.UTC().Format("Mon, 02 Jan 2006 15:04 MST"))
	case KindOrderCompleted:
		return "Your order has been delivered", fmt.Sprintf("Order %s has been delivered. Thank you for shopping with us.", o.ID)
	case KindOrderRejected:
		return "Your order could not be accepted", fmt.Sprintf("Order %s (%s) was not accepted after review. Nothing is charged for it: a payment already taken is refunded.", o.ID, total)
	default:
		body := fmt.Sprintf("Order %s (%s) was cancelled: %s.", o.ID, total, cancelledBecause(o))
		if o.ReservationID != "" && o.CancelReason != order.ReasonStockNotHeld { // which says so itself
			body += " The items reserved for it were released."
		}
		return "Your order has been cancelled", body
	}
}

// cancelledBecause says in a customer's words why o was cancelled.
func cancelledBecause(o *order.Order) string {
	switch o.CancelReason {
	case order.ReasonPaymentFailed:
		return "the payment did not go through"
	case order.ReasonOutOfStock:
		if item := shortItem(o); item != "" {
			return item + " is out of stock"
		}
		return "an item is out of stock" // cancelled before the warehouse named the SKU
	case order.ReasonStockNotHeld:
		// Not out of stock: a reservation by hand held other units, was released, or made
		// the warehouse refuse the order's own. Until 2026-12-07 the customer was told an
		// item was out of stock. The staff's views give the cause (the cancellation's detail).
		if o.ReservationID != "" {
			return "the items reserved for it were released before it was paid"
		}
		return "its items could not be reserved for it"
	case order.ReasonTimedOut:
		if o.ReservationID != "" {
			return "it was not paid in time"
		}
		return "it could not be reviewed in time"
	}
	return "it could not go ahead"
}

// shortItem names the line of o the warehouse could not hold as the customer saw it at
// checkout: its catalog name and SKU, or the SKU of a line without a name (orders placed
// before names were kept). It is "" when the warehouse named no SKU (events recorded before
// it was kept) or one that is not o's (recorded before such a failure was stock_not_held,
// order.FailReservation). The name goes into a one-line plain-text sentence: its whitespace
// (catalog text may hold line breaks) becomes single spaces, and what Check refuses in text
// (direction controls, in names stored before they were refused) is dropped, and a name
// past maxItemName characters is cut short: a catalog name may run to a thousand, and the
// mailer sends the body as 8-bit lines, which SMTP bounds at 998 bytes (the SKU still says
// which item it is).
func shortItem(o *order.Order) string {
	sku := o.ReservationFailedSKU
	if sku == "" {
		return ""
	}
	for _, it := range o.Items {
		if it.SKU != sku {
			continue
		}
		if name := []rune(limits.Text("", strings.Join(strings.Fields(it.Name), " ")).Clean()); len(name) > 0 {
			if len(name) > maxItemName {
				name = append(name[:maxItemName-1], '…')
			}
			return string(name) + " (" + sku + ")"
		}
		return sku
	}
	return ""
}

// maxItemName is the most characters of an item's name an email sentence takes.
const maxItemName = 80
