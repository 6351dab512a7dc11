package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// placedEarlier records order placed as an earlier release did, without today's checks:
// its data may be refused by a service's contract, which was tightened since.
func (s *system) placedEarlier(t *testing.T, placed order.OrderPlaced) string {
	t.Helper()
	placed.OrderID, placed.PlacedAt = "ord-"+uuid.NewString(), time.Now().UTC()
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := orderstream.DecideAndAppend(ctx, tx, &order.Order{ID: placed.OrderID}, eventstore.Metadata{CorrelationID: placed.OrderID, Actor: "customer"},
			func(*order.Order) ([]order.Event, error) { return []order.Event{placed}, nil })
		return err
	}))
	return placed.OrderID
}

// unpayableTotal is a total the payment's contract refuses, its currency in lowercase,
// which the saga cannot leave out of a session's command.
var unpayableTotal = order.Money{Amount: 100_00, Currency: "usd"}

// A command the payment or the delivery service refuses by its own contract (an order an
// earlier release accepted, or a command written by hand) was dead-lettered, and its order
// waited: for its payment deadline (a day by default), its stock held, or, paid, for ever
// at awaiting_shipment. Each service now answers it as the warehouse answers a reservation
// it refuses: the order unpaid is cancelled, its stock released and its customer told;
// the order paid goes to a person with a shipment_refused ticket. Nothing is
// dead-lettered, and a refused command sent again is answered once.
func TestACommandAServiceRefusesIsAnsweredNotDeadLettered(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.stock(t, "SKU-001")
	price := order.Cents(50_00)
	items := []order.Item{{SKU: "SKU-001", Quantity: 2, UnitPrice: &price}}
	total := order.Money{Amount: 100_00, Currency: "USD"}

	// A currency in lowercase, as no release took it but an event written by hand can
	// hold: the payment service refuses the session's currency. (An email or lines it
	// refuses, the saga leaves out of the command, and the session opens without them.)
	unpayable := s.placedEarlier(t, order.OrderPlaced{CustomerID: "c-old", CustomerEmail: "ann@example.com", Items: items, Total: unpayableTotal})
	o := s.waitStatus(t, unpayable, "cancelled")
	assert.Equal(t, "payment_failed", o.CancelReason)
	s.waitNotification(t, unpayable, "order_cancelled")
	s.waitStock(t, "SKU-001", before)

	// A name longer than an address part may be: the delivery service refuses the parcel.
	long := &order.Address{Name: strings.Repeat("n", limits.MaxAddressField+1), Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}
	unshippable := s.placedEarlier(t, order.OrderPlaced{CustomerID: "c-old", CustomerEmail: "ann@example.com", Items: items, Total: total,
		ShippingAddress: long, BillingAddress: long})
	s.waitStatus(t, unshippable, "awaiting_payment")
	s.pay(t, unshippable, "completed")
	s.waitTicket(t, unshippable, "shipment_refused")
	assert.Equal(t, "awaiting_shipment", s.order(t, unshippable).Status, "a person settles a paid order")

	// Each refused command is delivered again (the same message: a commit lost, say): it
	// is answered already.
	ctx := context.Background()
	again := func(topic, orderID string) eventstore.Message {
		var m eventstore.Message
		var payload []byte
		require.NoError(t, s.db.QueryRow(ctx, `SELECT uuid, metadata->>'name', payload FROM `+pgx.Identifier{"watermill_" + topic}.Sanitize()+
			` WHERE payload->>'orderId' = $1`, orderID).Scan(&m.ID, &m.Name, &payload))
		m.Data = json.RawMessage(payload)
		return m
	}
	session, shipment := again(payment.CommandsTopic, unpayable), again(shipping.CommandsTopic, unshippable)
	require.NoError(t, pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := eventstore.Send(ctx, tx, payment.CommandsTopic, eventstore.Metadata{CorrelationID: unpayable, Actor: "saga"}, session); err != nil {
			return err
		}
		return eventstore.Send(ctx, tx, shipping.CommandsTopic, eventstore.Metadata{CorrelationID: unshippable, Actor: "saga"}, shipment)
	}))
	s.waitLag(t, "payments", s.payments)
	s.waitLag(t, "delivery", s.delivery)
	s.waitLag(t, "orders", s.orders)

	count := func(stream, name string) (n int) {
		require.NoError(t, s.db.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id = $1 AND event_name = $2`, stream, name).Scan(&n))
		return n
	}
	assert.Equal(t, 1, count(payment.StreamID(unpayable), payment.SessionRefusedName), "one refusal however often the command comes")
	assert.Equal(t, 1, count(shipping.StreamID(unshippable), shipping.ShipmentRefusedName), "one refusal however often the command comes")
	assert.Equal(t, 1, count(unpayable, order.NameOrderCancelled))
	assert.Equal(t, []string{"order_cancelled"}, s.notifications(t, unpayable))
	assert.Equal(t, 1, count(unshippable, order.NameSupportTicketOpened))

	var dead int
	require.NoError(t, s.db.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&dead))
	assert.Zero(t, dead, "no command left for an operator")
	s.verifyRebuild(t)
}

// A valid command an operator sends by hand after a refusal (the order's data corrected)
// is carried out, its event after the refusal on the service's stream; it was appended
// where the refusal stood, met it at every try and was dead-lettered after five. The
// saga then does with it what the order's state says: the paid order's shipment is
// recorded, the order waits for its delivery and its shipment_refused ticket is closed;
// the session of the order the refusal cancelled is closed at once, and its customer is
// not asked to pay.
func TestAValidCommandSentByHandAfterARefusalIsCarriedOut(t *testing.T) {
	s := start(t, defaultOptions())
	price := order.Cents(50_00)
	items := []order.Item{{SKU: "SKU-001", Quantity: 2, UnitPrice: &price}}
	total := order.Money{Amount: 100_00, Currency: "USD"}
	unpayable := s.placedEarlier(t, order.OrderPlaced{CustomerID: "c-old", CustomerEmail: "ann@example.com", Items: items, Total: unpayableTotal})
	s.waitStatus(t, unpayable, "cancelled")
	s.waitNotification(t, unpayable, "order_cancelled")
	long := &order.Address{Name: strings.Repeat("n", limits.MaxAddressField+1), Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}
	unshippable := s.placedEarlier(t, order.OrderPlaced{CustomerID: "c-old", CustomerEmail: "ann@example.com", Items: items, Total: total,
		ShippingAddress: long, BillingAddress: long})
	s.waitStatus(t, unshippable, "awaiting_payment")
	s.pay(t, unshippable, "completed")
	s.waitTicket(t, unshippable, "shipment_refused")

	ctx := context.Background()
	byHand := func(topic, orderID, name string, data any) {
		t.Helper()
		require.NoError(t, pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
			return eventstore.Send(ctx, tx, topic, eventstore.Metadata{CorrelationID: orderID, Actor: "operator"}, eventstore.Message{Name: name, Data: data})
		}))
	}
	byHand(payment.CommandsTopic, unpayable, payment.CreateSessionName,
		payment.CreateSession{OrderID: unpayable, Amount: int64(total.Amount), Currency: "USD", CustomerEmail: "ann@example.com"})
	byHand(shipping.CommandsTopic, unshippable, shipping.CreateShipmentName, shipping.CreateShipment{OrderID: unshippable,
		Lines:   []shipping.Line{{SKU: "SKU-001", Quantity: 2}},
		Address: &shipping.Address{Name: "Ann Smith", Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}})
	s.waitLag(t, "payments", s.payments)
	s.waitLag(t, "delivery", s.delivery)
	var dead int
	require.NoError(t, s.db.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&dead))
	require.Zero(t, dead, "each command carried out, not left for an operator")

	s.waitStatus(t, unshippable, "awaiting_delivery")
	if !poll(10*time.Millisecond, func() bool {
		var tickets struct {
			Tickets []struct{ Kind, Status string } `json:"tickets"`
		}
		require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/support-tickets?orderId="+unshippable, nil, operator(), &tickets))
		return len(tickets.Tickets) == 1 && tickets.Tickets[0].Kind == "shipment_refused" && tickets.Tickets[0].Status == "closed"
	}) {
		t.Fatalf("the shipment_refused ticket of %s is not closed: %v", unshippable, s.tickets(t, unshippable))
	}

	if !poll(10*time.Millisecond, func() bool {
		var status string
		require.NoError(t, s.db.QueryRow(ctx, `SELECT status FROM payments.sessions WHERE order_id = $1`, unpayable).Scan(&status))
		return status == "expired"
	}) {
		t.Fatalf("the late session of %s, cancelled, was not closed", unpayable)
	}
	s.waitLag(t, "orders", s.orders)
	assert.Equal(t, "cancelled", s.order(t, unpayable).Status)
	assert.Equal(t, []string{"order_cancelled"}, s.notifications(t, unpayable), "no confirmation asking to pay a cancelled order")
	for stream, want := range map[string][]string{
		payment.StreamID(unpayable):    {payment.SessionRefusedName, payment.SessionCreatedName},
		shipping.StreamID(unshippable): {shipping.ShipmentRefusedName, shipping.ShipmentCreatedName},
	} {
		rows, err := s.db.Query(ctx, `SELECT event_name FROM events WHERE stream_id = $1 ORDER BY stream_version`, stream)
		require.NoError(t, err)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		assert.Equal(t, want, names, stream)
	}
	s.verifyRebuild(t)
}

// A payments.refund command sent by hand, refused by the payment service's contract and
// naming an order id the orders service never gave, is answered as any refusal is, with
// payment.refund_refused.v1 on that id's payment stream; the saga, which has no order to
// open its ticket on, drops that answer. It dead-lettered it as "order not found", one
// dead letter more for a command the payment service had answered.
func TestAnInvalidRefundOfAnOrderNeverPlacedIsRefusedNotDeadLettered(t *testing.T) {
	s := start(t, defaultOptions())
	ctx := context.Background()
	const never = "never-placed-refund"
	require.NoError(t, pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		return eventstore.Send(ctx, tx, payment.CommandsTopic, eventstore.Metadata{CorrelationID: never, Actor: "operator"},
			eventstore.Message{Name: payment.RefundName, Data: payment.Refund{OrderID: never, PaymentID: "pi_hand", Amount: -5, Currency: "USD", Reason: "by hand"}})
	}))
	s.waitLag(t, "payments", s.payments)
	s.waitLag(t, "orders", s.orders)

	events, err := eventstore.Load(ctx, s.db, payment.StreamID(never))
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, payment.RefundRefusedName, events[0].Name, "the refusal is recorded")
	assert.Zero(t, s.storedRows(t)["dead_letters"], "nothing is dead-lettered")
	assert.Equal(t, http.StatusNotFound, s.call(t, "GET", s.orders+"/api/orders/"+never, nil, operator(), nil), "no order comes into being")
}
