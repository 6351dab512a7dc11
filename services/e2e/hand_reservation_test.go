package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
)

// An operator's tool may reserve an order by hand through the warehouse's procedure before
// the saga does (a probe, against real processes). The order never waits for ever and never
// goes on holding other units than its items: it is cancelled, its stock not held, its
// customer told, and the stock is all back. Neither the customer nor the timeline is told
// an item is out of stock: none was (until 2026-12-07 both were).
func TestAnOrderReservedByHandBeforeTheSagaEnds(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.stock(t, "SKU-031")
	byHand := func(t *testing.T, id string, quantity int) {
		t.Helper()
		require.Equal(t, http.StatusCreated, s.call(t, "POST", s.warehouse+"/api/inventory/reserve",
			map[string]any{"orderId": id, "lines": []map[string]any{{"sku": "SKU-031", "quantity": quantity}}}, bearer(ordersServiceToken), nil))
	}
	ends := func(t *testing.T, id string) {
		t.Helper()
		require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, true, "checked by phone").StatusCode())
		o := s.waitStatus(t, id, "cancelled")
		assert.Equal(t, "stock_not_held", o.CancelReason)
		assert.Empty(t, o.ReservationID, "no reservation booked")
		s.waitNotification(t, id, "order_cancelled")
		email, timeline := s.cancellationWords(t, id)
		assert.Contains(t, email, "was cancelled: its items could not be reserved for it.")
		assert.Contains(t, timeline, "Cancelled (stock not held): ")
		assert.NotContains(t, email+timeline, "out of stock")
	}

	t.Run("the order's units, released by the saga while the order awaited approval", func(t *testing.T) {
		id := s.placeOrder(t, highRisk)
		s.waitStatus(t, id, "awaiting_approval")
		byHand(t, id, 1)
		require.True(t, poll(10*time.Millisecond, func() bool {
			var r struct{ Status string }
			s.call(t, "GET", s.warehouse+"/api/inventory/reservations/"+id, nil, bearer(ordersServiceToken), &r)
			return r.Status == "released"
		}), "the saga releases a reservation the order does not wait for")
		ends(t, id) // it stayed reserving_inventory: the saga's reservation was answered with nothing
	})
	t.Run("other units, approved at once", func(t *testing.T) {
		// Whether the saga meets the hand reservation before the approval (it releases it)
		// or after (it held two units for a one-unit order), the order ends.
		id := s.placeOrder(t, highRisk)
		s.waitStatus(t, id, "awaiting_approval")
		byHand(t, id, 2)
		ends(t, id)
	})
	assert.True(t, poll(10*time.Millisecond, func() bool { return s.stock(t, "SKU-031") == before }), "every unit back")
	s.verifyRebuild(t)
}

// cancellationWords is what order id's customer was told of its cancellation (the email's
// body) and what its timeline, on the dashboard's order page, says of it.
func (s *system) cancellationWords(t *testing.T, id string) (email, timeline string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.db.QueryRow(ctx, `SELECT body FROM orders.notifications WHERE order_id = $1 AND kind = 'order_cancelled'`, id).Scan(&email))
	h, err := orderstream.LoadHistory(ctx, s.db, id)
	require.NoError(t, err)
	for _, e := range projections.TimelineOf(h) {
		if e.Name == order.NameOrderCancelled {
			timeline = e.Summary
		}
	}
	return email, timeline
}

// A reservation by hand of an order id the orders service never gave held its stock for
// ever (a probe): nothing claims it, and the saga, which answers every reservation of an
// order it has, dead-lettered its Reserved as "order not found". It is given back at once
// now, through the log like any release: the warehouse records it Released, with the
// reason, the units are all back on sale, and nothing is dead-lettered.
func TestAReservationOfAnOrderNeverPlacedIsGivenBack(t *testing.T) {
	s := start(t, defaultOptions())
	before := s.stock(t, "SKU-031")
	const never = "never-placed-1"
	require.Equal(t, http.StatusCreated, s.call(t, "POST", s.warehouse+"/api/inventory/reserve",
		map[string]any{"orderId": never, "lines": []map[string]any{{"sku": "SKU-031", "quantity": 3}}}, bearer(ordersServiceToken), nil))
	var r struct{ Status, Reason string }
	require.True(t, poll(10*time.Millisecond, func() bool {
		require.Equal(t, http.StatusOK, s.call(t, "GET", s.warehouse+"/api/inventory/reservations/"+never, nil, bearer(ordersServiceToken), &r))
		return r.Status == "released"
	}), "the reservation is given back, not held for ever: %+v", r)
	assert.Contains(t, r.Reason, "no such order")
	assert.Equal(t, before, s.stock(t, "SKU-031"), "every unit back on sale")

	events, err := eventstore.Load(context.Background(), s.db, inventory.StreamID(never))
	require.NoError(t, err)
	var names []string
	for _, e := range events {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{inventory.ReservedName, inventory.ReleasedName}, names, "the release is recorded as any other")
	s.waitLag(t, "orders", s.orders)
	assert.Zero(t, s.storedRows(t)["dead_letters"], "nothing is dead-lettered: the Released holds nothing to answer")
	assert.Equal(t, http.StatusNotFound, s.call(t, "GET", s.orders+"/api/orders/"+never, nil, operator(), nil), "no order comes into being")
}

// A shipment booked by hand (the delivery service's procedure) for an order id the orders
// service never gave stayed booked with the courier for ever (a probe): nothing claims it,
// and the saga, which answers every shipment of an order it has, dead-lettered its
// ShipmentCreated as "order not found". It is called off at once now, through the log: the
// delivery service records it ShipmentCancelled, with the reason, the courier may not move
// it any more, and nothing is dead-lettered.
func TestAShipmentOfAnOrderNeverPlacedIsCalledOff(t *testing.T) {
	s := start(t, defaultOptions())
	const never = "never-placed-2"
	require.Equal(t, http.StatusCreated, s.call(t, "POST", s.delivery+"/api/shipments",
		map[string]any{"orderId": never, "lines": []map[string]any{{"sku": "SKU-031", "quantity": 1}}}, bearer(ordersServiceToken), nil))
	var sh struct{ Status, Reason string }
	require.True(t, poll(10*time.Millisecond, func() bool {
		require.Equal(t, http.StatusOK, s.call(t, "GET", s.delivery+"/api/shipments/"+never, nil, bearer(ordersServiceToken), &sh))
		return sh.Status == "cancelled"
	}), "the shipment is called off, not booked for ever: %+v", sh)
	assert.Contains(t, sh.Reason, "no such order")
	assert.Equal(t, http.StatusConflict, s.call(t, "POST", s.delivery+"/api/shipments/"+never+"/simulate",
		map[string]string{"status": "in_transit"}, bearer(ordersServiceToken), nil), "the courier may not move it")

	events, err := eventstore.Load(context.Background(), s.db, shipping.StreamID(never))
	require.NoError(t, err)
	var names []string
	for _, e := range events {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{shipping.ShipmentCreatedName, shipping.ShipmentCancelledName}, names)
	s.waitLag(t, "orders", s.orders)
	assert.Zero(t, s.storedRows(t)["dead_letters"], "nothing is dead-lettered")
	assert.Equal(t, http.StatusNotFound, s.call(t, "GET", s.orders+"/api/orders/"+never, nil, operator(), nil), "no order comes into being")
}

// A reservation by hand of an order given up or completed holds nothing for long (a
// probe, 2026-12-07): the warehouse reserves an order once, so one whose reservation was
// released (cancelled) or is its own (completed) is answered with that one, 409 or 200,
// and nothing more is held; one never reserved (rejected by a manager) is reserved, and
// the workflow gives it back at once, as the order no longer awaits inventory.
func TestAReservationByHandOfAnOrderGivenUpOrCompletedHoldsNothing(t *testing.T) {
	s := start(t, defaultOptions())
	byHand := func(t *testing.T, id, sku string, quantity int) int {
		t.Helper()
		return s.call(t, "POST", s.warehouse+"/api/inventory/reserve",
			map[string]any{"orderId": id, "lines": []map[string]any{{"sku": sku, "quantity": quantity}}}, bearer(ordersServiceToken), nil)
	}
	reservation := func(t *testing.T, id string) (r struct{ Status, Reason string }) {
		t.Helper()
		require.Equal(t, http.StatusOK, s.call(t, "GET", s.warehouse+"/api/inventory/reservations/"+id, nil, bearer(ordersServiceToken), &r))
		return r
	}

	t.Run("rejected", func(t *testing.T) {
		before := s.stock(t, "SKU-031")
		id := s.placeOrder(t, highRisk)
		s.waitStatus(t, id, "awaiting_approval")
		require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, false, "card mismatch").StatusCode())
		s.waitStatus(t, id, "rejected")
		require.Equal(t, http.StatusCreated, byHand(t, id, "SKU-031", 1))
		require.True(t, poll(10*time.Millisecond, func() bool { return reservation(t, id).Status == "released" }))
		assert.Equal(t, "order no longer awaiting inventory", reservation(t, id).Reason)
		s.waitStock(t, "SKU-031", before)
	})
	t.Run("cancelled", func(t *testing.T) {
		id := s.placeOrder(t, lowRisk)
		s.waitStatus(t, id, "awaiting_payment")
		s.pay(t, id, "failed")
		s.waitStatus(t, id, "cancelled")
		require.True(t, poll(10*time.Millisecond, func() bool { return reservation(t, id).Status == "released" }))
		before := s.stock(t, "SKU-001")
		assert.Equal(t, http.StatusConflict, byHand(t, id, "SKU-001", 2))
		assert.Equal(t, before, s.stock(t, "SKU-001"))
	})
	t.Run("completed", func(t *testing.T) {
		id := s.placeOrder(t, lowRisk)
		s.waitStatus(t, id, "awaiting_payment")
		s.pay(t, id, "completed")
		s.waitStatus(t, id, "awaiting_delivery")
		s.courier(t, id, "delivered")
		s.waitStatus(t, id, "completed")
		before := s.stock(t, "SKU-001")
		assert.Equal(t, http.StatusOK, byHand(t, id, "SKU-001", 2), "its own reservation")
		assert.Equal(t, http.StatusConflict, byHand(t, id, "SKU-001", 3), "an order is reserved once")
		assert.Equal(t, before, s.stock(t, "SKU-001"))
	})
	s.waitLag(t, "orders", s.orders)
	assert.Zero(t, s.storedRows(t)["dead_letters"])
}
