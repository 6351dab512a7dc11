package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
)

// handShipment is a shipment as the delivery service's procedures show it.
type handShipment struct{ ShipmentID, Status, Reason string }

// bookByHand books a shipment for order id through the delivery service's procedure, as an
// operator's tool may, and returns the procedure's status and its shipment.
func (s *system) bookByHand(t *testing.T, id string) (int, handShipment) {
	t.Helper()
	var sh handShipment
	code := s.call(t, "POST", s.delivery+"/api/shipments",
		map[string]any{"orderId": id, "lines": []map[string]any{{"sku": "SKU-001", "quantity": 2}}}, bearer(ordersServiceToken), &sh)
	return code, sh
}

// waitShipment waits until order id's shipment at the delivery service is status, and
// returns it.
func (s *system) waitShipment(t *testing.T, id, status string) handShipment {
	t.Helper()
	var sh handShipment
	require.True(t, poll(10*time.Millisecond, func() bool {
		require.Equal(t, http.StatusOK, s.call(t, "GET", s.delivery+"/api/shipments/"+id, nil, bearer(ordersServiceToken), &sh))
		return sh.Status == status
	}), "order %s's shipment is %+v, never %s", id, sh, status)
	return sh
}

// shipmentEvents names the events of order id's shipment stream, in order.
func (s *system) shipmentEvents(t *testing.T, id string) []string {
	t.Helper()
	events, err := eventstore.Load(context.Background(), s.db, shipping.StreamID(id))
	require.NoError(t, err)
	var names []string
	for _, e := range events {
		names = append(names, e.Name)
	}
	return names
}

// A shipment booked by hand for an order placed but not paid yet (a probe) was left booked
// with the courier, who could collect goods nobody had paid for; once the order was paid,
// the workflow's own booking met it (one shipment an order), nothing was booked or
// announced, and the order stayed awaiting_shipment for ever (that status has no
// deadline). The hand booking is called off at once now, with the order's status for a
// reason, and the workflow's booking once the order is paid replaces it: the order ships
// with the workflow's own lines and address, and nothing is dead-lettered.
func TestAShipmentBookedByHandBeforeThePaymentIsCalledOff(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	code, hand := s.bookByHand(t, id)
	require.Equal(t, http.StatusCreated, code)

	cancelled := s.waitShipment(t, id, "cancelled")
	assert.Equal(t, "order awaiting_payment: its shipment is booked by its workflow once it is paid", cancelled.Reason)
	assert.Equal(t, http.StatusConflict, s.call(t, "POST", s.delivery+"/api/shipments/"+id+"/simulate",
		map[string]string{"status": "in_transit"}, bearer(ordersServiceToken), nil), "the courier may not collect it")

	s.pay(t, id, "completed")
	o := s.waitStatus(t, id, "awaiting_delivery")
	require.NotEmpty(t, o.ShipmentID)
	assert.NotEqual(t, hand.ShipmentID, o.ShipmentID, "the workflow's own booking")
	assert.Equal(t, o.ShipmentID, s.waitShipment(t, id, "created").ShipmentID)
	assert.Equal(t, []string{shipping.ShipmentCreatedName, shipping.ShipmentCancelledName, shipping.ShipmentCreatedName}, s.shipmentEvents(t, id))

	s.courier(t, id, "delivered")
	s.waitStatus(t, id, "completed")
	s.waitLag(t, "orders", s.orders)
	assert.Zero(t, s.storedRows(t)["dead_letters"])
	s.verifyRebuild(t)
}

// A shipment booked by hand for an order given up (cancelled, or rejected by a manager)
// stayed booked with the courier (a probe): the courier would collect goods for an order
// nobody will pay for. It is called off at once, with the order's status for a reason, as
// one for an order never placed is.
func TestAShipmentBookedByHandForAnOrderGivenUpIsCalledOff(t *testing.T) {
	s := start(t, defaultOptions())
	for _, tc := range []struct{ status, body string }{{"cancelled", lowRisk}, {"rejected", highRisk}} {
		t.Run(tc.status, func(t *testing.T) {
			id := s.placeOrder(t, tc.body)
			if tc.status == "cancelled" {
				s.waitStatus(t, id, "awaiting_payment")
				s.pay(t, id, "failed")
			} else {
				s.waitStatus(t, id, "awaiting_approval")
				require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, false, "card mismatch").StatusCode())
			}
			s.waitStatus(t, id, tc.status)
			code, _ := s.bookByHand(t, id)
			require.Equal(t, http.StatusCreated, code)

			sh := s.waitShipment(t, id, "cancelled")
			assert.Equal(t, "order "+tc.status+": nothing is shipped for an order given up", sh.Reason)
			assert.Equal(t, []string{shipping.ShipmentCreatedName, shipping.ShipmentCancelledName}, s.shipmentEvents(t, id))
			assert.Empty(t, s.order(t, id).ShipmentID)
		})
	}
	s.waitLag(t, "orders", s.orders)
	assert.Zero(t, s.storedRows(t)["dead_letters"])
	s.verifyRebuild(t)
}

// A shipment booked by hand for an order completed books nothing (a probe): the delivery
// service keeps one shipment an order, and answers with the order's own, delivered, which
// there is nothing to call off; nothing is appended, so the workflow hears of nothing.
func TestAShipmentBookedByHandForAnOrderCompletedIsItsOwn(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_delivery")
	s.courier(t, id, "delivered")
	o := s.waitStatus(t, id, "completed")

	code, sh := s.bookByHand(t, id)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, handShipment{ShipmentID: o.ShipmentID, Status: shipping.StatusDelivered}, sh)
	assert.Equal(t, []string{shipping.ShipmentCreatedName}, s.shipmentEvents(t, id))
}

// pauseDelivery holds the delivery service's command consumer back, as a busy log may,
// until the returned func is called: it takes the group's lock on each partition of
// delivery_commands, which the consumer takes before each batch.
func (s *system) pauseDelivery(t *testing.T) (resume func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.db.Begin(ctx)
	require.NoError(t, err)
	for _, topic := range eventstore.Partitions(shipping.CommandsTopic) {
		_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "watermill_offsets:"+topic+":delivery")
		require.NoError(t, err)
	}
	done := false
	resume = func() {
		if !done {
			done = true
			require.NoError(t, tx.Rollback(ctx))
		}
	}
	t.Cleanup(resume)
	return resume
}

// A shipment booked by hand with other lines than its order's, while the order, paid,
// waited for its workflow's own booking (a probe), was taken as the order's: the saga
// recorded it, the workflow's booking was answered with it, and the courier would carry
// the operator's parcel for the order, and nobody was told. The workflow's booking is now
// refused (shipment.refused.v1 naming the hand booking), the order gets a shipment_refused
// ticket saying what differs, and the saga calls the hand booking off and books the
// order's own in its place, which closes the ticket.
func TestAShipmentBookedByHandOfOtherLinesForAPaidOrderIsNotItsOwn(t *testing.T) {
	s := start(t, defaultOptions())
	id := s.placeOrder(t, lowRisk)
	s.waitStatus(t, id, "awaiting_payment")
	resume := s.pauseDelivery(t) // the workflow's booking waits on the log
	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_shipment")
	var hand handShipment
	require.Equal(t, http.StatusCreated, s.call(t, "POST", s.delivery+"/api/shipments",
		map[string]any{"orderId": id, "lines": []map[string]any{{"sku": "SKU-001", "quantity": 1}, {"sku": "SKU-002", "quantity": 1}}}, bearer(ordersServiceToken), &hand))
	resume()

	o := s.waitStatus(t, id, "awaiting_delivery")
	assert.NotEqual(t, hand.ShipmentID, o.ShipmentID, "the workflow's own booking")
	var own struct {
		ShipmentID string
		Status     string
		Lines      []shipping.Line
	}
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.delivery+"/api/shipments/"+id, nil, bearer(ordersServiceToken), &own))
	assert.Equal(t, o.ShipmentID, own.ShipmentID)
	assert.Equal(t, []shipping.Line{{SKU: "SKU-001", Quantity: 2}}, own.Lines, "the order's lines")
	assert.Equal(t, []string{shipping.ShipmentCreatedName, shipping.ShipmentRefusedName, shipping.ShipmentCancelledName, shipping.ShipmentCreatedName},
		s.shipmentEvents(t, id))

	var tickets struct {
		Tickets []struct{ Kind, Status, Reason string } `json:"tickets"`
	}
	require.True(t, poll(10*time.Millisecond, func() bool {
		require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/support-tickets?orderId="+id, nil, operator(), &tickets))
		return len(tickets.Tickets) == 1 && tickets.Tickets[0].Status == "closed"
	}), "the order's tickets: %+v", tickets)
	assert.Equal(t, "shipment_refused", tickets.Tickets[0].Kind)
	assert.Contains(t, tickets.Tickets[0].Reason, "order "+id+" already has a shipment "+hand.ShipmentID+" (created) of other lines or address, and an order is shipped once: "+
		"SKU-001: 1 in the shipment, 2 asked; SKU-002: 1 in the shipment, 0 asked")

	s.courier(t, id, "delivered")
	s.waitStatus(t, id, "completed")
	s.waitLag(t, "orders", s.orders)
	assert.Zero(t, s.storedRows(t)["dead_letters"])
}
