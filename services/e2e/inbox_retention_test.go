package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/orders/inbox"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// The inbox keeps a webhook for WEBHOOK_INBOX_RETENTION; a provider that sends one again
// after its row is swept (a retry past the retention, or an operator's "resend" at Stripe)
// is not recognised as a retry: the webhook is recorded anew and the saga runs on it. The
// order takes it as the repeat it is: paid already, delivered already, the refund recorded
// already. Nothing is appended to the order, no email is written and no command sent.
func TestWebhooksSentAgainAfterTheirRowsAreSweptChangeNothing(t *testing.T) {
	s, _ := startWithStripe(t)
	ctx := t.Context()
	id, cs := s.paidCheckout(t)
	pi := cs["payment_intent"].(string)
	paid := stripeEvent(t, "evt_paid_"+id, "checkout.session.completed", cs)
	delivered := []byte(fmt.Sprintf(`{"id":"dlv_%s","orderId":%q,"status":"delivered"}`, id, id))
	refunded := stripeEvent(t, "evt_refunded_"+id, "charge.refunded", refundedCharge(pi, cs["amount_total"].(int64), true))
	sendDelivered := func() int {
		// Signed at each send, as a courier does: a signature is good for five minutes.
		return s.postDelivery(t, delivered, http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(delivered, deliverySecret, time.Now())}}).StatusCode()
	}

	status, answer := s.sendStripe(t, paid, paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "%v", answer)
	s.waitStatus(t, id, "awaiting_delivery")
	require.Equal(t, http.StatusAccepted, sendDelivered())
	s.waitStatus(t, id, "completed")
	status, answer = s.sendStripe(t, refunded, paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "%v", answer)
	s.waitTicket(t, id, "refunded_outside")

	// A webhook's 2xx means the saga ran on it in the webhook's transaction, so all it does
	// is here once the answer is.
	before := s.recorded(t, id)

	// A month and a day later, the three webhooks are swept.
	_, err := s.db.Exec(ctx, `UPDATE orders.webhook_inbox SET received_at = received_at - interval '31 days' WHERE order_id = $1`, id)
	require.NoError(t, err)
	swept, err := inbox.Sweep(ctx, s.db, inbox.DefaultRetention)
	require.NoError(t, err)
	assert.Equal(t, int64(3), swept)

	for name, send := range map[string]func() (int, map[string]any){
		"payment":  func() (int, map[string]any) { return s.sendStripe(t, paid, paymentSecret) },
		"delivery": func() (int, map[string]any) { return sendDelivered(), nil },
		"refund":   func() (int, map[string]any) { return s.sendStripe(t, refunded, paymentSecret) },
	} {
		status, answer := send()
		assert.Equal(t, http.StatusAccepted, status, "%s: no row tells it from a new webhook: %v", name, answer)
	}
	assert.Equal(t, before, s.recorded(t, id), "the order takes each as a repeat")
	assert.Equal(t, "completed", s.order(t, id).Status)
	assert.Equal(t, []string{"refunded_outside"}, s.tickets(t, id))
	s.oneRefundTicket(t, id)

	// Recorded again, each is a duplicate once more.
	status, answer = s.sendStripe(t, paid, paymentSecret)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "duplicate", answer["outcome"])
	assert.Equal(t, http.StatusOK, sendDelivered())
}

// recorded counts what order id has and what was sent for it: its events, its emails, the
// commands to the other services and the webhooks queued for the saga that name it.
func (s *system) recorded(t *testing.T, id string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for what, query := range map[string]string{
		"events":        `SELECT count(*) FROM events WHERE stream_id = $1`,
		"emails":        `SELECT count(*) FROM orders.notifications WHERE order_id = $1`,
		"payments":      `SELECT count(*) FROM watermill_payments_commands WHERE payload::text LIKE '%' || $1 || '%'`,
		"delivery":      `SELECT count(*) FROM watermill_delivery_commands WHERE payload::text LIKE '%' || $1 || '%'`,
		"warehouse":     `SELECT count(*) FROM watermill_warehouse_commands WHERE payload::text LIKE '%' || $1 || '%'`,
		"webhook_queue": `SELECT count(*) FROM watermill_webhook_events WHERE payload::text LIKE '%' || $1 || '%'`,
	} {
		var n int
		require.NoError(t, s.db.QueryRow(t.Context(), query, id).Scan(&n), what)
		counts[what] = n
	}
	return counts
}

// A payment the waiting order refused (for less than its total) and a courier's update
// for the order before it was paid each opened a ticket. Sent again after their rows are
// swept, each is refused as it was the first time, and its ticket, which says so already,
// gets no comment: the order's own ticket events tell the repeat. Until 2026-12-07 each
// commented on its ticket once more.
func TestRefusedWebhooksSentAgainAfterTheirRowsAreSweptAddNothingToTheirTickets(t *testing.T) {
	s, mock := startWithStripe(t)
	ctx := t.Context()
	id, cs := s.paidCheckout(t)
	cs["amount_total"] = cs["amount_total"].(int64) - 1
	mock.PaymentIntent(cs["payment_intent"].(string), id)
	short := stripeEvent(t, "evt_short_"+id, "checkout.session.completed", cs)
	delivered := []byte(fmt.Sprintf(`{"id":"dlv_%s","orderId":%q,"status":"delivered"}`, id, id))
	sendDelivered := func() int {
		return s.postDelivery(t, delivered, http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(delivered, deliverySecret, time.Now())}}).StatusCode()
	}

	status, answer := s.sendStripe(t, short, paymentSecret)
	require.Equal(t, http.StatusAccepted, status, "%v", answer)
	s.waitTicket(t, id, "payment_mismatch")
	s.waitRefund(t, id)
	require.Equal(t, http.StatusAccepted, sendDelivered())
	s.waitTicket(t, id, "delivery_mismatch")
	before := s.recorded(t, id)

	_, err := s.db.Exec(ctx, `UPDATE orders.webhook_inbox SET received_at = received_at - interval '31 days' WHERE order_id = $1`, id)
	require.NoError(t, err)
	swept, err := inbox.Sweep(ctx, s.db, inbox.DefaultRetention)
	require.NoError(t, err)
	assert.Equal(t, int64(2), swept)

	status, answer = s.sendStripe(t, short, paymentSecret)
	assert.Equal(t, http.StatusAccepted, status, "no row tells it from a new webhook: %v", answer)
	assert.Equal(t, http.StatusAccepted, sendDelivered(), "no row tells it from a new webhook")
	assert.Equal(t, before, s.recorded(t, id), "each ticket says so already")
	assert.Equal(t, "awaiting_payment", s.order(t, id).Status)
	assert.ElementsMatch(t, []string{"payment_mismatch", "delivery_mismatch"}, s.tickets(t, id))
}
