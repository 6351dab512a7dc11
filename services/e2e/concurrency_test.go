package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/ordersclient"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// Many orders moving at once through every step must all complete, with nothing
// dead-lettered: the saga's batch consumers (one per order-events partition, one per reply
// topic) and the webhooks' own transactions, which run the saga at once, touch the same
// orders at once and must never deadlock each other, and no batch may fail and fall back for any other reason either.
func TestConcurrentOrdersAllCompleteWithoutDeadLetters(t *testing.T) {
	s := start(t, defaultOptions())
	const customers = 128
	var wg sync.WaitGroup
	errs := make(chan error, customers)
	for i := range customers {
		wg.Go(func() {
			if err := s.driveOrder(t.Context(), i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	var deadLetters int
	require.NoError(t, s.db.QueryRow(context.Background(), `SELECT count(*) FROM dead_letters`).Scan(&deadLetters))
	assert.Zero(t, deadLetters)
	// The saga reacts to the events it records in the same transaction and skips them when
	// the log delivers them again: each command went out exactly once per order.
	for _, topic := range []string{"warehouse_commands", "payments_commands", "delivery_commands"} {
		var n int
		require.NoError(t, s.db.QueryRow(context.Background(), `SELECT count(*) FROM "watermill_`+topic+`"`).Scan(&n))
		assert.Equal(t, customers, n, "commands on %s", topic)
	}
	var inline, notInline int
	require.NoError(t, s.db.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE metadata->>'handledBy' = 'saga.process_order'),
		       count(*) FILTER (WHERE metadata->>'handledBy' IS NULL)
		FROM events WHERE stream_type = 'order' AND metadata->>'actor' = 'saga'`).Scan(&inline, &notInline))
	assert.Positive(t, inline)
	assert.Zero(t, notInline, "every order event the saga records is handled in its own transaction")
	logs := s.logs.String()
	assert.NotContains(t, logs, "deadlock", "no transaction of the log may deadlock another")
	assert.NotContains(t, logs, "batch failed", "no consumer batch may fail")
}

// driveOrder takes one order from placement to completion with signed webhooks; it returns
// errors instead of failing the test so it can run in a goroutine.
func (s *system) driveOrder(ctx context.Context, i int) error {
	id, err := s.place(ctx, fmt.Sprintf(`{"items":[{"sku":"SKU-%03d","quantity":1}],"customerId":"c-%d"}`, 1+i%5, i))
	if err != nil {
		return err
	}
	if err := s.reach(ctx, id, "awaiting_payment"); err != nil {
		return err
	}
	wh, err := s.providerPayment(ctx, id, "evt_"+id, "completed", "pi_"+id)
	if err != nil {
		return err
	}
	pay, _ := json.Marshal(wh)
	paid, err := s.api.PaymentWebhookWithBodyWithResponse(ctx, "application/json", bytes.NewReader(pay),
		ordersclient.WithHeaders(http.Header{webhooksig.StripeHeader: {webhooksig.SignStripe(pay, paymentSecret, time.Now())}}))
	if err != nil {
		return err
	}
	if paid.StatusCode() != http.StatusAccepted {
		return fmt.Errorf("payment webhook of %s: status %d: %s", id, paid.StatusCode(), paid.Body)
	}
	if err := s.reach(ctx, id, "awaiting_delivery"); err != nil {
		return err
	}
	del, _ := json.Marshal(map[string]string{"id": "dlv_" + id, "orderId": id, "status": "delivered"})
	delivered, err := s.api.DeliveryWebhookWithBodyWithResponse(ctx, "application/json", bytes.NewReader(del),
		ordersclient.WithHeaders(http.Header{webhooksig.CourierHeader: {webhooksig.SignCourier(del, deliverySecret, time.Now())}}))
	if err != nil {
		return err
	}
	if delivered.StatusCode() != http.StatusAccepted {
		return fmt.Errorf("delivery webhook of %s: status %d: %s", id, delivered.StatusCode(), delivered.Body)
	}
	return s.reach(ctx, id, "completed")
}

// reach polls the order until it has status.
func (s *system) reach(ctx context.Context, id, status string) error {
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	var o orderView
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); <-poll.C {
		var err error
		if o, err = s.read(ctx, id); err != nil {
			return err
		}
		if o.Status == status {
			return nil
		}
	}
	return fmt.Errorf("order %s is %s, never reached %s", id, o.Status, status)
}
