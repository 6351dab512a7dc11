package sagas

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
)

// ---------------------------------------------------------------------------
// Fixtures: clock, orders and the histories that bring an order to each status.
// ---------------------------------------------------------------------------

const (
	testOrderID = "ord-1"
	testEmail   = "alice@example.com"
)

var (
	// testNow is Input.Now, the time the saga decides at.
	testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// testRunAt is the time the runner carries out an OrderCommand.
	testRunAt = testNow.Add(time.Minute)
	// testPlacedAt starts every history; later history events follow a minute apart.
	testPlacedAt = testNow.Add(-2 * time.Hour)
	// testApprovalDeadline is recorded on held orders; it deliberately differs from
	// testNow+ApprovalTimeout so a test can tell which one the saga used.
	testApprovalDeadline = testPlacedAt.Add(24 * time.Hour)
	testSessionExpiry    = testNow.Add(time.Hour)
)

func cents(c order.Cents) *order.Cents { return &c }

func testAddress() *order.Address {
	return &order.Address{Name: "Alice", Line1: "1 Main St", Line2: "Apt 2", City: "Springfield", PostalCode: "12345", Country: "US"}
}

// smallOrder is $100 from a known customer: risk score 10.
func smallOrder() order.PlaceOrder {
	return order.PlaceOrder{
		OrderID: testOrderID, CustomerID: "cust-1", CustomerEmail: testEmail,
		Items: []order.Item{
			{SKU: "SKU-A", Quantity: 2, UnitPrice: cents(25_00), Name: "Espresso cup"},
			{SKU: "SKU-B", Quantity: 1, UnitPrice: cents(50_00)},
		},
		Total: 100_00, Currency: "USD",
		ShippingAddress: testAddress(), BillingAddress: testAddress(),
	}
}

// largeOrder is $50,000 from a new customer: risk score 10+50+25 = 85.
func largeOrder() order.PlaceOrder {
	return order.PlaceOrder{
		OrderID: testOrderID, CustomerID: "cust-2", CustomerEmail: testEmail, NewCustomer: true,
		Items: []order.Item{{SKU: "SKU-LUX", Quantity: 1, UnitPrice: cents(50_000_00)}},
		Total: 50_000_00, Currency: "USD",
		ShippingAddress: testAddress(), BillingAddress: testAddress(),
	}
}

func newCustomerSmallOrder() order.PlaceOrder {
	cmd := smallOrder()
	cmd.NewCustomer = true
	return cmd
}

func noAddressOrder() order.PlaceOrder {
	cmd := smallOrder()
	cmd.ShippingAddress, cmd.BillingAddress = nil, nil
	return cmd
}

var largeFactors = []order.RiskFactor{
	{Code: "amount_over_20000", Description: "order total exceeds $20,000", Points: 50},
	{Code: "new_customer", Description: "first order from this customer", Points: 25},
}

// step is one aggregate command in a history; histories are produced by the aggregate's
// own command methods so they are always valid.
type step func(o *order.Order, at time.Time) ([]order.Event, error)

func place(cmd order.PlaceOrder) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) {
		cmd.At = at
		return o.Place(cmd)
	}
}

func assessWithDeadline(score int, deadline time.Time, factors ...order.RiskFactor) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.AssessRisk(score, factors, DefaultConfig().RiskThreshold, deadline, at)
	}
}

func assess(score int, factors ...order.RiskFactor) step {
	return assessWithDeadline(score, testApprovalDeadline, factors...)
}

func approve(o *order.Order, at time.Time) ([]order.Event, error) {
	return o.Approve("manager@example.com", "known buyer", at)
}

func reject(o *order.Order, at time.Time) ([]order.Event, error) {
	return o.Reject("manager@example.com", "looks fraudulent", at)
}

func reserve(id string) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) { return o.ReserveInventory(id, at) }
}

func failReserve(reason, sku string) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) { return o.FailReservation(reason, sku, at) }
}

func openSession(id string) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.RecordPaymentSession(order.PaymentSession{ID: id, URL: "https://pay.example/" + id, Amount: o.Total, Currency: o.Currency, Deadline: testSessionExpiry}, at)
	}
}

func pay(id string) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.CompletePayment(id, order.Charge{SessionID: o.PaymentSessionID, Amount: o.Total, Currency: o.Currency}, at)
	}
}

func failPay(id, reason string) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) { return o.FailPayment(id, reason, at) }
}

func ship(id string) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.CreateShipment(id, "DHL", "TRK-1", at)
	}
}

func courier(status, reason string) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) { return o.UpdateDelivery(status, reason, at) }
}

func completeOrder(o *order.Order, at time.Time) ([]order.Event, error) { return o.Complete(at) }

func refundPay(paymentID, refundID string) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.RecordRefund(paymentID, refundID, o.Total, o.Currency, at)
	}
}

// refundPart records that the provider reports total of paymentID refunded so far.
func refundPart(paymentID, refundID string, total order.Cents) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.RecordRefund(paymentID, refundID, total, o.Currency, at)
	}
}

func ticketStep(kind, reason string) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.OpenSupportTicket(kind, reason, at)
	}
}

// cancelAs cancels as c does.
func cancelAs(c Cancel) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.Cancel(c.Reason, c.Detail, at)
	}
}

func cancelOrder(reason order.CancelReason) step {
	return func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.Cancel(reason, "cancelled in test", at)
	}
}

// path extends a history without aliasing the base slice.
func path(base []step, more ...step) []step { return append(slices.Clip(base), more...) }

// Histories bringing the order to each status.
var (
	atPlaced             = []step{place(smallOrder())}
	atReserving          = path(atPlaced, assess(10))
	atCancelledReserving = path(atReserving, cancelOrder(order.ReasonTimedOut))
	atOutOfStock         = path(atReserving, failReserve("SKU-B out of stock", "SKU-B"))
	atAwaitingPayment    = path(atReserving, reserve("res-1"))
	atSessionOpen        = path(atAwaitingPayment, openSession("sess-1"))
	atPaymentTimedOut    = path(atSessionOpen, cancelOrder(order.ReasonTimedOut))
	atPaymentFailed      = path(atSessionOpen, failPay("pay-1", "card declined"))
	atAwaitingShipment   = path(atSessionOpen, pay("pay-1"))
	atAwaitingDelivery   = path(atAwaitingShipment, ship("shp-1"))
	atInTransit          = path(atAwaitingDelivery, courier("in_transit", ""))
	atDelivered          = path(atInTransit, courier("delivered", ""))
	atCompleted          = path(atDelivered, completeOrder)
	atDeliveryFailed     = path(atInTransit, courier("failed", "address not found"))

	atAwaitingApproval      = []step{place(largeOrder()), assess(85, largeFactors...)}
	atApproved              = path(atAwaitingApproval, approve)
	atApprovedAndReserved   = path(atApproved, reserve("res-1"))
	atRejected              = path(atAwaitingApproval, reject)
	atApprovalTimedOut      = path(atAwaitingApproval, cancelOrder(order.ReasonTimedOut))
	atHeldAtThreshold       = []step{place(largeOrder()), assess(70)}
	atHeldWithoutDeadline   = []step{place(largeOrder()), assessWithDeadline(85, time.Time{})}
	atPaidWithoutAnyAddress = []step{place(noAddressOrder()), assess(10), reserve("res-1"), openSession("sess-1"), pay("pay-1")}
)

// history runs steps on a fresh order and returns the events they produced.
func history(t testing.TB, steps ...step) []order.Event {
	t.Helper()
	o := &order.Order{}
	var all []order.Event
	for i, s := range steps {
		evs, err := s(o, testPlacedAt.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err, "history step %d", i)
		for _, e := range evs {
			o.Apply(e)
		}
		all = append(all, evs...)
	}
	return all
}

func TestHistoriesReachTheirStatus(t *testing.T) {
	for _, tc := range []struct {
		steps []step
		want  order.Status
	}{
		{atPlaced, order.StatusPlaced},
		{atReserving, order.StatusReserving},
		{atCancelledReserving, order.StatusCancelled},
		{atOutOfStock, order.StatusCancelled},
		{atAwaitingPayment, order.StatusAwaitingPayment},
		{atSessionOpen, order.StatusAwaitingPayment},
		{atPaymentTimedOut, order.StatusCancelled},
		{atPaymentFailed, order.StatusCancelled},
		{atAwaitingShipment, order.StatusAwaitingShipment},
		{atAwaitingDelivery, order.StatusAwaitingDelivery},
		{atInTransit, order.StatusAwaitingDelivery},
		{atDelivered, order.StatusDelivered},
		{atCompleted, order.StatusCompleted},
		{atDeliveryFailed, order.StatusDeliveryFailed},
		{atAwaitingApproval, order.StatusAwaitingApproval},
		{atApproved, order.StatusReserving},
		{atApprovedAndReserved, order.StatusAwaitingPayment},
		{atRejected, order.StatusRejected},
		{atApprovalTimedOut, order.StatusCancelled},
		{atHeldAtThreshold, order.StatusAwaitingApproval},
		{atHeldWithoutDeadline, order.StatusAwaitingApproval},
		{atPaidWithoutAnyAddress, order.StatusAwaitingShipment},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			assert.Equal(t, tc.want, order.Rehydrate(history(t, tc.steps...)).Status)
		})
	}
}

// ---------------------------------------------------------------------------
// Messages.
// ---------------------------------------------------------------------------

func mustJSON(v any) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return raw
}

// ev is an order event message; its payload is filled in from the last event of that
// name in the case's history, exactly as the runner would receive it.
func ev(name string) Message { return Message{Name: name, ID: "evt-" + name} }

func msg(name string, payload any) Message {
	return Message{Name: name, ID: "msg-" + name, Payload: mustJSON(payload)}
}

func deadlineMsg(w order.Wait) Message {
	return msg(DeadlineName(w), map[string]string{"orderId": testOrderID, "wait": string(w)})
}

// payWH is a signed webhook about the small order's session sess-1, for its total.
func payWH(status, paymentID, reason string) PaymentWebhook {
	return PaymentWebhook{Webhook: payment.Webhook{ID: "evt_" + status, OrderID: testOrderID, Status: status, PaymentID: paymentID,
		SessionID: "sess-1", Reason: reason, Amount: 100_00, Currency: "USD"}}
}

func unsignedPayWH(status, paymentID string) PaymentWebhook {
	wh := payWH(status, paymentID, "")
	wh.Unsigned = true
	return wh
}

func refundedMsg(paymentID, refundID string) Message {
	return msg(payment.RefundedName, payment.Refunded{OrderID: testOrderID, PaymentID: paymentID, RefundID: refundID, Amount: 100_00, Currency: "USD", At: testPlacedAt})
}

// refundReport is the provider's report that paymentID was refunded as refundID, amount
// of it so far.
func refundReport(paymentID, refundID string, amount int64, full bool) Message {
	return msg(payment.RefundReportName, payment.RefundReport{ID: "evt_" + refundID, OrderID: testOrderID, PaymentID: paymentID, RefundID: refundID, Amount: amount, Currency: "USD", Full: full})
}

// releasedMsg is the warehouse's report that reservation id was released, by an operator.
func releasedMsg(id string) Message {
	return msg(inventory.ReleasedName, inventory.Released{OrderID: testOrderID, ReservationID: id, Reason: "operator"})
}

func refundCmd(reason string) Effect { return refundOf("pay-1", reason) }

// refusedRefund is the refund of wh, a completed payment the waiting order refused.
func refusedRefund(wh PaymentWebhook) Effect {
	return send(payment.CommandsTopic, payment.RefundName, payment.Refund{OrderID: testOrderID, PaymentID: wh.PaymentID, SessionID: wh.SessionID,
		Amount: wh.Amount, Currency: wh.Currency, Reason: "a payment the order refused"})
}

func refundOf(paymentID, reason string) Effect {
	return send(payment.CommandsTopic, payment.RefundName, payment.Refund{OrderID: testOrderID, PaymentID: paymentID, SessionID: "sess-1", Amount: 100_00, Currency: "USD", Reason: reason})
}

// completedAs is a completed payment webhook for the order's session and total, of payment
// paymentID, with an event id of its own.
func completedAs(paymentID string) PaymentWebhook {
	wh := payWH(payment.StatusCompleted, paymentID, "")
	wh.ID = "evt_completed_" + paymentID
	return wh
}

func payWebhook(status, paymentID, reason string) Message {
	return msg(PaymentWebhookName, payWH(status, paymentID, reason))
}

func withShipment(wh shipping.Webhook, shipmentID string) shipping.Webhook {
	wh.ShipmentID = shipmentID
	return wh
}

func courierWH(status, reason string) shipping.Webhook {
	return shipping.Webhook{ID: "trk_" + status, OrderID: testOrderID, ShipmentID: "shp-1", Status: status, Reason: reason}
}

func courierWebhook(status, reason string) Message {
	return msg(DeliveryWebhookName, courierWH(status, reason))
}

func reservedMsg(reservationID string) Message { return reservedOf(reservationID, smallLines()...) }

func reservedOf(reservationID string, lines ...inventory.Line) Message {
	return msg(inventory.ReservedName, inventory.Reserved{OrderID: testOrderID, ReservationID: reservationID, Lines: lines})
}

func reservationFailedMsg() Message {
	return msg(inventory.ReservationFailedName, inventory.ReservationFailed{OrderID: testOrderID, Reason: "SKU-B out of stock", SKU: "SKU-B"})
}

func sessionRefusedMsg() Message {
	return msg(payment.SessionRefusedName, payment.SessionRefused{OrderID: testOrderID, Reason: `customerEmail "alice" is not an email address`})
}

const refusedSessionDetail = `the payment service refused to open its session: customerEmail "alice" is not an email address`

func shipmentRefusedMsg() Message {
	return msg(shipping.ShipmentRefusedName, shipping.ShipmentRefused{OrderID: testOrderID, Reason: "address.name is too long"})
}

const refusedShipmentReason = "the delivery service refused the order's shipment: address.name is too long; " +
	"the order is paid and stays awaiting_shipment: ship it by hand, or refund it"

const shipmentBookedAfterAll = "the delivery service booked the shipment after all"

func refundRefusedMsg(paymentID string) Message {
	return msg(payment.RefundRefusedName, payment.RefundRefused{OrderID: testOrderID, PaymentID: paymentID, Reason: "it was made for order ord-other; nothing refunded"})
}

func refusedRefundReason(paymentID string) string {
	return "the payment service refused to refund payment " + paymentID + ": it was made for order ord-other; nothing refunded; " +
		"nothing was given back: refund it by hand, or say here why not"
}

func sessionCreatedMsg() Message { return sessionCreatedFor(100_00, "USD") }

func sessionCreatedFor(amount int64, currency string) Message {
	return msg(payment.SessionCreatedName, payment.SessionCreated{
		OrderID: testOrderID, SessionID: "sess-1", URL: "https://pay.example/sess-1",
		Amount: amount, Currency: currency, ExpiresAt: testSessionExpiry,
	})
}

// recordedSession is what recording sessionCreatedMsg on the small order appends.
var recordedSession = order.PaymentSessionCreated{
	SessionID: "sess-1", URL: "https://pay.example/sess-1", Amount: 100_00, Currency: "USD", Deadline: testSessionExpiry, At: testRunAt,
}

// withCharge is wh naming another session, amount or currency.
func withCharge(wh PaymentWebhook, session string, amount int64, currency string) PaymentWebhook {
	wh.SessionID, wh.Amount, wh.Currency = session, amount, currency
	return wh
}

// unsigned is wh as dev mode accepts it without a signature.
func unsigned(wh PaymentWebhook) PaymentWebhook {
	wh.Unsigned = true
	return wh
}

func mismatchTicket(reason string) order.SupportTicketOpened {
	return order.SupportTicketOpened{Kind: TicketPaymentMismatch, Reason: reason, At: testRunAt}
}

func shipmentCreatedMsg() Message {
	return msg(shipping.ShipmentCreatedName, shipping.ShipmentCreated{OrderID: testOrderID, ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1"})
}

// smallParcel is what shipSmall asks the delivery service to carry.
func smallParcel() (*shipping.Address, []shipping.Line) {
	return &shipping.Address{Name: "Alice", Line1: "1 Main St", Line2: "Apt 2", City: "Springfield", PostalCode: "12345", Country: "US"},
		[]shipping.Line{{SKU: "SKU-A", Quantity: 2}, {SKU: "SKU-B", Quantity: 1}}
}

// shipmentCarrying is shipmentCreatedMsg naming what the shipment carries, as the
// delivery service reports it since 2026-12-07.
func shipmentCarrying(address *shipping.Address, lines ...shipping.Line) Message {
	return msg(shipping.ShipmentCreatedName, shipping.ShipmentCreated{OrderID: testOrderID, ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1",
		Address: address, Lines: lines})
}

// ---------------------------------------------------------------------------
// Effects are plain values: a case lists the ones it expects, compared with assert.Equal.
// ---------------------------------------------------------------------------

func send(topic, name string, data any) Effect {
	return SendCommand{Topic: topic, Name: name, Data: data}
}

func schedule(w order.Wait, at time.Time) Effect { return ScheduleDeadline{Wait: w, At: at} }

// notice is the email of kind to the customer of the order the steps bring about; its
// wording is checked by TestProcessOrderEmailText.
func notice(t testing.TB, kind string, steps ...step) Effect {
	subject, body := emailText(kind, order.Rehydrate(history(t, steps...)))
	return Notify{Kind: kind, Recipient: testEmail, Subject: subject, Body: body}
}

// confirmed is the confirmation of the small order once testSession is recorded on it.
func confirmed(t testing.TB) Effect {
	return notice(t, KindOrderConfirmed, atSessionOpen...)
}

func ticket(kind, reason string) Effect { return OpenTicket{Kind: kind, Reason: reason} }

// testSession is the session sessionCreatedMsg reports for the small order.
var testSession = order.PaymentSession{ID: "sess-1", URL: "https://pay.example/sess-1", Amount: 100_00, Currency: "USD", Deadline: testSessionExpiry}

// record runs the order commands among effects one after another on the order history
// leaves, each on the state the ones before it left, at testRunAt, as the runner does, and
// returns the events they record.
func record(t testing.TB, history []order.Event, effects []Effect) []order.Event {
	t.Helper()
	working := order.Rehydrate(history)
	var recorded []order.Event
	for _, e := range effects {
		if c, ok := e.(OrderCommand); ok {
			evs, err := c.Run(working, testRunAt)
			require.NoError(t, err, "%s refused on a %s order", c.Name(), working.Status)
			for _, ev := range evs {
				working.Apply(ev)
			}
			recorded = append(recorded, evs...)
		}
	}
	return recorded
}

// decideRaw runs ProcessOrder.Decide for m against the order rebuilt from history.
func decideRaw(t testing.TB, history []order.Event, state State, m Message, recent int) []Effect {
	t.Helper()
	if m.Payload == nil {
		for i := len(history) - 1; i >= 0; i-- {
			if history[i].EventName() == m.Name {
				m.Payload = mustJSON(history[i])
				break
			}
		}
		require.NotNil(t, m.Payload, "history holds no %s event to send", m.Name)
	}
	o := order.Rehydrate(history)
	st := State{PendingPayments: slices.Clone(state.PendingPayments), PendingDelivery: slices.Clone(state.PendingDelivery), Refunding: slices.Clone(state.Refunding)}
	effects, err := ProcessOrder.Decide(Input{Msg: m, Order: o, State: st, Now: testNow, Cfg: DefaultConfig(), RecentOrders: recent})
	require.NoError(t, err)
	require.Equal(t, order.Rehydrate(history), o, "Decide must not change the order")
	require.Equal(t, state, st, "Decide must not change the saga's memory")
	return effects
}

// decideCase is one message to an order in some state: the effects the flow decides and
// the events its order commands then record.
type decideCase struct {
	name    string
	steps   []step
	state   State
	msg     Message
	recent  int
	want    []Effect
	records []order.Event
}

func runCases(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := history(t, tc.steps...)
			effects := decideRaw(t, events, tc.state, tc.msg, tc.recent)
			assert.Equal(t, tc.want, effects)
			assert.Equal(t, tc.records, record(t, events, effects))
		})
	}
}

// Expected command payloads.

func smallLines() []inventory.Line {
	return []inventory.Line{{SKU: "SKU-A", Quantity: 2}, {SKU: "SKU-B", Quantity: 1}}
}

var (
	reserveSmall = send(inventory.CommandsTopic, inventory.ReserveName, inventory.Reserve{OrderID: testOrderID, Lines: smallLines()})
	reserveLarge = send(inventory.CommandsTopic, inventory.ReserveName, inventory.Reserve{OrderID: testOrderID, Lines: []inventory.Line{{SKU: "SKU-LUX", Quantity: 1}}})
	createSess   = send(payment.CommandsTopic, payment.CreateSessionName, payment.CreateSession{OrderID: testOrderID, Amount: 100_00, Currency: "USD", CustomerEmail: testEmail,
		Lines: []payment.Line{{SKU: "SKU-A", Name: "Espresso cup", Quantity: 2, UnitPrice: 25_00}, {SKU: "SKU-B", Quantity: 1, UnitPrice: 50_00}},
		PayBy: testNow.Add(24 * time.Hour)}) // the payment deadline it arms with it
	shipSmall = send(shipping.CommandsTopic, shipping.CreateShipmentName, shipping.CreateShipment{
		OrderID: testOrderID,
		Address: &shipping.Address{Name: "Alice", Line1: "1 Main St", Line2: "Apt 2", City: "Springfield", PostalCode: "12345", Country: "US"},
		Lines:   []shipping.Line{{SKU: "SKU-A", Quantity: 2}, {SKU: "SKU-B", Quantity: 1}},
	})
	expireSess    = send(payment.CommandsTopic, payment.ExpireSessionName, payment.ExpireSession{OrderID: testOrderID, SessionID: "sess-1"})
	shipNoAddress = send(shipping.CommandsTopic, shipping.CreateShipmentName, shipping.CreateShipment{
		OrderID: testOrderID,
		Lines:   []shipping.Line{{SKU: "SKU-A", Quantity: 2}, {SKU: "SKU-B", Quantity: 1}},
	})
)

// cancelShipmentFx calls off shipment shp-1, booked by hand (shipmentCreatedMsg).
func cancelShipmentFx(reason string) Effect {
	return send(shipping.CommandsTopic, shipping.CancelShipmentName, shipping.CancelShipment{OrderID: testOrderID, ShipmentID: "shp-1", Reason: reason})
}

func shipmentCancelledMsg() Message {
	return msg(shipping.ShipmentCancelledName, shipping.ShipmentCancelled{OrderID: testOrderID, ShipmentID: "shp-hand", Reason: "order awaiting_payment"})
}

func releaseFx(reason string) Effect {
	return send(inventory.CommandsTopic, inventory.ReleaseName, inventory.Release{OrderID: testOrderID, Reason: reason})
}

func cancelledEv(reason order.CancelReason, detail string) order.OrderCancelled {
	return order.OrderCancelled{Reason: reason, Detail: detail, At: testRunAt}
}

func statusEv(status string) order.DeliveryStatusUpdated {
	return order.DeliveryStatusUpdated{Status: status, At: testRunAt}
}

// ---------------------------------------------------------------------------
// The rules, one table per stage of the workflow.
// ---------------------------------------------------------------------------

func TestProcessOrderRisk(t *testing.T) {
	runCases(t, []decideCase{
		{
			name:  "placed: low risk ($100, known customer) is assessed and not held",
			steps: atPlaced, msg: ev(order.NameOrderPlaced),
			want:    []Effect{AssessRisk{Threshold: 70, Score: 10, Deadline: testNow.Add(24 * time.Hour)}},
			records: []order.Event{order.RiskAssessed{Score: 10, Threshold: 70, AssessedAt: testRunAt}},
		},
		{
			name:  "placed: high risk ($50,000, new customer) is held until now+ApprovalTimeout",
			steps: []step{place(largeOrder())}, msg: ev(order.NameOrderPlaced),
			want: []Effect{AssessRisk{Threshold: 70, Score: 85, Factors: largeFactors, Deadline: testNow.Add(24 * time.Hour)}},
			records: []order.Event{
				order.RiskAssessed{Score: 85, Factors: largeFactors, Threshold: 70, AssessedAt: testRunAt},
				order.HeldForApproval{Score: 85, Deadline: testNow.Add(24 * time.Hour), HeldAt: testRunAt},
			},
		},
		{
			name:  "placed: recent orders raise the score (still below threshold)",
			steps: atPlaced, msg: ev(order.NameOrderPlaced), recent: 5,
			want: []Effect{AssessRisk{Threshold: 70, Score: 40, Deadline: testNow.Add(24 * time.Hour),
				Factors: []order.RiskFactor{{Code: "order_velocity", Description: "5 other orders from this customer in the last hour", Points: 30}},
			}},
			records: []order.Event{order.RiskAssessed{
				Score: 40, Threshold: 70, AssessedAt: testRunAt,
				Factors: []order.RiskFactor{{Code: "order_velocity", Description: "5 other orders from this customer in the last hour", Points: 30}},
			}},
		},
		{
			name:  "placed: new customer without recent orders stays below threshold",
			steps: []step{place(newCustomerSmallOrder())}, msg: ev(order.NameOrderPlaced),
			want: []Effect{AssessRisk{Threshold: 70, Score: 35, Deadline: testNow.Add(24 * time.Hour),
				Factors: []order.RiskFactor{{Code: "new_customer", Description: "first order from this customer", Points: 25}},
			}},
			records: []order.Event{order.RiskAssessed{
				Score: 35, Threshold: 70, AssessedAt: testRunAt,
				Factors: []order.RiskFactor{{Code: "new_customer", Description: "first order from this customer", Points: 25}},
			}},
		},
		{
			name:  "placed: recent orders push a new customer to exactly the threshold, which holds",
			steps: []step{place(newCustomerSmallOrder())}, msg: ev(order.NameOrderPlaced), recent: 7,
			want: []Effect{AssessRisk{Threshold: 70, Score: 70, Deadline: testNow.Add(24 * time.Hour), Factors: []order.RiskFactor{
				{Code: "new_customer", Description: "first order from this customer", Points: 25},
				{Code: "order_velocity", Description: "7 other orders from this customer in the last hour", Points: 35},
			}}},
			records: []order.Event{
				order.RiskAssessed{Score: 70, Threshold: 70, AssessedAt: testRunAt, Factors: []order.RiskFactor{
					{Code: "new_customer", Description: "first order from this customer", Points: 25},
					{Code: "order_velocity", Description: "7 other orders from this customer in the last hour", Points: 35},
				}},
				order.HeldForApproval{Score: 70, Deadline: testNow.Add(24 * time.Hour), HeldAt: testRunAt},
			},
		},
		{name: "placed: already assessed (reserving) does nothing", steps: atReserving, msg: ev(order.NameOrderPlaced)},
		{name: "placed: already held does nothing", steps: atAwaitingApproval, msg: ev(order.NameOrderPlaced)},
		{name: "placed: already cancelled does nothing", steps: atCancelledReserving, msg: ev(order.NameOrderPlaced)},
		{name: "placed: already completed does nothing", steps: atCompleted, msg: ev(order.NameOrderPlaced)},

		{
			name:  "risk_assessed below threshold reserves the order's lines",
			steps: atReserving, msg: ev(order.NameRiskAssessed),
			want: []Effect{reserveSmall},
		},
		{name: "risk_assessed above threshold does nothing", steps: atAwaitingApproval, msg: ev(order.NameRiskAssessed)},
		{name: "risk_assessed at exactly the threshold does nothing", steps: atHeldAtThreshold, msg: ev(order.NameRiskAssessed)},
	})
}

func TestProcessOrderApproval(t *testing.T) {
	runCases(t, []decideCase{
		{
			name:  "held_for_approval arms the approval deadline recorded on the order",
			steps: atAwaitingApproval, msg: ev(order.NameHeldForApproval),
			want: []Effect{schedule(order.WaitApproval, testApprovalDeadline)},
		},
		{
			name:  "held_for_approval without a recorded deadline falls back to now+ApprovalTimeout",
			steps: atHeldWithoutDeadline, msg: ev(order.NameHeldForApproval),
			want: []Effect{schedule(order.WaitApproval, testNow.Add(24*time.Hour))},
		},
		{
			name:  "approved reserves the order's lines",
			steps: atApproved, msg: ev(order.NameOrderApproved),
			want: []Effect{reserveLarge},
		},
		{
			name:  "approval deadline while awaiting approval cancels as timed out",
			steps: atAwaitingApproval, msg: deadlineMsg(order.WaitApproval),
			want:    []Effect{Cancel{Reason: order.ReasonTimedOut, Detail: "no manager decision before the deadline"}},
			records: []order.Event{cancelledEv(order.ReasonTimedOut, "no manager decision before the deadline")},
		},
		{name: "approved for an order cancelled meanwhile reserves nothing", steps: path(atApproved, cancelOrder(order.ReasonTimedOut)), msg: ev(order.NameOrderApproved)},
		{name: "approved again once reserved reserves nothing", steps: atApprovedAndReserved, msg: ev(order.NameOrderApproved)},
		{name: "approval deadline after approval (reserving) does nothing", steps: atApproved, msg: deadlineMsg(order.WaitApproval)},
		{name: "approval deadline after approval (awaiting payment) does nothing", steps: atApprovedAndReserved, msg: deadlineMsg(order.WaitApproval)},
		{name: "approval deadline after rejection does nothing", steps: atRejected, msg: deadlineMsg(order.WaitApproval)},
		{name: "approval deadline after it already fired does nothing", steps: atApprovalTimedOut, msg: deadlineMsg(order.WaitApproval)},
	})
}

func TestProcessOrderInventory(t *testing.T) {
	runCases(t, []decideCase{
		{
			name:  "inventory reserved while reserving records the reservation",
			steps: atReserving, msg: reservedMsg("res-1"),
			want:    []Effect{RecordReservation{ID: "res-1"}},
			records: []order.Event{order.InventoryReserved{ReservationID: "res-1", At: testRunAt}},
		},
		{
			name:  "inventory reserved after approval records the reservation",
			steps: atApproved, msg: reservedOf("res-1", inventory.Line{SKU: "SKU-LUX", Quantity: 1}),
			want:    []Effect{RecordReservation{ID: "res-1"}},
			records: []order.Event{order.InventoryReserved{ReservationID: "res-1", At: testRunAt}},
		},
		{
			name:  "inventory reserved with the order's units in other lines records the reservation",
			steps: atReserving, msg: reservedOf("res-1", inventory.Line{SKU: "SKU-B", Quantity: 1}, inventory.Line{SKU: "SKU-A", Quantity: 1}, inventory.Line{SKU: "SKU-A", Quantity: 1}),
			want:    []Effect{RecordReservation{ID: "res-1"}},
			records: []order.Event{order.InventoryReserved{ReservationID: "res-1", At: testRunAt}},
		},
		{
			// An operator's reservation by hand, before the saga's: the order held two
			// units for a one-unit order, and the warehouse refused the saga's own.
			name:  "inventory reserved with other units releases them and cancels the order, its stock not held",
			steps: atApproved, msg: reservedOf("res-hand", inventory.Line{SKU: "SKU-LUX", Quantity: 2}),
			want: []Effect{releaseFx("reservation holds other units than the order"),
				FailReservation{Reason: "its reservation res-hand holds other units than the order (SKU-LUX: 2 held, 1 ordered)"}},
			records: []order.Event{order.ReservationFailed{Reason: "its reservation res-hand holds other units than the order (SKU-LUX: 2 held, 1 ordered)", At: testRunAt},
				cancelledEv(order.ReasonStockNotHeld, "its reservation res-hand holds other units than the order (SKU-LUX: 2 held, 1 ordered)")},
		},
		{
			name:  "inventory reserved while awaiting approval releases the stock",
			steps: atAwaitingApproval, msg: reservedOf("res-hand", inventory.Line{SKU: "SKU-LUX", Quantity: 1}),
			want: []Effect{releaseFx("order no longer awaiting inventory")},
		},
		{
			name:  "inventory reserved for an order cancelled meanwhile releases the stock",
			steps: atCancelledReserving, msg: reservedMsg("res-1"),
			want: []Effect{releaseFx("order no longer awaiting inventory")},
		},
		{name: "inventory reserved again with the recorded id does nothing", steps: atAwaitingPayment, msg: reservedMsg("res-1")},
		{name: "inventory reserved again after a cancellation that released it does nothing", steps: atPaymentTimedOut, msg: reservedMsg("res-1")},

		{
			name:  "reservation failed while reserving fails the reservation and cancels out of stock",
			steps: atReserving, msg: reservationFailedMsg(),
			want:    []Effect{FailReservation{Reason: "SKU-B out of stock", SKU: "SKU-B"}},
			records: []order.Event{order.ReservationFailed{Reason: "SKU-B out of stock", SKU: "SKU-B", At: testRunAt}, cancelledEv(order.ReasonOutOfStock, "SKU-B out of stock")},
		},
		{name: "reservation failed after a reservation does nothing", steps: atAwaitingPayment, msg: reservationFailedMsg()},

		{
			name:  "stock released outside the workflow while awaiting payment cancels the order",
			steps: atSessionOpen, msg: releasedMsg("res-1"),
			want:    []Effect{Cancel{Reason: order.ReasonStockNotHeld, Detail: "its reservation res-1 was released outside its workflow (operator)"}},
			records: []order.Event{cancelledEv(order.ReasonStockNotHeld, "its reservation res-1 was released outside its workflow (operator)")},
		},
		{
			name:  "stock released outside the workflow after payment opens a ticket",
			steps: atAwaitingDelivery, msg: releasedMsg("res-1"),
			want: []Effect{ticket(TicketStockReleased, "its reservation res-1 was released outside its workflow (operator) after the order was paid: its goods may be sold twice; reserve them again or refund")},
		},
		{name: "a release of another reservation does nothing", steps: atSessionOpen, msg: releasedMsg("res-other")},
		{name: "reservation failed twice does nothing", steps: atOutOfStock, msg: reservationFailedMsg()},
		{name: "reservation failed for a cancelled order does nothing", steps: atCancelledReserving, msg: reservationFailedMsg()},
		{name: "reservation failed while awaiting approval does nothing", steps: atAwaitingApproval, msg: reservationFailedMsg()},
	})
}

func TestProcessOrderPayment(t *testing.T) {
	completed := payWH(payment.StatusCompleted, "pay-1", "")
	failed := payWH(payment.StatusFailed, "pay-1", "card declined")
	runCases(t, []decideCase{
		{
			name:  "inventory_reserved opens a payment session and arms the payment deadline",
			steps: atAwaitingPayment, msg: ev(order.NameInventoryReserved),
			want: []Effect{createSess, schedule(order.WaitPayment, testNow.Add(24*time.Hour))},
		},
		{
			name:  "session created while awaiting payment records it",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			want:    []Effect{RecordPaymentSession{Session: testSession}, confirmed(t)},
			records: []order.Event{recordedSession},
		},
		{
			name:  "session refused while awaiting payment cancels the order",
			steps: atAwaitingPayment, msg: sessionRefusedMsg(),
			want:    []Effect{Cancel{Reason: order.ReasonPaymentFailed, Detail: refusedSessionDetail}},
			records: []order.Event{cancelledEv(order.ReasonPaymentFailed, refusedSessionDetail)},
		},
		{name: "session refused once the session is recorded does nothing", steps: atSessionOpen, msg: sessionRefusedMsg()},
		{name: "session refused again after the cancellation does nothing", steps: path(atAwaitingPayment, cancelOrder(order.ReasonPaymentFailed)), msg: sessionRefusedMsg()},
		{
			name:  "session created applies a completed payment that came before it and forgets it",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			state: State{PendingPayments: []PaymentWebhook{completed}},
			want: []Effect{
				RecordPaymentSession{Session: testSession}, confirmed(t),
				ClearPendingPayments{},
				CompletePayment{Webhook: completed},
			},
			records: []order.Event{recordedSession, order.PaymentCompleted{PaymentID: "pay-1", At: testRunAt}},
		},
		{
			name:  "session created applies a failed payment that came before it and forgets it",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			state: State{PendingPayments: []PaymentWebhook{failed}},
			want: []Effect{
				RecordPaymentSession{Session: testSession}, confirmed(t),
				ClearPendingPayments{},
				FailPayment{Webhook: failed},
			},
			records: []order.Event{recordedSession, order.PaymentFailed{PaymentID: "pay-1", Reason: "card declined", At: testRunAt}, cancelledEv(order.ReasonPaymentFailed, "card declined")},
		},
		{
			name:  "session created applies early webhooks in order: a failure cancels, and a payment after it is refunded",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			state: State{PendingPayments: []PaymentWebhook{failed, completedAs("pay-2")}},
			want: []Effect{
				RecordPaymentSession{Session: testSession}, confirmed(t),
				ClearPendingPayments{},
				FailPayment{Webhook: failed},
				refundOf("pay-2", "order cancelled"), RememberRefund{PaymentID: "pay-2"},
			},
			records: []order.Event{recordedSession, order.PaymentFailed{PaymentID: "pay-1", Reason: "card declined", At: testRunAt}, cancelledEv(order.ReasonPaymentFailed, "card declined")},
		},
		{
			name:  "session created applies early webhooks in order: a refused payment opens a ticket and is refunded, and the next one pays",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			state: State{PendingPayments: []PaymentWebhook{withCharge(completedAs("pay-0"), "sess-1", 1, "USD"), completed}},
			want: []Effect{
				RecordPaymentSession{Session: testSession}, confirmed(t),
				ClearPendingPayments{},
				CompletePayment{Webhook: withCharge(completedAs("pay-0"), "sess-1", 1, "USD")},
				refusedRefund(withCharge(completedAs("pay-0"), "sess-1", 1, "USD")), RememberRefund{PaymentID: "pay-0"},
				CompletePayment{Webhook: completed},
			},
			records: []order.Event{recordedSession, mismatchTicket("completed payment pay-0 refused: the payment is for 0.01 USD, the order totals 100.00 USD"), order.PaymentCompleted{PaymentID: "pay-1", At: testRunAt}},
		},
		{
			name:  "session created applies early webhooks in order: a second refused payment is a comment on the mismatch ticket",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			state: State{PendingPayments: []PaymentWebhook{withCharge(completedAs("pay-0"), "sess-1", 1, "USD"), withCharge(completedAs("pay-2"), "sess-other", 100_00, "USD")}},
			want: []Effect{
				RecordPaymentSession{Session: testSession}, confirmed(t),
				ClearPendingPayments{},
				CompletePayment{Webhook: withCharge(completedAs("pay-0"), "sess-1", 1, "USD")},
				refusedRefund(withCharge(completedAs("pay-0"), "sess-1", 1, "USD")), RememberRefund{PaymentID: "pay-0"},
				CompletePayment{Webhook: withCharge(completedAs("pay-2"), "sess-other", 100_00, "USD")},
				refusedRefund(withCharge(completedAs("pay-2"), "sess-other", 100_00, "USD")), RememberRefund{PaymentID: "pay-2"},
			},
			records: []order.Event{
				recordedSession,
				mismatchTicket("completed payment pay-0 refused: the payment is for 0.01 USD, the order totals 100.00 USD"),
				order.TicketCommented{Kind: TicketPaymentMismatch, By: Actor, Text: `completed payment pay-2 refused: the payment names session "sess-other", the order's session is sess-1`, At: testRunAt},
			},
		},
		{
			name:  "session created applies early webhooks in order: a second payment after the one that pays is refunded",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			state: State{PendingPayments: []PaymentWebhook{completed, completedAs("pay-2"), completed}},
			want: []Effect{
				RecordPaymentSession{Session: testSession}, confirmed(t),
				ClearPendingPayments{},
				CompletePayment{Webhook: completed},
				refundOf("pay-2", "a second payment for an order already paid as pay-1"), RememberRefund{PaymentID: "pay-2"},
			},
			records: []order.Event{recordedSession, order.PaymentCompleted{PaymentID: "pay-1", At: testRunAt}},
		},
		{
			name:  "session created applies early webhooks in order: a payment for the wrong amount after the one that pays is refunded",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			state: State{PendingPayments: []PaymentWebhook{completed, withCharge(completedAs("pay-0"), "sess-1", 1, "USD")}},
			want: []Effect{
				RecordPaymentSession{Session: testSession}, confirmed(t),
				ClearPendingPayments{},
				CompletePayment{Webhook: completed},
				send(payment.CommandsTopic, payment.RefundName, payment.Refund{OrderID: testOrderID, PaymentID: "pay-0", SessionID: "sess-1",
					Amount: 1, Currency: "USD", Reason: "a second payment for an order already paid as pay-1"}),
				RememberRefund{PaymentID: "pay-0"},
			},
			records: []order.Event{recordedSession, order.PaymentCompleted{PaymentID: "pay-1", At: testRunAt}},
		},
		{
			name:  "session created applies early webhooks in order: a payment refused for its amount does not pay when it comes again",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			state: State{PendingPayments: []PaymentWebhook{withCharge(completedAs("pay-0"), "sess-1", 1, "USD"), completedAs("pay-0")}},
			want: []Effect{
				RecordPaymentSession{Session: testSession}, confirmed(t),
				ClearPendingPayments{},
				CompletePayment{Webhook: withCharge(completedAs("pay-0"), "sess-1", 1, "USD")},
				refusedRefund(withCharge(completedAs("pay-0"), "sess-1", 1, "USD")), RememberRefund{PaymentID: "pay-0"},
				ticket(TicketPaymentMismatch, "completed payment pay-0 refused: its refund was asked for already"),
			},
			records: []order.Event{recordedSession, mismatchTicket("completed payment pay-0 refused: the payment is for 0.01 USD, the order totals 100.00 USD")},
		},
		{
			name:  "a declined card the last release kept, and one it sent, end nothing and open no ticket",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			state:   State{PendingPayments: []PaymentWebhook{{Webhook: payment.Webhook{ID: "evt-d", OrderID: testOrderID, Status: payment.StatusFailed, PaymentID: "pi-d"}, Declined: true}}},
			want:    []Effect{RecordPaymentSession{Session: testSession}, confirmed(t), ClearPendingPayments{}},
			records: []order.Event{recordedSession},
		},
		{
			name:  "session created applies early webhooks in order: after a payment, a later failure changes nothing",
			steps: atAwaitingPayment, msg: sessionCreatedMsg(),
			state: State{PendingPayments: []PaymentWebhook{completed, failed}},
			want: []Effect{
				RecordPaymentSession{Session: testSession}, confirmed(t),
				ClearPendingPayments{},
				CompletePayment{Webhook: completed},
			},
			records: []order.Event{recordedSession, order.PaymentCompleted{PaymentID: "pay-1", At: testRunAt}},
		},
		{
			name:  "session created for less than the order's total is not recorded: a ticket says why",
			steps: atAwaitingPayment, msg: sessionCreatedFor(1, "USD"), state: State{PendingPayments: []PaymentWebhook{completed}},
			want: []Effect{ticket(TicketPaymentMismatch, "payment session sess-1 not recorded: the session is for 0.01 USD, the order totals 100.00 USD")},
		},
		{
			name:  "session created in another currency is not recorded",
			steps: atAwaitingPayment, msg: sessionCreatedFor(100_00, "EUR"),
			want: []Effect{ticket(TicketPaymentMismatch, "payment session sess-1 not recorded: the session is for 100.00 EUR, the order totals 100.00 USD")},
		},
		{
			name:  "payment webhook while awaiting payment before the session is recorded is remembered",
			steps: atAwaitingPayment, msg: payWebhook(payment.StatusCompleted, "pay-1", ""),
			want: []Effect{KeepPendingPayment{Webhook: completed}},
		},
		{
			name:  "payment webhook completed for another session is refused with a ticket and refunded",
			steps: atSessionOpen, msg: msg(PaymentWebhookName, withCharge(completed, "sess-other", 100_00, "USD")),
			want:    []Effect{CompletePayment{Webhook: withCharge(completed, "sess-other", 100_00, "USD")}, refusedRefund(withCharge(completed, "sess-other", 100_00, "USD")), RememberRefund{PaymentID: "pay-1"}},
			records: []order.Event{mismatchTicket(`completed payment pay-1 refused: the payment names session "sess-other", the order's session is sess-1`)},
		},
		{
			name:  "payment webhook completed for 0.01 is refused with a ticket and refunded",
			steps: atSessionOpen, msg: msg(PaymentWebhookName, withCharge(completed, "sess-1", 1, "USD")),
			want:    []Effect{CompletePayment{Webhook: withCharge(completed, "sess-1", 1, "USD")}, refusedRefund(withCharge(completed, "sess-1", 1, "USD")), RememberRefund{PaymentID: "pay-1"}},
			records: []order.Event{mismatchTicket("completed payment pay-1 refused: the payment is for 0.01 USD, the order totals 100.00 USD")},
		},
		{
			name:  "a payment whose refund was asked for does not pay the order, though it comes again for the right amount",
			steps: atSessionOpen, msg: msg(PaymentWebhookName, completedAs("pay-0")), state: State{Refunding: []string{"pay-0"}},
			want:    []Effect{ticket(TicketPaymentMismatch, "completed payment pay-0 refused: its refund was asked for already")},
			records: nil,
		},
		{
			name:  "a payment refused for its amount, reported again once its refund was asked for, is refused for its amount again",
			steps: atSessionOpen, msg: msg(PaymentWebhookName, withCharge(completedAs("pay-0"), "sess-1", 1, "USD")), state: State{Refunding: []string{"pay-0"}},
			want: []Effect{ticket(TicketPaymentMismatch, "completed payment pay-0 refused: the payment is for 0.01 USD, the order totals 100.00 USD")},
		},
		{
			name:  "a payment refunded already does not pay the order",
			steps: path(atSessionOpen, refundPay("pay-0", "re-0")), msg: msg(PaymentWebhookName, completedAs("pay-0")),
			want:    []Effect{CompletePayment{Webhook: completedAs("pay-0")}},
			records: []order.Event{mismatchTicket("completed payment pay-0 refused: payment pay-0 was refunded")},
		},
		{
			name:  "payment webhook completed in another currency is refused with a ticket and refunded",
			steps: atSessionOpen, msg: msg(PaymentWebhookName, withCharge(completed, "sess-1", 100_00, "EUR")),
			want:    []Effect{CompletePayment{Webhook: withCharge(completed, "sess-1", 100_00, "EUR")}, refusedRefund(withCharge(completed, "sess-1", 100_00, "EUR")), RememberRefund{PaymentID: "pay-1"}},
			records: []order.Event{mismatchTicket("completed payment pay-1 refused: the payment is for 100.00 EUR, the order totals 100.00 USD")},
		},
		{
			name:  "a signed payment webhook naming no session, amount or currency is refused and refunded",
			steps: atSessionOpen, msg: msg(PaymentWebhookName, withCharge(completed, "", 0, "")),
			want:    []Effect{CompletePayment{Webhook: withCharge(completed, "", 0, "")}, refusedRefund(withCharge(completed, "", 0, "")), RememberRefund{PaymentID: "pay-1"}},
			records: []order.Event{mismatchTicket(`completed payment pay-1 refused: the payment names session "", the order's session is sess-1`)},
		},
		{
			name:  "the business case's bare unsigned webhook (dev mode) pays with the order's own session",
			steps: atSessionOpen, msg: msg(PaymentWebhookName, unsigned(withCharge(completed, "", 0, ""))),
			want:    []Effect{CompletePayment{Webhook: unsigned(withCharge(completed, "", 0, ""))}},
			records: []order.Event{order.PaymentCompleted{PaymentID: "pay-1", At: testRunAt}},
		},
		{
			name:  "an unsigned webhook still has what it names checked, and its refund is left to a person",
			steps: atSessionOpen, msg: msg(PaymentWebhookName, unsigned(withCharge(completed, "", 1, ""))),
			want: []Effect{CompletePayment{Webhook: unsigned(withCharge(completed, "", 1, ""))},
				ticket(TicketPaymentMismatch, `payment "pay-1" completed for an order that refused it: refund it by hand (unsigned or unnamed, so not refunded automatically)`)},
			records: []order.Event{mismatchTicket("completed payment pay-1 refused: the payment is for 0.01 USD, the order totals 100.00 USD")},
		},
		{
			name:  "payment webhook failed for another session does not cancel the order",
			steps: atSessionOpen, msg: msg(PaymentWebhookName, withCharge(failed, "sess-other", 100_00, "USD")),
			want:    []Effect{FailPayment{Webhook: withCharge(failed, "sess-other", 100_00, "USD")}},
			records: []order.Event{mismatchTicket(`failed payment pay-1 refused: it names session "sess-other", the order's session is sess-1`)},
		},

		{name: "session created when a session is recorded does nothing", steps: atSessionOpen, msg: sessionCreatedMsg()},
		{name: "session created for a cancelled order with its session does nothing", steps: atPaymentTimedOut, msg: sessionCreatedMsg()},
		{
			name:  "session created for an order cancelled before it was recorded closes it",
			steps: path(atAwaitingPayment, cancelOrder(order.ReasonTimedOut)), msg: sessionCreatedMsg(),
			want: []Effect{expireSess},
		},
		{name: "session created for a paid order does nothing", steps: atAwaitingShipment, msg: sessionCreatedMsg()},

		{
			name:  "payment webhook completed while awaiting payment completes the payment",
			steps: atSessionOpen, msg: payWebhook(payment.StatusCompleted, "pay-1", ""),
			want:    []Effect{CompletePayment{Webhook: payWH(payment.StatusCompleted, "pay-1", "")}},
			records: []order.Event{order.PaymentCompleted{PaymentID: "pay-1", At: testRunAt}},
		},
		{
			name:  "payment webhook failed while awaiting payment fails the payment and cancels",
			steps: atSessionOpen, msg: payWebhook(payment.StatusFailed, "pay-1", "card declined"),
			want:    []Effect{FailPayment{Webhook: payWH(payment.StatusFailed, "pay-1", "card declined")}},
			records: []order.Event{order.PaymentFailed{PaymentID: "pay-1", Reason: "card declined", At: testRunAt}, cancelledEv(order.ReasonPaymentFailed, "card declined")},
		},
		{
			name:  "a declined card the last release sent ends nothing",
			steps: atSessionOpen, msg: msg(PaymentWebhookName, PaymentWebhook{Webhook: payment.Webhook{ID: "evt-d", OrderID: testOrderID, Status: payment.StatusFailed, PaymentID: "pi-d"}, Declined: true}),
			want: nil,
		},
		{
			name:  "payment webhook failed without a reason gets a default reason",
			steps: atSessionOpen, msg: payWebhook(payment.StatusFailed, "", ""),
			want:    []Effect{FailPayment{Webhook: payWH(payment.StatusFailed, "", "")}},
			records: []order.Event{order.PaymentFailed{Reason: "the payment provider reported a failure", At: testRunAt}, cancelledEv(order.ReasonPaymentFailed, "the payment provider reported a failure")},
		},
		{
			name:  "payment webhook while awaiting approval is remembered",
			steps: atAwaitingApproval, msg: payWebhook(payment.StatusCompleted, "pay-1", ""),
			want: []Effect{KeepPendingPayment{Webhook: completed}},
		},
		{
			name:  "payment webhook while placed is remembered",
			steps: atPlaced, msg: payWebhook(payment.StatusFailed, "pay-1", "card declined"),
			want: []Effect{KeepPendingPayment{Webhook: failed}},
		},
		{
			name:  "payment webhook while reserving is remembered after those before it",
			steps: atReserving, msg: payWebhook(payment.StatusCompleted, "pay-1", ""),
			state: State{PendingPayments: []PaymentWebhook{failed}},
			want:  []Effect{KeepPendingPayment{Webhook: completed}},
		},
		{name: "payment webhook for a paid order (duplicate) does nothing", steps: atAwaitingShipment, msg: payWebhook(payment.StatusCompleted, "pay-1", "")},
		{name: "payment webhook failed for a paid order does nothing", steps: atAwaitingShipment, msg: payWebhook(payment.StatusFailed, "pay-2", "declined")},
		{name: "payment webhook while awaiting delivery does nothing", steps: atAwaitingDelivery, msg: payWebhook(payment.StatusCompleted, "pay-1", "")},
		{name: "payment webhook for a completed order does nothing", steps: atCompleted, msg: payWebhook(payment.StatusCompleted, "pay-1", "")},
		{
			name:  "a second payment for a paid order asks for its refund",
			steps: atAwaitingShipment, msg: payWebhook(payment.StatusCompleted, "pay-2", ""),
			want: []Effect{refundOf("pay-2", "a second payment for an order already paid as pay-1"), RememberRefund{PaymentID: "pay-2"}},
		},
		{
			name:  "a second payment for a completed order asks for its refund",
			steps: atCompleted, msg: payWebhook(payment.StatusCompleted, "pay-2", ""),
			want: []Effect{refundOf("pay-2", "a second payment for an order already paid as pay-1"), RememberRefund{PaymentID: "pay-2"}},
		},
		{
			name:  "a second payment for a paid order already refunded does nothing",
			steps: path(atDeliveryFailed, refundPay("pay-2", "re-2")), msg: payWebhook(payment.StatusCompleted, "pay-2", ""),
		},
		{
			name:  "an unsigned second payment for a paid order opens a ticket instead",
			steps: atAwaitingDelivery, msg: msg(PaymentWebhookName, unsignedPayWH(payment.StatusCompleted, "pay-2")),
			want: []Effect{ticket(TicketSecondPayment, `payment "pay-2" completed for an order already paid as pay-1: refund it by hand (unsigned or unnamed, so not refunded automatically)`)},
		},
		{
			name:  "a named payment for an order paid under its session's id opens a ticket instead: they may be one",
			steps: path(atSessionOpen, pay("sess-1")), msg: payWebhook(payment.StatusCompleted, "pay-2", ""),
			want: []Effect{ticket(TicketSecondPayment, `payment "pay-2" completed for an order already paid as sess-1: refund it by hand (the order's own payment is unnamed and may be this one, so not refunded automatically)`)},
		},
		{
			name:  "an unnamed payment of the session for an order paid under its session's id does nothing",
			steps: path(atSessionOpen, pay("sess-1")), msg: payWebhook(payment.StatusCompleted, "", ""),
		},
		{
			name:  "a second payment's refund is recorded, and the second_payment ticket says so",
			steps: atCompleted, msg: refundedMsg("pay-2", "re-2"),
			want:    []Effect{RecordRefund{PaymentID: "pay-2", RefundID: "re-2", Amount: 100_00, Currency: "USD"}, ticket(TicketSecondPayment, "payment pay-2 completed for an order already paid as pay-1: refunded as re-2")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-2", RefundID: "re-2", Amount: 100_00, Currency: "USD", At: testRunAt}},
		},
		{
			name:  "a refused payment's refund is recorded while the order waits, and the payment_mismatch ticket says so",
			steps: path(atSessionOpen, ticketStep(TicketPaymentMismatch, "completed payment pay-2 refused: the payment is for 0.01 USD, the order totals 100.00 USD")),
			msg:   refundedMsg("pay-2", "re-2"),
			want: []Effect{RecordRefund{PaymentID: "pay-2", RefundID: "re-2", Amount: 100_00, Currency: "USD"},
				ticket(TicketPaymentMismatch, "payment pay-2 completed for an order that refused it: refunded as re-2")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-2", RefundID: "re-2", Amount: 100_00, Currency: "USD", At: testRunAt}},
		},
		{
			name:  "a refused payment's refund confirmed once the order is paid is still told on the payment_mismatch ticket",
			steps: path(atAwaitingShipment, ticketStep(TicketPaymentMismatch, "completed payment pay-2 refused: the payment is for 0.01 USD, the order totals 100.00 USD")),
			msg: msg(payment.RefundedName, payment.Refunded{OrderID: testOrderID, PaymentID: "pay-2", RefundID: "re-2", Amount: 1, Currency: "USD",
				Reason: "a payment the order refused", At: testPlacedAt}),
			want: []Effect{RecordRefund{PaymentID: "pay-2", RefundID: "re-2", Amount: 1, Currency: "USD"},
				ticket(TicketPaymentMismatch, "payment pay-2 completed for an order that refused it: refunded as re-2")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-2", RefundID: "re-2", Amount: 1, Currency: "USD", At: testRunAt}},
		},
		{
			name:  "payment webhook completed for a cancelled order asks for a refund",
			steps: atPaymentTimedOut, msg: payWebhook(payment.StatusCompleted, "pay-1", ""),
			want: []Effect{refundCmd("order cancelled"), RememberRefund{PaymentID: "pay-1"}},
		},
		{
			name:  "a session found paid when the cancelled order's session was closed asks for a refund",
			steps: atPaymentTimedOut, msg: msg(payment.SessionFoundPaidName, payment.SessionFoundPaid{OrderID: testOrderID, SessionID: "sess-1", PaymentID: "pay-1", Amount: 100_00, Currency: "USD"}),
			want: []Effect{refundCmd("order cancelled"), RememberRefund{PaymentID: "pay-1"}},
		},
		{
			name:  "payment webhook completed for a rejected order asks for a refund",
			steps: atRejected, msg: payWebhook(payment.StatusCompleted, "pay-1", ""),
			want: []Effect{refundCmd("order rejected"), RememberRefund{PaymentID: "pay-1"}},
		},
		{
			name:  "unsigned payment webhook completed for a cancelled order opens a ticket instead",
			steps: atPaymentTimedOut, msg: msg(PaymentWebhookName, unsignedPayWH(payment.StatusCompleted, "pay-1")),
			want: []Effect{ticket(TicketLatePayment, `payment "pay-1" completed for an order already cancelled: refund it by hand (unsigned or unnamed, so not refunded automatically)`)},
		},
		{
			name:  "payment webhook completed for a cancelled order already refunded does nothing",
			steps: path(atPaymentTimedOut, refundPay("pay-1", "re-1")), msg: payWebhook(payment.StatusCompleted, "pay-1", ""),
		},
		{
			name:  "a refund is recorded, and the ticket says so",
			steps: atPaymentTimedOut, msg: refundedMsg("pay-1", "re-1"),
			want:    []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "re-1", Amount: 100_00, Currency: "USD"}, ticket(TicketLatePayment, "payment pay-1 completed for an order already cancelled: refunded as re-1")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-1", RefundID: "re-1", Amount: 100_00, Currency: "USD", At: testRunAt}},
		},
		{
			name:  "a refund reported twice is recorded once",
			steps: path(atPaymentTimedOut, refundPay("pay-1", "re-1")), msg: refundedMsg("pay-1", "re-1"),
		},
		{
			name:    "a second refund on the order is a comment on its ticket",
			steps:   path(atPaymentTimedOut, refundPay("pay-1", "re-1"), ticketStep(TicketLatePayment, "payment pay-1 completed for an order already cancelled: refunded as re-1")),
			msg:     refundedMsg("pay-2", "re-2"),
			want:    []Effect{RecordRefund{PaymentID: "pay-2", RefundID: "re-2", Amount: 100_00, Currency: "USD"}, ticket(TicketLatePayment, "payment pay-2 completed for an order already cancelled: refunded as re-2")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-2", RefundID: "re-2", Amount: 100_00, Currency: "USD", At: testRunAt}},
		},
		{name: "payment webhook failed for a cancelled order does nothing", steps: atPaymentFailed, msg: payWebhook(payment.StatusFailed, "pay-1", "card declined")},
		{
			name:  "a refund the payment service refused opens a ticket: the money stays taken",
			steps: atPaymentTimedOut, msg: refundRefusedMsg("pay-1"),
			want: []Effect{ticket(TicketRefundRefused, refusedRefundReason("pay-1"))},
		},
		{
			name:  "a refund refused as the charge is disputed asks for the dispute to be answered, not for a refund by hand",
			steps: atPaymentTimedOut,
			msg: msg(payment.RefundRefusedName, payment.RefundRefused{OrderID: testOrderID, PaymentID: "pay-1", Disputed: true,
				Reason: "Stripe refuses it: Charge ch_1 has been charged back; cannot issue a refund. (charge_disputed, request req_1); nothing refunded"}),
			want: []Effect{ticket(TicketRefundRefused, "the payment service refused to refund payment pay-1: Stripe refuses it: Charge ch_1 has been charged back; "+
				"cannot issue a refund. (charge_disputed, request req_1); nothing refunded; the customer disputed the charge, and the dispute decides "+
				"where its money goes: answer the dispute at the payment provider (Stripe's dashboard, Disputes), accepting it to give the money back "+
				"or countering it with the order's evidence; do not refund it by hand, or the customer is paid twice")},
		},
		{
			name:  "a second payment's refund refused goes to the same ticket kind (a comment)",
			steps: path(atPaymentTimedOut, ticketStep(TicketRefundRefused, refusedRefundReason("pay-1"))), msg: refundRefusedMsg("pay-2"),
			want: []Effect{ticket(TicketRefundRefused, refusedRefundReason("pay-2"))},
		},

		{
			name:  "the order's payment refunded at the provider is recorded, and a ticket asks whether the order goes on",
			steps: atAwaitingDelivery, msg: refundReport("pay-1", "re-9", 100_00, true),
			want: []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "re-9", Amount: 100_00, Currency: "USD"},
				ticket(TicketRefundedOutside, "payment pay-1 refunded in full at the payment provider as re-9, not by Ordermill, while the order is awaiting_delivery: decide whether it goes on")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-1", RefundID: "re-9", Amount: 100_00, Currency: "USD", At: testRunAt}},
		},
		{
			name:  "a part refunded at the provider says how much",
			steps: atCompleted, msg: refundReport("pay-1", "re-9", 25_00, false),
			want: []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "re-9", Amount: 25_00, Currency: "USD"},
				ticket(TicketRefundedOutside, "payment pay-1 refunded in part (25.00 USD so far) at the payment provider as re-9, not by Ordermill, while the order is completed: decide whether it goes on")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-1", RefundID: "re-9", Amount: 25_00, Currency: "USD", At: testRunAt}},
		},
		{
			name: "the rest of a payment refunded in part is recorded as what it adds, and told on the ticket",
			steps: path(atAwaitingDelivery, refundPart("pay-1", "ch-1", 30_00),
				ticketStep(TicketRefundedOutside, "payment pay-1 refunded in part (30.00 USD so far)")),
			msg: refundReport("pay-1", "ch-1", 100_00, true),
			want: []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "ch-1", Amount: 100_00, Currency: "USD"},
				ticket(TicketRefundedOutside, "payment pay-1 refunded in full at the payment provider as ch-1, not by Ordermill, while the order is awaiting_delivery: decide whether it goes on")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-1", RefundID: "ch-1", Amount: 70_00, Total: 100_00, Currency: "USD", At: testRunAt}},
		},
		{
			name:  "a second part refunded is recorded as what it adds",
			steps: path(atAwaitingDelivery, refundPart("pay-1", "ch-1", 30_00)), msg: refundReport("pay-1", "ch-1", 45_00, false),
			want: []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "ch-1", Amount: 45_00, Currency: "USD"},
				ticket(TicketRefundedOutside, "payment pay-1 refunded in part (45.00 USD so far) at the payment provider as ch-1, not by Ordermill, while the order is awaiting_delivery: decide whether it goes on")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-1", RefundID: "ch-1", Amount: 15_00, Total: 45_00, Currency: "USD", At: testRunAt}},
		},
		{
			name:  "a report of a total recorded already, or of less (an older one, late), records nothing",
			steps: path(atAwaitingDelivery, refundPart("pay-1", "ch-1", 30_00), refundPart("pay-1", "ch-1", 45_00)), msg: refundReport("pay-1", "ch-1", 30_00, false),
		},
		{
			name:  "the report of a refund the saga asked for is left to the payment service's record",
			steps: atPaymentTimedOut, msg: refundReport("pay-1", "re-1", 100_00, true), state: State{Refunding: []string{"pay-1"}},
		},
		{
			name:  "the report of a refund already recorded records nothing",
			steps: path(atPaymentTimedOut, refundPay("pay-1", "re-1")), msg: refundReport("pay-1", "re-1", 100_00, true),
		},

		// A refund Ordermill asks for, of a payment a part of which was refunded at the
		// provider (Stripe's dashboard), gives back the rest. Until 2026-12-07 the part on
		// the order was taken for the whole, and the rest stayed taken.
		{
			name:  "a payment for a cancelled order, a part of it refunded at the provider already, has its rest refunded",
			steps: path(atPaymentTimedOut, refundPart("pay-1", "ch-1", 30_00)), msg: payWebhook(payment.StatusCompleted, "pay-1", ""),
			want: []Effect{send(payment.CommandsTopic, payment.RefundName, payment.Refund{OrderID: testOrderID, PaymentID: "pay-1", SessionID: "sess-1",
				Amount: 100_00, Currency: "USD", Refunded: 30_00, Reason: "order cancelled"}), RememberRefund{PaymentID: "pay-1"}},
		},
		{
			name:  "a second payment, a part of it refunded at the provider already, has its rest refunded",
			steps: path(atAwaitingDelivery, refundPart("pay-2", "ch-2", 99_99)), msg: payWebhook(payment.StatusCompleted, "pay-2", ""),
			want: []Effect{send(payment.CommandsTopic, payment.RefundName, payment.Refund{OrderID: testOrderID, PaymentID: "pay-2", SessionID: "sess-1",
				Amount: 100_00, Currency: "USD", Refunded: 99_99, Reason: "a second payment for an order already paid as pay-1"}), RememberRefund{PaymentID: "pay-2"}},
		},
		{
			name:  "a payment refunded in full at the provider in parts needs no refund",
			steps: path(atPaymentTimedOut, refundPart("pay-1", "ch-1", 30_00), refundPart("pay-1", "ch-1", 100_00)), msg: payWebhook(payment.StatusCompleted, "pay-1", ""),
		},
		{
			name:  "a payment whose report does not say its amount, a part of it refunded, is left to the payment service to count",
			steps: path(atPaymentTimedOut, refundPart("pay-1", "ch-1", 30_00)), msg: msg(PaymentWebhookName, withCharge(completedAs("pay-1"), "sess-1", 0, "")),
			want: []Effect{send(payment.CommandsTopic, payment.RefundName, payment.Refund{OrderID: testOrderID, PaymentID: "pay-1", SessionID: "sess-1",
				Refunded: 30_00, Reason: "order cancelled"}), RememberRefund{PaymentID: "pay-1"}},
		},
		{
			name: "the refund of the rest is recorded as the part it adds, and the ticket says both",
			steps: path(atPaymentTimedOut, refundPart("pay-1", "ch-1", 30_00),
				ticketStep(TicketRefundedOutside, "payment pay-1 refunded in part (30.00 USD so far)")),
			msg: msg(payment.RefundedName, payment.Refunded{OrderID: testOrderID, PaymentID: "pay-1", RefundID: "re-1", Amount: 70_00, Total: 100_00,
				Currency: "USD", Charge: "ch-1", Reason: "order cancelled", At: testPlacedAt}),
			want: []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "re-1", Amount: 100_00, Currency: "USD"},
				ticket(TicketLatePayment, "payment pay-1 completed for an order already cancelled: refunded the rest, 70.00 USD, as re-1; 30.00 USD of it was refunded at the payment provider before, not by Ordermill")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-1", RefundID: "re-1", Amount: 70_00, Total: 100_00, Currency: "USD", At: testRunAt}},
		},
		{
			name: "the refund of a rest whose amount nobody said says so on the ticket",
			steps: path(atPaymentTimedOut, refundPart("pay-1", "ch-1", 30_00),
				ticketStep(TicketRefundedOutside, "payment pay-1 refunded in part (30.00 USD so far)")),
			msg: msg(payment.RefundedName, payment.Refunded{OrderID: testOrderID, PaymentID: "pay-1", RefundID: "re-1", Reason: "order cancelled", At: testPlacedAt}),
			want: []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "re-1", Amount: 30_00},
				ticket(TicketLatePayment, "payment pay-1 completed for an order already cancelled: refunded the rest, an amount neither the payment's report "+
					"nor the payment provider said, as re-1; 30.00 USD of it was refunded at the payment provider before, not by Ordermill")},
		},
		{
			// The part's report is late (Stripe's events come in any order): the refund's
			// total says it, and the order records it first, named by the charge.
			name:  "the refund of the rest records a part refunded before it that the order did not know of",
			steps: atPaymentTimedOut, state: State{Refunding: []string{"pay-1"}},
			msg: msg(payment.RefundedName, payment.Refunded{OrderID: testOrderID, PaymentID: "pay-1", RefundID: "re-1", Amount: 70_00, Total: 100_00,
				Currency: "USD", Charge: "ch-1", Reason: "order cancelled", At: testPlacedAt}),
			want: []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "ch-1", Amount: 30_00, Currency: "USD"},
				RecordRefund{PaymentID: "pay-1", RefundID: "re-1", Amount: 100_00, Currency: "USD"},
				ticket(TicketLatePayment, "payment pay-1 completed for an order already cancelled: refunded the rest, 70.00 USD, as re-1; 30.00 USD of it was refunded at the payment provider before, not by Ordermill")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-1", RefundID: "ch-1", Amount: 30_00, Currency: "USD", At: testRunAt},
				order.PaymentRefunded{PaymentID: "pay-1", RefundID: "re-1", Amount: 70_00, Total: 100_00, Currency: "USD", At: testRunAt}},
		},
		{
			// The simulator counts the rest from the refund's command, asked before the
			// part's report (an unsigned event, in dev mode) came: 100.00 USD. Its total
			// says the payment is refunded in full, which bounds what the refund adds: the
			// order recorded 130.00 USD refunded of a 100.00 USD payment.
			name: "a refund of the rest that counted a part recorded since adds only what the provider's total leaves",
			steps: path(atPaymentTimedOut, refundPart("pay-1", "ch-1", 30_00),
				ticketStep(TicketRefundedOutside, "payment pay-1 refunded in part (30.00 USD so far)")),
			msg: msg(payment.RefundedName, payment.Refunded{OrderID: testOrderID, PaymentID: "pay-1", RefundID: "re-1", Amount: 100_00, Total: 100_00,
				Currency: "USD", Reason: "order cancelled", At: testPlacedAt}),
			want: []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "re-1", Amount: 100_00, Currency: "USD"},
				ticket(TicketLatePayment, "payment pay-1 completed for an order already cancelled: refunded the rest, 70.00 USD, as re-1; 30.00 USD of it was refunded at the payment provider before, not by Ordermill")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-1", RefundID: "re-1", Amount: 70_00, Total: 100_00, Currency: "USD", At: testRunAt}},
		},
		{
			name:  "the refund of the rest reported again records nothing",
			steps: path(atPaymentTimedOut, refundPart("pay-1", "ch-1", 30_00), refundPart("pay-1", "re-1", 100_00)),
			msg: msg(payment.RefundedName, payment.Refunded{OrderID: testOrderID, PaymentID: "pay-1", RefundID: "re-1", Amount: 70_00, Total: 100_00,
				Currency: "USD", Charge: "ch-1", Reason: "order cancelled", At: testPlacedAt}),
		},
		{
			name:  "once the rest is refunded, the payment reported again asks nothing",
			steps: path(atPaymentTimedOut, refundPart("pay-1", "ch-1", 30_00), refundPart("pay-1", "re-1", 100_00)), msg: payWebhook(payment.StatusCompleted, "pay-1", ""),
		},
		{
			// The rest refunded the refund: it leaves the payment refunded in full, which a
			// part is not, so a part reported while the refund is on its way is the provider's.
			name:  "a part reported while a refund of the payment is on its way is recorded: it is not that refund",
			steps: atPaymentTimedOut, msg: refundReport("pay-1", "ch-1", 30_00, false), state: State{Refunding: []string{"pay-1"}},
			want: []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "ch-1", Amount: 30_00, Currency: "USD"},
				ticket(TicketRefundedOutside, "payment pay-1 refunded in part (30.00 USD so far) at the payment provider as ch-1, not by Ordermill, while the order is cancelled: decide whether it goes on")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-1", RefundID: "ch-1", Amount: 30_00, Currency: "USD", At: testRunAt}},
		},
		{
			name:  "a payment the payment service found refunded in full already is recorded, and the ticket says nothing was left",
			steps: path(atPaymentTimedOut, refundPart("pay-1", "ch-1", 30_00)), state: State{Refunding: []string{"pay-1"}},
			msg: msg(payment.AlreadyRefundedName, payment.AlreadyRefunded{OrderID: testOrderID, PaymentID: "pay-1", Total: 100_00, Currency: "USD",
				Charge: "ch-1", Reason: "order cancelled", At: testPlacedAt}),
			want: []Effect{RecordRefund{PaymentID: "pay-1", RefundID: "ch-1", Amount: 100_00, Currency: "USD"},
				ticket(TicketLatePayment, "payment pay-1 completed for an order already cancelled: nothing left to refund, it was refunded in full (100.00 USD) at the payment provider already, not by Ordermill")},
			records: []order.Event{order.PaymentRefunded{PaymentID: "pay-1", RefundID: "ch-1", Amount: 70_00, Total: 100_00, Currency: "USD", At: testRunAt}},
		},
		{
			name:  "a refused payment found refunded in full already says so on the payment_mismatch ticket",
			steps: path(atAwaitingShipment, refundPay("pay-2", "ch-2")), state: State{Refunding: []string{"pay-2"}},
			msg: msg(payment.AlreadyRefundedName, payment.AlreadyRefunded{OrderID: testOrderID, PaymentID: "pay-2", Total: 100_00, Currency: "USD",
				Charge: "ch-2", Reason: "a payment the order refused", At: testPlacedAt}),
			want: []Effect{ticket(TicketPaymentMismatch, "payment pay-2 completed for an order that refused it: nothing left to refund, it was refunded in full (100.00 USD) at the payment provider already, not by Ordermill")},
		},

		{
			// Not cancelled yet: a payment made in time may not have reached the saga (its
			// webhook waiting behind a stopped orders service).
			name:  "payment deadline while awaiting payment closes the session and waits for the answer",
			steps: atSessionOpen, msg: deadlineMsg(order.WaitPayment),
			want: []Effect{
				SendCommand{Topic: payment.CommandsTopic, Name: payment.ExpireSessionName,
					Data: payment.ExpireSession{OrderID: testOrderID, SessionID: "sess-1", AskedAt: testNow}},
				ScheduleDeadline{Wait: order.WaitPayment, At: testNow.Add(10 * time.Minute), Asking: testNow}, // asked again, if no answer comes
			},
		},
		{
			// A close that fails for good (a key revoked) left the order waiting for ever.
			name:  "payment deadline an hour past, still unanswered, cancels as timed out",
			steps: atSessionOpen,
			msg: msg(DeadlineName(order.WaitPayment), map[string]string{"orderId": testOrderID, "wait": "payment",
				"asking": testNow.Add(-time.Hour).Format(time.RFC3339Nano)}),
			want:    []Effect{Cancel{Reason: order.ReasonTimedOut, Detail: "payment not received before the deadline (the payment service did not answer the session's close for an hour)"}},
			records: []order.Event{cancelledEv(order.ReasonTimedOut, "payment not received before the deadline (the payment service did not answer the session's close for an hour)")},
		},
		{
			name:  "the provider's session expiring unpaid cancels as timed out, not as a failed payment",
			steps: atSessionOpen, msg: payWebhook(payment.StatusFailed, "", payment.ReasonSessionExpired),
			want:    []Effect{Cancel{Reason: order.ReasonTimedOut, Detail: "payment not received before the deadline"}},
			records: []order.Event{cancelledEv(order.ReasonTimedOut, "payment not received before the deadline")},
		},
		{
			name:  "the session closed unpaid cancels the order as timed out",
			steps: atSessionOpen, msg: msg(payment.SessionExpiredName, payment.SessionExpired{OrderID: testOrderID, SessionID: "sess-1"}),
			want:    []Effect{Cancel{Reason: order.ReasonTimedOut, Detail: "payment not received before the deadline"}},
			records: []order.Event{cancelledEv(order.ReasonTimedOut, "payment not received before the deadline")},
		},
		{
			name:  "the session found paid at the deadline pays the order",
			steps: atSessionOpen, msg: msg(payment.SessionFoundPaidName, payment.SessionFoundPaid{OrderID: testOrderID, SessionID: "sess-1", PaymentID: "pay-1", Amount: 100_00, Currency: "USD"}),
			want: []Effect{CompletePayment{Webhook: PaymentWebhook{Webhook: payment.Webhook{OrderID: testOrderID, Status: payment.StatusCompleted,
				PaymentID: "pay-1", SessionID: "sess-1", Amount: 100_00, Currency: "USD"}}}},
			records: []order.Event{order.PaymentCompleted{PaymentID: "pay-1", At: testRunAt}},
		},
		{
			name:  "the session found paid at the deadline for another amount is refunded, and the order cancelled: nothing else can pay it",
			steps: atSessionOpen, msg: msg(payment.SessionFoundPaidName, payment.SessionFoundPaid{OrderID: testOrderID, SessionID: "sess-1", PaymentID: "pay-1", Amount: 1, Currency: "USD"}),
			want: []Effect{
				CompletePayment{Webhook: PaymentWebhook{Webhook: payment.Webhook{OrderID: testOrderID, Status: payment.StatusCompleted, PaymentID: "pay-1", SessionID: "sess-1", Amount: 1, Currency: "USD"}}},
				SendCommand{Topic: payment.CommandsTopic, Name: payment.RefundName, Data: payment.Refund{OrderID: testOrderID, PaymentID: "pay-1", SessionID: "sess-1",
					Amount: 1, Currency: "USD", Reason: "a payment the order refused"}},
				RememberRefund{PaymentID: "pay-1"},
				Cancel{Reason: order.ReasonTimedOut, Detail: "payment not received before the deadline"},
			},
			records: []order.Event{mismatchTicket("completed payment pay-1 refused: the payment is for 0.01 USD, the order totals 100.00 USD"),
				cancelledEv(order.ReasonTimedOut, "payment not received before the deadline")},
		},
		{name: "the session closed after the order was paid does nothing", steps: atAwaitingShipment,
			msg: msg(payment.SessionExpiredName, payment.SessionExpired{OrderID: testOrderID, SessionID: "sess-1"})},
		{name: "another session closed does nothing", steps: atSessionOpen,
			msg: msg(payment.SessionExpiredName, payment.SessionExpired{OrderID: testOrderID, SessionID: "sess-other"})},
		{name: "payment deadline after payment does nothing", steps: atAwaitingShipment, msg: deadlineMsg(order.WaitPayment)},
		{name: "payment deadline after delivery does nothing", steps: atCompleted, msg: deadlineMsg(order.WaitPayment)},
		{name: "payment deadline after a failed payment does nothing", steps: atPaymentFailed, msg: deadlineMsg(order.WaitPayment)},
	})
}

func TestProcessOrderShipping(t *testing.T) {
	inTransit := courierWH(shipping.StatusInTransit, "")
	delivered := courierWH(shipping.StatusDelivered, "")
	deliveryDeadline := schedule(order.WaitDelivery, testNow.Add(7*24*time.Hour))
	runCases(t, []decideCase{
		{
			name:  "payment_completed creates a shipment with address and lines",
			steps: atAwaitingShipment, msg: ev(order.NamePaymentCompleted),
			want: []Effect{shipSmall},
		},
		{
			name:  "payment_completed without a shipping address sends no address",
			steps: atPaidWithoutAnyAddress, msg: ev(order.NamePaymentCompleted),
			want: []Effect{shipNoAddress},
		},

		{
			name:  "shipment created while awaiting shipment records it",
			steps: atAwaitingShipment, msg: shipmentCreatedMsg(),
			want:    []Effect{RecordShipment{ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1"}},
			records: []order.Event{order.ShipmentCreated{ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1", At: testRunAt}},
		},
		{
			name:  "shipment created while awaiting shipment carrying the order's parcel records it, its lines split otherwise",
			steps: atAwaitingShipment,
			msg: func() Message {
				address, _ := smallParcel()
				return shipmentCarrying(address, shipping.Line{SKU: "SKU-B", Quantity: 1}, shipping.Line{SKU: "SKU-A", Quantity: 1}, shipping.Line{SKU: "SKU-A", Quantity: 1})
			}(),
			want:    []Effect{RecordShipment{ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1"}},
			records: []order.Event{order.ShipmentCreated{ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1", At: testRunAt}},
		},
		// A shipment booked by hand with other lines or another address while the paid order
		// waited for its own was recorded as the order's: the courier carried the operator's
		// parcel, and nobody was told. It is called off, and the order's own booked in its
		// place once it is (the ShipmentCancelled rule).
		{
			name:  "shipment booked by hand with other lines while awaiting shipment is called off",
			steps: atAwaitingShipment,
			msg: func() Message {
				address, _ := smallParcel()
				return shipmentCarrying(address, shipping.Line{SKU: "SKU-A", Quantity: 2})
			}(),
			want: []Effect{cancelShipmentFx("order awaiting_shipment: booked with other lines or address than the order's (SKU-B: 0 in the shipment, 1 asked): its shipment is booked by its workflow")},
		},
		{
			name:  "shipment booked by hand to another address while awaiting shipment is called off",
			steps: atAwaitingShipment,
			msg: func() Message {
				address, lines := smallParcel()
				address.City = "Shelbyville"
				return shipmentCarrying(address, lines...)
			}(),
			want: []Effect{cancelShipmentFx("order awaiting_shipment: booked with other lines or address than the order's (address.city): its shipment is booked by its workflow")},
		},
		{
			name:    "shipment booked by hand with other lines after a refusal records it: an operator corrected the command",
			steps:   path(atAwaitingShipment, ticketStep(TicketShipmentRefused, refusedShipmentReason)),
			msg:     shipmentCarrying(nil, shipping.Line{SKU: "SKU-A", Quantity: 2}),
			want:    []Effect{RecordShipment{ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1"}},
			records: []order.Event{order.ShipmentCreated{ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1", At: testRunAt}},
		},
		{name: "shipment created again does nothing", steps: atAwaitingDelivery, msg: shipmentCreatedMsg()},
		{
			name:  "shipment refused while awaiting shipment hands the paid order to a person",
			steps: atAwaitingShipment, msg: shipmentRefusedMsg(),
			want: []Effect{ticket(TicketShipmentRefused, refusedShipmentReason)},
		},
		{
			name:  "shipment refused for a booking by hand of other lines says the workflow books the order's own",
			steps: atAwaitingShipment,
			msg: msg(shipping.ShipmentRefusedName, shipping.ShipmentRefused{OrderID: testOrderID, ShipmentID: "shp-1",
				Reason: "order ord-1 already has a shipment shp-1 (created) of other lines or address, and an order is shipped once: SKU-B: 0 in the shipment, 1 asked"}),
			want: []Effect{ticket(TicketShipmentRefused, "the delivery service refused the order's shipment: order ord-1 already has a shipment shp-1 (created) "+
				"of other lines or address, and an order is shipped once: SKU-B: 0 in the shipment, 1 asked; the workflow calls shipment shp-1 off and books "+
				"the order's own in its place, which closes this ticket: if the courier has collected it already, the order is paid and stays awaiting_shipment: "+
				"ship it by hand, or refund it")},
		},
		{name: "shipment refused once the shipment is recorded does nothing", steps: atAwaitingDelivery, msg: shipmentRefusedMsg()},
		// A shipment booked by hand (the delivery service's procedure) for an order that does
		// not wait for one was left booked: the courier could collect goods not paid for, or
		// for an order given up, and the workflow's own booking, once the order was paid, met
		// it (one shipment an order) and left the order awaiting_shipment for ever. It is
		// called off, with the order's status for a reason.
		{
			name:  "shipment booked by hand before the payment is called off",
			steps: atSessionOpen, msg: shipmentCreatedMsg(),
			want: []Effect{cancelShipmentFx("order awaiting_payment: its shipment is booked by its workflow once it is paid")},
		},
		{
			name:  "shipment booked by hand before the approval is called off",
			steps: atAwaitingApproval, msg: shipmentCreatedMsg(),
			want: []Effect{cancelShipmentFx("order awaiting_approval: its shipment is booked by its workflow once it is paid")},
		},
		{
			name:  "shipment booked by hand for an order cancelled is called off",
			steps: atPaymentFailed, msg: shipmentCreatedMsg(),
			want: []Effect{cancelShipmentFx("order cancelled: nothing is shipped for an order given up")},
		},
		{
			name:  "shipment booked by hand for an order rejected is called off",
			steps: atRejected, msg: shipmentCreatedMsg(),
			want: []Effect{cancelShipmentFx("order rejected: nothing is shipped for an order given up")},
		},
		{name: "shipment created again once completed does nothing", steps: atCompleted, msg: shipmentCreatedMsg()},
		// The workflow's booking may reach the delivery service before the cancel of a hand
		// booking (the log goes by transaction id), meet it and book nothing: the cancel's
		// answer finds the order paid and waiting, and it asks again.
		{
			name:  "a hand booking called off while the order awaits its shipment books the order's own",
			steps: atAwaitingShipment, msg: shipmentCancelledMsg(),
			want: []Effect{shipSmall},
		},
		{name: "a hand booking called off before the payment does nothing", steps: atSessionOpen, msg: shipmentCancelledMsg()},
		{name: "a hand booking called off once the order is shipped does nothing", steps: atAwaitingDelivery, msg: shipmentCancelledMsg()},
		{name: "a hand booking called off for an order given up does nothing", steps: atPaymentFailed, msg: shipmentCancelledMsg()},
		{
			name:  "shipment created after a refusal records it: an operator corrected the command",
			steps: path(atAwaitingShipment, ticketStep(TicketShipmentRefused, refusedShipmentReason)), msg: shipmentCreatedMsg(),
			want:    []Effect{RecordShipment{ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1"}},
			records: []order.Event{order.ShipmentCreated{ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1", At: testRunAt}},
		},
		{
			name:  "shipment_created after a refusal closes its ticket: the order ships",
			steps: path(atAwaitingShipment, ticketStep(TicketShipmentRefused, refusedShipmentReason), ship("shp-1")), msg: ev(order.NameShipmentCreated),
			want:    []Effect{deliveryDeadline, CloseTicket{Kind: TicketShipmentRefused, Resolution: shipmentBookedAfterAll}},
			records: []order.Event{order.TicketClosed{Kind: TicketShipmentRefused, By: Actor, Resolution: shipmentBookedAfterAll, At: testRunAt}},
		},

		{
			name:  "shipment_created arms the delivery deadline",
			steps: atAwaitingDelivery, msg: ev(order.NameShipmentCreated),
			want: []Effect{deliveryDeadline},
		},
		{
			name:  "shipment_created applies pending in_transit then delivered",
			steps: atAwaitingDelivery, msg: ev(order.NameShipmentCreated),
			state: State{PendingDelivery: []shipping.Webhook{inTransit, delivered}},
			want: []Effect{
				deliveryDeadline,
				UpdateDelivery{Status: "in_transit"},
				UpdateDelivery{Status: "delivered"},
				ClearPendingDelivery{},
			},
			records: []order.Event{statusEv("in_transit"), statusEv("delivered"), order.OrderDelivered{At: testRunAt}},
		},
		{
			name:  "shipment_created applies a duplicate pending status only once",
			steps: atAwaitingDelivery, msg: ev(order.NameShipmentCreated),
			state: State{PendingDelivery: []shipping.Webhook{inTransit, inTransit}},
			want: []Effect{
				deliveryDeadline,
				UpdateDelivery{Status: "in_transit"},
				UpdateDelivery{Status: "in_transit"},
				ClearPendingDelivery{},
			},
			records: []order.Event{statusEv("in_transit")},
		},
		{
			name:  "shipment_created ignores a pending update after the wait ended",
			steps: atAwaitingDelivery, msg: ev(order.NameShipmentCreated),
			state: State{PendingDelivery: []shipping.Webhook{delivered, inTransit}},
			want: []Effect{
				deliveryDeadline,
				UpdateDelivery{Status: "delivered"},
				UpdateDelivery{Status: "in_transit"},
				ClearPendingDelivery{},
			},
			records: []order.Event{statusEv("delivered"), order.OrderDelivered{At: testRunAt}},
		},
		{
			name:  "shipment_created refuses a pending update about another shipment",
			steps: atAwaitingDelivery, msg: ev(order.NameShipmentCreated),
			state: State{PendingDelivery: []shipping.Webhook{withShipment(delivered, "shp-other"), inTransit}},
			want: []Effect{
				deliveryDeadline,
				ticket(TicketDeliveryMismatch, `courier update "delivered" for shipment "shp-other" refused: the order's shipment is shp-1`),
				UpdateDelivery{Status: "in_transit"},
				ClearPendingDelivery{},
			},
			records: []order.Event{statusEv("in_transit")},
		},
		{
			name:  "shipment_created applies a pending failure",
			steps: atAwaitingDelivery, msg: ev(order.NameShipmentCreated),
			state: State{PendingDelivery: []shipping.Webhook{courierWH(shipping.StatusFailed, "parcel lost")}},
			want: []Effect{
				deliveryDeadline,
				UpdateDelivery{Status: "failed", Reason: "parcel lost"},
				ClearPendingDelivery{},
			},
			records: []order.Event{statusEv("failed"), order.DeliveryFailed{Reason: "parcel lost", At: testRunAt}},
		},

		{
			name:    "delivered after the overdue ticket closes it: what it chased has come",
			steps:   path(atInTransit, ticketStep(TicketDeliveryOverdue, "no delivery confirmation before the deadline"), courier("delivered", "")),
			msg:     ev(order.NameOrderDelivered),
			want:    []Effect{Complete{}, CloseTicket{Kind: TicketDeliveryOverdue, Resolution: "the courier confirmed the delivery after the deadline"}},
			records: []order.Event{order.OrderCompleted{At: testRunAt}, order.TicketClosed{Kind: TicketDeliveryOverdue, By: Actor, Resolution: "the courier confirmed the delivery after the deadline", At: testRunAt}},
		},
		{
			name:  "delivery webhook in_transit while awaiting delivery updates the delivery",
			steps: atAwaitingDelivery, msg: courierWebhook(shipping.StatusInTransit, ""),
			want:    []Effect{UpdateDelivery{Status: "in_transit"}},
			records: []order.Event{statusEv("in_transit")},
		},
		{name: "delivery webhook with the same status again does nothing", steps: atInTransit, msg: courierWebhook(shipping.StatusInTransit, "")},
		{
			name:  "delivery webhook with an intermediate status is recorded",
			steps: atInTransit, msg: courierWebhook("out_for_delivery", ""),
			want:    []Effect{UpdateDelivery{Status: "out_for_delivery"}},
			records: []order.Event{statusEv("out_for_delivery")},
		},
		{
			name:  "delivery webhook delivered marks the order delivered",
			steps: atInTransit, msg: courierWebhook(shipping.StatusDelivered, ""),
			want:    []Effect{UpdateDelivery{Status: "delivered"}},
			records: []order.Event{statusEv("delivered"), order.OrderDelivered{At: testRunAt}},
		},
		{
			name:  "delivery webhook failed marks the delivery failed",
			steps: atInTransit, msg: courierWebhook(shipping.StatusFailed, "address not found"),
			want:    []Effect{UpdateDelivery{Status: "failed", Reason: "address not found"}},
			records: []order.Event{statusEv("failed"), order.DeliveryFailed{Reason: "address not found", At: testRunAt}},
		},
		{
			name:  "delivery webhook before the shipment is recorded is remembered",
			steps: atAwaitingShipment, msg: courierWebhook(shipping.StatusInTransit, ""),
			want: []Effect{KeepPendingDelivery{Webhook: inTransit}},
		},
		{
			name:  "delivery webhook naming no shipment before the shipment is recorded is refused with a ticket",
			steps: atAwaitingShipment, msg: msg(DeliveryWebhookName, withShipment(delivered, "")),
			want: []Effect{ticket(TicketDeliveryMismatch, `courier update "delivered" for shipment "" refused: it names no shipment, and the order's is not booked yet`)},
		},
		{
			name:  "delivery webhook before payment is refused with a ticket: nothing was shipped",
			steps: atSessionOpen, msg: courierWebhook(shipping.StatusDelivered, ""),
			want: []Effect{ticket(TicketDeliveryMismatch, `courier update "delivered" for shipment "shp-1" refused: the order is not paid, so nothing was shipped`)},
		},
		{
			name:  "delivery webhook for another shipment is refused with a ticket",
			steps: atAwaitingDelivery, msg: msg(DeliveryWebhookName, withShipment(delivered, "shp-other")),
			want: []Effect{ticket(TicketDeliveryMismatch, `courier update "delivered" for shipment "shp-other" refused: the order's shipment is shp-1`)},
		},
		{
			name:  "delivery webhook naming no shipment is taken as the order's",
			steps: atAwaitingDelivery, msg: msg(DeliveryWebhookName, withShipment(delivered, "")),
			want:    []Effect{UpdateDelivery{Status: "delivered"}},
			records: []order.Event{statusEv("delivered"), order.OrderDelivered{At: testRunAt}},
		},
		{name: "delivery webhook after delivery does nothing", steps: atDelivered, msg: courierWebhook(shipping.StatusInTransit, "")},
		{name: "delivery webhook after completion does nothing", steps: atCompleted, msg: courierWebhook(shipping.StatusDelivered, "")},
		{
			name:  "a failed delivery reported after completion opens a ticket: the order stays completed",
			steps: atCompleted, msg: courierWebhook(shipping.StatusFailed, "recipient not found"),
			want: []Effect{ticket(TicketDeliveryFailed, "courier reported the delivery as failed after it was delivered: the order stays completed; settle it with the courier and the customer: recipient not found")},
		},
		{
			name:  "delivery webhook after a failed delivery is a comment on its ticket: the order stays failed",
			steps: path(atDeliveryFailed, ticketStep(TicketDeliveryFailed, "the courier reported the delivery as failed: address not found")),
			msg:   courierWebhook(shipping.StatusDelivered, ""),
			want:  []Effect{ticket(TicketDeliveryFailed, `courier update "delivered" after the delivery failed: the order stays delivery_failed; settle it with the courier and the customer`)},
		},
		{name: "a failed delivery reported again after it failed does nothing", steps: atDeliveryFailed, msg: courierWebhook(shipping.StatusFailed, "address not found")},
		{name: "delivery webhook for a cancelled order is neither applied nor remembered", steps: atPaymentTimedOut, msg: courierWebhook(shipping.StatusInTransit, "")},

		{
			name:  "delivery deadline while awaiting delivery opens an overdue ticket",
			steps: atAwaitingDelivery, msg: deadlineMsg(order.WaitDelivery),
			want: []Effect{ticket(TicketDeliveryOverdue, "no delivery confirmation before the deadline")},
		},
		{
			name:  "delivery deadline while in transit opens an overdue ticket",
			steps: atInTransit, msg: deadlineMsg(order.WaitDelivery),
			want: []Effect{ticket(TicketDeliveryOverdue, "no delivery confirmation before the deadline")},
		},
		{name: "delivery deadline after delivery does nothing", steps: atDelivered, msg: deadlineMsg(order.WaitDelivery)},
		{name: "delivery deadline after completion does nothing", steps: atCompleted, msg: deadlineMsg(order.WaitDelivery)},
		{name: "delivery deadline after a failed delivery does nothing", steps: atDeliveryFailed, msg: deadlineMsg(order.WaitDelivery)},
	})
}

func TestProcessOrderCompletionAndCompensation(t *testing.T) {
	runCases(t, []decideCase{
		{
			name:  "delivered completes the order",
			steps: atDelivered, msg: ev(order.NameOrderDelivered),
			want:    []Effect{Complete{}},
			records: []order.Event{order.OrderCompleted{At: testRunAt}},
		},
		{
			name:  "completed emails the customer",
			steps: atCompleted, msg: ev(order.NameOrderCompleted),
			want: []Effect{notice(t, KindOrderCompleted, atCompleted...)},
		},
		{
			name:  "cancelled with a reservation (payment timed out) releases, closes the session and emails",
			steps: atPaymentTimedOut, msg: ev(order.NameOrderCancelled),
			want: []Effect{releaseFx("order cancelled: timed_out"), expireSess, notice(t, KindOrderCancelled, atPaymentTimedOut...)},
		},
		{
			// The session's own close cancelled it: closed again, it cost the provider a call
			// and the payment stream a second report of the close (a probe).
			name:  "cancelled by its session's close at the payment deadline releases and emails, and closes nothing again",
			steps: path(atSessionOpen, cancelAs(paymentTimedOut)), msg: ev(order.NameOrderCancelled),
			want: []Effect{releaseFx("order cancelled: timed_out"), notice(t, KindOrderCancelled, path(atSessionOpen, cancelAs(paymentTimedOut))...)},
		},
		{
			name:  "cancelled with a reservation (payment failed) releases, closes the session and emails",
			steps: atPaymentFailed, msg: ev(order.NameOrderCancelled),
			want: []Effect{releaseFx("order cancelled: payment_failed"), expireSess, notice(t, KindOrderCancelled, atPaymentFailed...)},
		},
		{
			name:  "cancelled out of stock only emails",
			steps: atOutOfStock, msg: ev(order.NameOrderCancelled),
			want: []Effect{notice(t, KindOrderCancelled, atOutOfStock...)},
		},
		{
			name:  "cancelled before any reservation only emails",
			steps: atCancelledReserving, msg: ev(order.NameOrderCancelled),
			want: []Effect{notice(t, KindOrderCancelled, atCancelledReserving...)},
		},
		{
			name:  "cancelled after the approval deadline only emails",
			steps: atApprovalTimedOut, msg: ev(order.NameOrderCancelled),
			want: []Effect{notice(t, KindOrderCancelled, atApprovalTimedOut...)},
		},
		{
			name:  "rejected order gets the rejection email and no release",
			steps: atRejected, msg: ev(order.NameOrderCancelled),
			want: []Effect{notice(t, KindOrderRejected, atRejected...)},
		},
		{
			name:  "delivery_failed opens a support ticket",
			steps: atDeliveryFailed, msg: ev(order.NameDeliveryFailed),
			want: []Effect{ticket(TicketDeliveryFailed, "the courier reported the delivery as failed: address not found")},
		},
		{
			name:  "delivery_failed after the overdue ticket closes it: the failure's ticket takes over",
			steps: path(atInTransit, ticketStep(TicketDeliveryOverdue, "no delivery confirmation before the deadline"), courier("failed", "address not found")),
			msg:   ev(order.NameDeliveryFailed),
			want: []Effect{
				ticket(TicketDeliveryFailed, "the courier reported the delivery as failed: address not found"),
				CloseTicket{Kind: TicketDeliveryOverdue, Resolution: "the courier reported the delivery as failed: see the delivery_failed ticket"},
			},
			records: []order.Event{order.TicketClosed{Kind: TicketDeliveryOverdue, By: Actor,
				Resolution: "the courier reported the delivery as failed: see the delivery_failed ticket", At: testRunAt}},
		},
	})
}

func TestProcessOrderIgnoresUnknownMessages(t *testing.T) {
	pending := payWH(payment.StatusCompleted, "pay-1", "")
	keep := State{PendingPayments: []PaymentWebhook{pending}, PendingDelivery: []shipping.Webhook{courierWH(shipping.StatusInTransit, "")}}
	runCases(t, []decideCase{
		{name: "unknown name", steps: atAwaitingPayment, msg: msg("order.something_else.v9", map[string]string{"orderId": testOrderID}), state: keep},
		{name: "unknown deadline", steps: atAwaitingPayment, msg: deadlineMsg("shipment"), state: keep},
		{name: "order event the flow does not react to", steps: atInTransit, msg: ev(order.NameDeliveryStatusUpdated)},
		{name: "rejected event (the cancellation that follows is handled)", steps: atRejected, msg: ev(order.NameOrderRejected)},
		{name: "payment_session_created event", steps: atSessionOpen, msg: ev(order.NamePaymentSessionCreated)},
		{name: "inventory released by the workflow for an order given up", steps: atPaymentTimedOut, msg: releasedMsg("res-1")},
	})
}

// Rules that decode their payload report a malformed one as an error naming the message,
// so the runner retries or dead-letters it instead of acting on zero values.
func TestProcessOrderRejectsMalformedPayloads(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{order.NameRiskAssessed, atReserving},
		{inventory.ReservedName, atReserving},
		{inventory.ReservationFailedName, atReserving},
		{payment.SessionCreatedName, atAwaitingPayment},
		{PaymentWebhookName, atSessionOpen},
		{shipping.ShipmentCreatedName, atAwaitingShipment},
		{DeliveryWebhookName, atAwaitingDelivery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := State{}
			effects, err := ProcessOrder.Decide(Input{
				Msg:   Message{Name: tc.name, ID: "bad", Payload: json.RawMessage(`{"orderId": 42`)},
				Order: order.Rehydrate(history(t, tc.steps...)), State: st, Now: testNow, Cfg: DefaultConfig(),
			})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.name)
			assert.Nil(t, effects)
		})
	}
}

// ---------------------------------------------------------------------------
// Details checked on their own: email text and ticket reasons.
// ---------------------------------------------------------------------------

func TestProcessOrderEmailText(t *testing.T) {
	for _, tc := range []struct {
		name    string
		steps   []step
		msg     Message
		kind    string
		subject string
		body    []string
	}{
		{"confirmed", atAwaitingPayment, sessionCreatedMsg(), KindOrderConfirmed, "Your order is confirmed",
			[]string{testOrderID, "100.00 USD", "Pay at https://pay.example/sess-1 by " + testSessionExpiry.UTC().Format("Mon, 02 Jan 2006 15:04") + " UTC to have it shipped"}},
		{"completed", atCompleted, ev(order.NameOrderCompleted), KindOrderCompleted, "Your order has been delivered", []string{testOrderID}},
		{"cancelled", atPaymentTimedOut, ev(order.NameOrderCancelled), KindOrderCancelled, "Your order has been cancelled",
			[]string{testOrderID, "100.00 USD", "was cancelled: it was not paid in time. The items reserved for it were released."}},
		{"cancelled before a decision", atApprovalTimedOut, ev(order.NameOrderCancelled), KindOrderCancelled, "Your order has been cancelled",
			[]string{"was cancelled: it could not be reviewed in time."}},
		{"cancelled for a failed payment", atPaymentFailed, ev(order.NameOrderCancelled), KindOrderCancelled, "Your order has been cancelled",
			[]string{"was cancelled: the payment did not go through. The items reserved"}},
		{"cancelled out of stock", atOutOfStock, ev(order.NameOrderCancelled), KindOrderCancelled, "Your order has been cancelled",
			[]string{"was cancelled: SKU-B is out of stock."}},
		{"cancelled by a release outside the workflow", path(atSessionOpen, cancelAs(Cancel{Reason: order.ReasonStockNotHeld, Detail: "released"})),
			ev(order.NameOrderCancelled), KindOrderCancelled, "Your order has been cancelled",
			[]string{"was cancelled: the items reserved for it were released before it was paid."}},
		{"rejected", atRejected, ev(order.NameOrderCancelled), KindOrderRejected, "Your order could not be accepted", []string{testOrderID, "50,000.00 USD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			effects := decideRaw(t, history(t, tc.steps...), State{}, tc.msg, 0)
			var found bool
			for _, e := range effects {
				if n, ok := e.(Notify); ok && n.Kind == tc.kind {
					found = true
					assert.Equal(t, testEmail, n.Recipient)
					assert.Equal(t, tc.subject, n.Subject)
					for _, s := range tc.body {
						assert.Contains(t, n.Body, s)
					}
				}
			}
			assert.True(t, found, "no %s notification", tc.kind)
		})
	}
}

// A reservation by hand (the warehouse's procedure) that ends an order ends it as what
// happened: the order is cancelled stock_not_held, and its customer is not told an item is
// out of stock. They were, whether the hand reservation held other units than the order's
// items, was released by hand while the order awaited its payment, made the warehouse
// refuse the order's own reservation (an order is reserved once), or failed short of a
// SKU the order does not have; the timeline said "Cancelled (out of stock)" too.
func TestAnOrderEndedByAHandReservationIsNotToldItsItemsAreOutOfStock(t *testing.T) {
	failed := func(reason, sku string) Message {
		return msg(inventory.ReservationFailedName, inventory.ReservationFailed{OrderID: testOrderID, Reason: reason, SKU: sku})
	}
	for _, tc := range []struct {
		name  string
		steps []step
		msg   Message
		body  string
	}{
		{"its reservation held other units", atApproved, reservedOf("res-hand", inventory.Line{SKU: "SKU-LUX", Quantity: 2}),
			"was cancelled: its items could not be reserved for it."},
		{"its reservation was released by hand", atSessionOpen, releasedMsg("res-1"),
			"was cancelled: the items reserved for it were released before it was paid."},
		{"the warehouse refused to reserve it again", atReserving,
			failed("its reservation res-hand was released already (order no longer awaiting inventory), and an order is reserved once", ""),
			"was cancelled: its items could not be reserved for it."},
		{"a reservation by hand of another SKU failed short", atReserving, failed("insufficient stock for SKU-LIMITED: requested 6, available 5", "SKU-LIMITED"),
			"was cancelled: its items could not be reserved for it."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := history(t, tc.steps...)
			events = append(events, record(t, events, decideRaw(t, events, State{}, tc.msg, 0))...)
			o := order.Rehydrate(events)
			require.Equal(t, order.StatusCancelled, o.Status)
			assert.Equal(t, order.ReasonStockNotHeld, o.CancelReason)
			var bodies []string
			for _, e := range decideRaw(t, events, State{}, ev(order.NameOrderCancelled), 0) {
				if n, ok := e.(Notify); ok && n.Kind == KindOrderCancelled {
					bodies = append(bodies, n.Body)
				}
			}
			require.Len(t, bodies, 1)
			assert.Contains(t, bodies[0], tc.body)
			assert.NotContains(t, bodies[0], "out of stock")
			assert.LessOrEqual(t, strings.Count(bodies[0], "released"), 1, "a release is told once: %s", bodies[0])
		})
	}
	// An order cancelled out of stock before the warehouse named the SKU keeps the words it
	// was told then.
	events := append(history(t, atReserving...), order.ReservationFailed{Reason: "insufficient stock", At: testRunAt},
		order.OrderCancelled{Reason: order.ReasonOutOfStock, Detail: "insufficient stock", At: testRunAt})
	subject, body := emailText(KindOrderCancelled, order.Rehydrate(events))
	assert.Equal(t, "Your order has been cancelled", subject)
	assert.Contains(t, body, "was cancelled: an item is out of stock.")
}

// The warehouse names the SKU it could not hold; the cancellation email names that item as
// the customer saw it at checkout, so a customer of a many-line order knows what to leave
// out when ordering again. It said only "an item is out of stock" (a probe). The email is
// one line of plain text: a catalog name's line breaks and direction controls do not go in.
func TestTheOutOfStockEmailNamesTheItemTheWarehouseCouldNotHold(t *testing.T) {
	odd := smallOrder()
	odd.Items[0].Name = "Espresso\n cup \u202eXL"
	long := smallOrder()
	long.Items[0].Name = strings.Repeat("é", 1000)
	for _, tc := range []struct {
		name  string
		order order.PlaceOrder
		sku   string
		want  string
	}{
		{"a named item by its name and SKU", smallOrder(), "SKU-A", "was cancelled: Espresso cup (SKU-A) is out of stock."},
		{"an item without a name by its SKU", smallOrder(), "SKU-B", "was cancelled: SKU-B is out of stock."},
		{"a name on one line, without direction controls", odd, "SKU-A", "was cancelled: Espresso cup XL (SKU-A) is out of stock."},
		{"a long name cut short", long, "SKU-A", "was cancelled: " + strings.Repeat("é", 79) + "… (SKU-A) is out of stock."},
		{"a SKU not in the order: not out of stock", smallOrder(), "SKU-Z", "was cancelled: its items could not be reserved for it."},
		{"no SKU: not out of stock", smallOrder(), "", "was cancelled: its items could not be reserved for it."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := history(t, place(tc.order), assess(10))
			failed := msg(inventory.ReservationFailedName, inventory.ReservationFailed{OrderID: testOrderID, Reason: "insufficient stock", SKU: tc.sku})
			events = append(events, record(t, events, decideRaw(t, events, State{}, failed, 0))...)
			require.Equal(t, order.StatusCancelled, order.Rehydrate(events).Status)
			var bodies []string
			for _, e := range decideRaw(t, events, State{}, ev(order.NameOrderCancelled), 0) {
				if n, ok := e.(Notify); ok && n.Kind == KindOrderCancelled {
					bodies = append(bodies, n.Body)
				}
			}
			require.Len(t, bodies, 1)
			assert.Contains(t, bodies[0], tc.want)
		})
	}
}

func TestProcessOrderTicketReasons(t *testing.T) {
	reasonOf := func(t *testing.T, steps []step, m Message) string {
		effects := decideRaw(t, history(t, steps...), State{}, m, 0)
		require.Len(t, effects, 1)
		tk, ok := effects[0].(OpenTicket)
		require.True(t, ok, "want a ticket, got %T", effects[0])
		return tk.Reason
	}
	t.Run("delivery failed names the courier's reason", func(t *testing.T) {
		r := reasonOf(t, atDeliveryFailed, ev(order.NameDeliveryFailed))
		assert.Contains(t, r, "the courier reported the delivery as failed")
		assert.Contains(t, r, "address not found")
	})
	t.Run("late unsigned payment names the payment and the order's status", func(t *testing.T) {
		r := reasonOf(t, atPaymentTimedOut, msg(PaymentWebhookName, unsignedPayWH(payment.StatusCompleted, "pay-9")))
		assert.Contains(t, r, "pay-9")
		assert.Contains(t, r, "cancelled")
		assert.Contains(t, r, "refund it by hand")
	})
	t.Run("a refund's ticket names the payment, the status and the refund", func(t *testing.T) {
		effects := decideRaw(t, history(t, atPaymentTimedOut...), State{}, refundedMsg("pay-9", "re-9"), 0)
		require.Len(t, effects, 2)
		tk, ok := effects[1].(OpenTicket)
		require.True(t, ok, "want a ticket, got %T", effects[1])
		assert.Equal(t, "payment pay-9 completed for an order already cancelled: refunded as re-9", tk.Reason)
	})
	t.Run("overdue delivery", func(t *testing.T) {
		assert.Equal(t, "no delivery confirmation before the deadline", reasonOf(t, atAwaitingDelivery, deadlineMsg(order.WaitDelivery)))
	})
}

// ---------------------------------------------------------------------------
// The flow's shape.
// ---------------------------------------------------------------------------

func TestProcessOrderHandlesEveryDeclaredMessage(t *testing.T) {
	declared := []string{
		order.NameOrderPlaced, order.NameRiskAssessed, order.NameHeldForApproval, order.NameOrderApproved,
		DeadlineName(order.WaitApproval),
		inventory.ReservedName, inventory.ReservationFailedName,
		order.NameInventoryReserved, payment.SessionCreatedName, PaymentWebhookName, DeadlineName(order.WaitPayment),
		order.NamePaymentCompleted, shipping.ShipmentCreatedName, order.NameShipmentCreated, DeliveryWebhookName,
		DeadlineName(order.WaitDelivery),
		order.NameOrderDelivered, order.NameOrderCompleted,
		order.NameOrderCancelled, order.NameDeliveryFailed, payment.RefundedName, payment.AlreadyRefundedName, payment.RefundReportName, inventory.ReleasedName,
		payment.SessionFoundPaidName, payment.SessionExpiredName, payment.SessionRefusedName, shipping.ShipmentRefusedName, shipping.ShipmentCancelledName,
		payment.RefundRefusedName,
	}
	names := ProcessOrder.Names()
	for _, n := range declared {
		assert.True(t, names[n], "Names() lacks %s", n)
	}
	assert.Len(t, names, len(declared), "Names() holds a name this test does not know: %v", names)

	handled := map[string]bool{}
	for i, r := range ProcessOrder {
		assert.NotEmpty(t, r.On, "rule %d has no message name", i)
		assert.NotEmpty(t, r.steps, "rule %d (%s) has no steps", i, r.On)
		for j, s := range r.steps {
			assert.NotNil(t, s, "rule %d (%s) step %d is nil", i, r.On, j)
		}
		handled[r.On] = true
	}
	for n := range names {
		assert.True(t, handled[n], "%s is declared but no rule handles it", n)
	}

	// Every wait has a deadline rule, and every order event the flow names exists.
	for _, w := range []order.Wait{order.WaitApproval, order.WaitPayment, order.WaitDelivery} {
		assert.True(t, names[DeadlineName(w)], "no rule for the %s deadline", w)
	}
	known := map[string]bool{}
	for _, n := range order.EventNames() {
		known[n] = true
	}
	for n := range names {
		if len(n) > len("order.") && n[:len("order.")] == "order." {
			assert.True(t, known[n], "%s is not an order event", n)
		}
	}
}

// ---------------------------------------------------------------------------
// A whole order, message by message, with the other services faked.
// ---------------------------------------------------------------------------

func TestProcessOrderHappyPathEndToEnd(t *testing.T) {
	events := history(t, place(smallOrder()))
	var (
		state     State
		queue     = []Message{msg(order.NameOrderPlaced, events[0])}
		sent      []string
		notified  []string
		deadlines []order.Wait
		webhooks  = []Message{
			payWebhook(payment.StatusCompleted, "pay-1", ""),
			courierWebhook(shipping.StatusInTransit, ""),
			courierWebhook(shipping.StatusDelivered, ""),
		}
	)
	for steps := 0; len(queue) > 0; steps++ {
		require.Less(t, steps, 100, "the flow does not settle")
		m := queue[0]
		queue = queue[1:]
		effects, err := ProcessOrder.Decide(Input{Msg: m, Order: order.Rehydrate(events), State: state, Now: testNow, Cfg: DefaultConfig()})
		require.NoError(t, err, m.Name)
		for _, e := range effects {
			switch e := e.(type) {
			case OrderCommand:
				evs, err := e.Run(order.Rehydrate(events), testRunAt)
				require.NoError(t, err, e.Name())
				events = append(events, evs...)
				for _, ev := range evs {
					queue = append(queue, msg(ev.EventName(), ev))
				}
			case SendCommand:
				sent = append(sent, e.Name)
				switch d := e.Data.(type) {
				case inventory.Reserve:
					queue = append(queue, msg(inventory.ReservedName, inventory.Reserved{OrderID: d.OrderID, ReservationID: "res-1", Lines: d.Lines}))
				case payment.CreateSession:
					queue = append(queue, msg(payment.SessionCreatedName, payment.SessionCreated{OrderID: d.OrderID, SessionID: "sess-1", URL: "https://pay.example/sess-1", Amount: d.Amount, Currency: d.Currency, ExpiresAt: testSessionExpiry}))
				case shipping.CreateShipment:
					queue = append(queue, msg(shipping.ShipmentCreatedName, shipping.ShipmentCreated{OrderID: d.OrderID, ShipmentID: "shp-1", Carrier: "DHL", TrackingNumber: "TRK-1"}))
				default:
					t.Fatalf("unexpected command %s", e.Name)
				}
			case ScheduleDeadline:
				deadlines = append(deadlines, e.Wait)
			case Notify:
				notified = append(notified, e.Kind)
			case OpenTicket:
				t.Fatalf("unexpected ticket %s: %s", e.Kind, e.Reason)
			case StateChange:
				e.applyTo(&state)
			}
		}
		if len(queue) == 0 && len(webhooks) > 0 {
			queue, webhooks = append(queue, webhooks[0]), webhooks[1:]
		}
	}

	o := order.Rehydrate(events)
	assert.Equal(t, order.StatusCompleted, o.Status)
	var names []string
	for _, e := range events {
		names = append(names, e.EventName())
	}
	assert.Equal(t, []string{
		order.NameOrderPlaced, order.NameRiskAssessed, order.NameInventoryReserved, order.NamePaymentSessionCreated,
		order.NamePaymentCompleted, order.NameShipmentCreated, order.NameDeliveryStatusUpdated,
		order.NameDeliveryStatusUpdated, order.NameOrderDelivered, order.NameOrderCompleted,
	}, names)
	assert.Equal(t, []string{inventory.ReserveName, payment.CreateSessionName, shipping.CreateShipmentName}, sent)
	assert.Equal(t, []string{KindOrderConfirmed, KindOrderCompleted}, notified)
	assert.Equal(t, []order.Wait{order.WaitPayment, order.WaitDelivery}, deadlines)
	assert.Equal(t, State{}, state)

	// The deadlines armed on the way fire late and change nothing.
	for _, w := range deadlines {
		effects := decideRaw(t, events, State{}, deadlineMsg(w), 0)
		assert.Empty(t, effects, "late %s deadline", w)
	}
}

// ---------------------------------------------------------------------------
// Regressions: bugs found by these tables, fixed, and kept fixed.
// ---------------------------------------------------------------------------

// openTicket appends the delivery failure reason to its captured `reason` parameter, so
// the text grows with every delivery_failed message the process handles (and the shared
// closure is written concurrently by the runner's handlers: a data race).
func TestDeliveryFailedTicketReasonDoesNotAccumulate(t *testing.T) {
	want := "the courier reported the delivery as failed: address not found"
	for i := range 3 {
		effects := decideRaw(t, history(t, atDeliveryFailed...), State{}, ev(order.NameDeliveryFailed), 0)
		require.Len(t, effects, 1)
		assert.Equal(t, want, effects[0].(OpenTicket).Reason, "call %d", i+1)
	}
	// Handlers run concurrently in the runner; under -race this reports the shared write.
	o := order.Rehydrate(history(t, atDeliveryFailed...))
	m := msg(order.NameDeliveryFailed, order.DeliveryFailed{Reason: "address not found", At: testPlacedAt})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, _ = ProcessOrder.Decide(Input{Msg: m, Order: o, State: State{}, Now: testNow, Cfg: DefaultConfig()})
		})
	}
	wg.Wait()
}

// Every completed payment remembered while the order was not yet awaiting payment is
// refunded when the order is then cancelled instead, whatever came between them: money was
// taken for nothing.
func TestEarlyCompletedPaymentIsRefundedWhenTheOrderIsCancelled(t *testing.T) {
	pending := []PaymentWebhook{payWH(payment.StatusCompleted, "pay-1", ""), payWH(payment.StatusFailed, "pay-3", "declined"), completedAs("pay-2")}
	for _, steps := range [][]step{atOutOfStock, atRejected, atApprovalTimedOut} {
		o := order.Rehydrate(history(t, steps...))
		effects := decideRaw(t, history(t, steps...), State{PendingPayments: pending}, ev(order.NameOrderCancelled), 0)
		assert.Contains(t, effects, ClearPendingPayments{})
		assert.Contains(t, effects, refundCmd("order "+string(o.Status)))
		assert.Contains(t, effects, refundOf("pay-2", "order "+string(o.Status)))
	}
}

// A state stored when the saga remembered one early payment webhook is read with it, so an
// upgrade forgets no payment.
func TestStateReadsTheSingleRememberedPaymentOfEarlierVersions(t *testing.T) {
	wh := payWH(payment.StatusCompleted, "pay-1", "")
	var s State
	require.NoError(t, json.Unmarshal([]byte(`{"pendingPayment":`+string(mustJSON(wh))+`,"pendingDelivery":[`+string(mustJSON(courierWH(shipping.StatusInTransit, "")))+`]}`), &s))
	assert.Equal(t, State{PendingPayments: []PaymentWebhook{wh}, PendingDelivery: []shipping.Webhook{courierWH(shipping.StatusInTransit, "")}}, s)

	again, err := json.Marshal(s)
	require.NoError(t, err)
	var back State
	require.NoError(t, json.Unmarshal(again, &back))
	assert.Equal(t, s, back)
	assert.NotContains(t, string(again), `"pendingPayment"`)
}

// A remembered payment is applied when the session is recorded, and never to an order that
// is no longer awaiting payment: the command's Run would fail with a conflict on every
// redelivery.
func TestEarlyPaymentIsNotAppliedTwice(t *testing.T) {
	pending := payWH(payment.StatusCompleted, "pay-0", "")
	events := history(t, atAwaitingShipment...)
	effects := decideRaw(t, events, State{PendingPayments: []PaymentWebhook{pending}}, sessionCreatedMsg(), 0)
	record(t, events, effects) // fails if a command is refused
}

// A ticket the order has of its kind already, open or closed, is commented on instead of
// opened again: what it reports is never dropped.
func TestOpenTicketCommentsOnTheOrdersTicketOfItsKind(t *testing.T) {
	opened := order.Rehydrate(history(t, atCompleted...))
	evs, err := OpenTicket{Kind: TicketSecondPayment, Reason: "first"}.events(opened, testRunAt)
	require.NoError(t, err)
	assert.Equal(t, []order.Event{order.SupportTicketOpened{Kind: TicketSecondPayment, Reason: "first", At: testRunAt}}, evs)
	for _, e := range evs {
		opened.Apply(e)
	}
	evs, err = OpenTicket{Kind: TicketSecondPayment, Reason: "second"}.events(opened, testRunAt)
	require.NoError(t, err)
	assert.Equal(t, []order.Event{order.TicketCommented{Kind: TicketSecondPayment, By: Actor, Text: "second", At: testRunAt}}, evs)

	closed := order.Rehydrate(history(t, path(atCompleted, ticketStep(TicketSecondPayment, "first"), func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.CloseTicket(TicketSecondPayment, "support@example.com", "refunded by hand", at)
	})...))
	evs, err = OpenTicket{Kind: TicketSecondPayment, Reason: "third"}.events(closed, testRunAt)
	require.NoError(t, err)
	assert.Equal(t, []order.Event{order.TicketCommented{Kind: TicketSecondPayment, By: Actor, Text: "third", At: testRunAt}}, evs)
}

// A reason the order's ticket of its kind says already, as its reason or a comment, is not
// said again: a webhook sent again after its inbox row was swept meets the order as it
// did the first time. A new reason is still a comment.
func TestOpenTicketDoesNotSayAgainWhatTheTicketSays(t *testing.T) {
	o := order.Rehydrate(history(t, path(atCompleted, ticketStep(TicketSecondPayment, "first"), func(o *order.Order, at time.Time) ([]order.Event, error) {
		return o.CommentTicket(TicketSecondPayment, Actor, "second", at)
	})...))
	for _, said := range []string{"first", "second"} {
		evs, err := OpenTicket{Kind: TicketSecondPayment, Reason: said}.events(o, testRunAt)
		require.NoError(t, err)
		assert.Empty(t, evs, "%q again", said)
	}
	evs, err := OpenTicket{Kind: TicketSecondPayment, Reason: "third"}.events(o, testRunAt)
	require.NoError(t, err)
	assert.Equal(t, []order.Event{order.TicketCommented{Kind: TicketSecondPayment, By: Actor, Text: "third", At: testRunAt}}, evs)
}

// An order an earlier release accepted may hold an email or lines the payment's contract
// refuses now (it refuses what the order refuses today): an email to a local name (before
// 2026-12-06), one longer than any address (before 2026-12-01, which Bound.Clean does not
// shorten), lines of more units than a line may hold, or priced above its total. Refused,
// the command would cancel the order (SessionRefused): its session opens without them,
// the provider asking the customer for the email and showing one line for the amount.
func TestTheSessionOfAnOrderPlacedBeforeItsEmailAndLinesWereCheckedOpens(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*order.OrderPlaced)
		email string
		lines []payment.Line
	}{
		{"an email to a local name", func(p *order.OrderPlaced) { p.CustomerEmail = "ann@localhost" }, "", createSessCmd().Lines},
		{"an email longer than any address", func(p *order.OrderPlaced) {
			p.CustomerEmail = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 250) + ".com"
		}, "", createSessCmd().Lines},
		{"an email whose invisible character goes", func(p *order.OrderPlaced) { p.CustomerEmail = testEmail + "\u200b" }, testEmail, createSessCmd().Lines},
		{"a line of too many units", func(p *order.OrderPlaced) {
			p.Items = []order.Item{{SKU: "SKU-A", Quantity: 20_000, UnitPrice: cents(1)}}
			p.Total.Amount = 200_00
		}, testEmail, nil},
		{"a line priced above the total, another unpriced", func(p *order.OrderPlaced) { p.Items[1].UnitPrice, p.Total.Amount = nil, 40_00 }, testEmail, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := history(t, atAwaitingPayment...)
			placed := events[0].(order.OrderPlaced)
			placed.Items = slices.Clone(placed.Items)
			tc.edit(&placed)
			events[0] = placed
			var sent []payment.CreateSession
			for _, e := range decideRaw(t, events, State{}, ev(order.NameInventoryReserved), 0) {
				if c, ok := e.(SendCommand); ok && c.Name == payment.CreateSessionName {
					sent = append(sent, c.Data.(payment.CreateSession))
				}
			}
			require.Len(t, sent, 1)
			assert.NoError(t, sent[0].Validate(), "the payment service would refuse it, and the order be cancelled")
			assert.Equal(t, tc.email, sent[0].CustomerEmail)
			assert.Equal(t, tc.lines, sent[0].Lines)
			assert.Equal(t, int64(placed.Total.Amount), sent[0].Amount)
		})
	}
}

func createSessCmd() payment.CreateSession {
	return createSess.(SendCommand).Data.(payment.CreateSession)
}

// An order placed before text-direction controls, control and invisible characters were
// refused (limits.Check) may hold them in its email and address. The payment and delivery services' contracts refuse them now,
// so the commands the saga sends for it drop them: refused, the command would be a dead
// letter and the accepted order would stall. Everything else in the text stays.
func TestCommandsForAnOrderPlacedBeforeDirectionControlsWereRefusedPass(t *testing.T) {
	oldOrder := func(steps []step) []order.Event {
		events := history(t, steps...)
		placed := events[0].(order.OrderPlaced)
		placed.CustomerEmail = "\u202e" + testEmail + "\u200b"
		addr := *placed.ShippingAddress
		addr.Name, addr.City = "\u2067Ali\nce\u2069", "Spring\u202dfield\u202c\a"
		placed.ShippingAddress = &addr
		events[0] = placed
		return events
	}
	for _, tc := range []struct {
		steps []step
		msg   string
		want  Effect
	}{
		{atAwaitingPayment, order.NameInventoryReserved, createSess},
		{atAwaitingShipment, order.NamePaymentCompleted, shipSmall},
	} {
		var sent []SendCommand
		for _, e := range decideRaw(t, oldOrder(tc.steps), State{}, ev(tc.msg), 0) {
			if c, ok := e.(SendCommand); ok {
				sent = append(sent, c)
			}
		}
		require.Len(t, sent, 1, tc.msg)
		assert.Equal(t, tc.want, sent[0], tc.msg)
		assert.NoError(t, sent[0].Data.(interface{ Validate() error }).Validate(), tc.msg)
	}
}
