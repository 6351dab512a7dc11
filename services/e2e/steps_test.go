package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/services/ordersclient"
)

// pay is the customer paying at the checkout of the order's session, once there is one:
// the payment simulator settles it and sends the signed webhook a provider would.
func (s *system) pay(t *testing.T, orderID, outcome string) {
	t.Helper()
	s.session(t, orderID)
	var out struct {
		OrdersStatus int `json:"ordersStatus"`
	}
	code := s.call(t, "POST", s.payments+"/api/payments/process", map[string]string{"orderId": orderID, "outcome": outcome}, bearer(ordersServiceToken), &out)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, out.OrdersStatus)
}

// courier asks the courier simulator to send a signed delivery webhook.
func (s *system) courier(t *testing.T, orderID, status string) {
	t.Helper()
	var out struct {
		OrdersStatus int `json:"ordersStatus"`
	}
	code := s.call(t, "POST", s.delivery+"/api/shipments/"+orderID+"/simulate", map[string]string{"status": status}, bearer(ordersServiceToken), &out)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, out.OrdersStatus)
}

type stock struct {
	SKU       string `json:"sku"`
	Available int    `json:"available"`
	Reserved  int    `json:"reserved"`
}

func (s *system) stock(t *testing.T, sku string) stock {
	t.Helper()
	var all []stock
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.warehouse+"/api/inventory", nil, nil, &all))
	for _, st := range all {
		if st.SKU == sku {
			return st
		}
	}
	t.Fatalf("sku %s not in the catalog", sku)
	return stock{}
}

func (s *system) notifications(t *testing.T, orderID string) []string {
	t.Helper()
	res, err := s.api.ListNotificationsWithResponse(t.Context(), orderID, ordersclient.WithHeaders(operator()))
	require.NoError(t, err)
	require.NotNil(t, res.JSON200, "status %d: %s", res.StatusCode(), res.Body)
	kinds := []string{}
	for _, n := range res.JSON200.Notifications {
		kinds = append(kinds, n.Kind)
	}
	return kinds
}

func (s *system) tickets(t *testing.T, orderID string) []string {
	t.Helper()
	res, err := s.api.ListSupportTicketsWithResponse(t.Context(), &ordersclient.ListSupportTicketsParams{OrderId: &orderID},
		ordersclient.WithHeaders(operator()))
	require.NoError(t, err)
	require.NotNil(t, res.JSON200, "status %d: %s", res.StatusCode(), res.Body)
	kinds := []string{}
	for _, ticket := range res.JSON200.Tickets {
		kinds = append(kinds, ticket.Kind)
	}
	return kinds
}

// waitNotification waits until the order has an email of kind recorded.
func (s *system) waitNotification(t *testing.T, id, kind string) {
	t.Helper()
	if !poll(10*time.Millisecond, func() bool { return slices.Contains(s.notifications(t, id), kind) }) {
		t.Fatalf("no %s email for order %s", kind, id)
	}
}

// waitTicket waits until a support ticket of kind exists for the order.
func (s *system) waitTicket(t *testing.T, id, kind string) {
	t.Helper()
	if !poll(10*time.Millisecond, func() bool { return slices.Contains(s.tickets(t, id), kind) }) {
		t.Fatalf("no %s ticket for order %s", kind, id)
	}
}

// waitRefund waits until the order has recorded a refund.
func (s *system) waitRefund(t *testing.T, id string) {
	t.Helper()
	if !poll(10*time.Millisecond, func() bool {
		_, body := s.raw(t, s.orders+"/api/orders/"+id+"/events", operator())
		return strings.Contains(body, `"order.payment_refunded.v1"`)
	}) {
		t.Fatalf("order %s never recorded a refund", id)
	}
}

// waitStock waits until a SKU's stock is back to want.
func (s *system) waitStock(t *testing.T, sku string, want stock) {
	t.Helper()
	var got stock
	if !poll(10*time.Millisecond, func() bool { got = s.stock(t, sku); return got == want }) {
		t.Fatalf("stock of %s is %+v, want %+v", sku, got, want)
	}
}

// openTicket opens a delivery_failed support ticket on order id as the workflow would,
// and waits until the tickets list has it: the tickets page is not live.
func (s *system) openTicket(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "system"}, func(o *order.Order) ([]order.Event, error) {
			return o.OpenSupportTicket("delivery_failed", "parcel lost", time.Now())
		})
		return err
	}))
	require.True(t, poll(10*time.Millisecond, func() bool {
		var n int
		return s.db.QueryRow(ctx, `SELECT count(*) FROM orders.support_tickets WHERE order_id = $1`, id).Scan(&n) == nil && n == 1
	}), "the ticket never reached the tickets list")
}
