package inbox_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// A webhook the saga handles in its own transaction is kept in the inbox, payload and
// all, and is not published to the log: no consumer has anything left to do with it.
// Here a courier's update comes for an order not paid yet, and the saga refuses it with a
// ticket on the order; no consumer runs in this test, so the ticket shows it ran at once.
func TestAWebhookTheSagaHandledIsNotPublished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	const id = "o-held"
	orderstest.HoldOrder(t, pool, id, "ann@example.com")
	svc := orders.New(pool, slog.New(slog.DiscardHandler), orders.Config{DevMode: true, OperatorToken: orderstest.OperatorToken})
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()

	resp, err := srv.Client().Post(srv.URL+"/webhooks/delivery", "application/json",
		strings.NewReader(`{"id":"d-1","orderId":"`+id+`","status":"in_transit"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	var outcome, status string
	var messageID *string
	require.NoError(t, pool.QueryRow(ctx, `SELECT outcome, payload->>'status', message_id FROM orders.webhook_inbox WHERE provider = 'delivery' AND event_id = 'd-1'`).Scan(&outcome, &status, &messageID))
	assert.Equal(t, "accepted", outcome)
	assert.Equal(t, "in_transit", status, "the inbox row keeps the webhook's payload")
	require.NotNil(t, messageID, "the inbox row keeps the id its effects name as their cause")
	_, err = uuid.Parse(*messageID)
	assert.NoError(t, err)
	var kind string
	require.NoError(t, pool.QueryRow(ctx, `SELECT payload->>'kind' FROM events WHERE stream_id = $1 AND event_name = $2`,
		id, order.NameSupportTicketOpened).Scan(&kind), "the saga ran on the webhook in its transaction")
	assert.Equal(t, sagas.TicketDeliveryMismatch, kind)
	var published int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM watermill_`+sagas.WebhooksTopic).Scan(&published))
	assert.Zero(t, published, "a webhook the saga handled is not in the log")
}
