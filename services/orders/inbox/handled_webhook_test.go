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

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// A webhook the saga handles in its own transaction is kept in the inbox, payload and
// all, and is not published to the log: no consumer has anything left to do with it.
// Here a courier's update comes before the order is shipped, and the saga keeps it for
// later; no consumer runs in this test, so the saga's state shows it ran at once.
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
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT jsonb_array_length(state->'pendingDelivery') FROM sagas.order_process WHERE order_id = $1`, id).Scan(&pending))
	assert.Equal(t, 1, pending, "the saga ran on the webhook in its transaction")
	var published int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM watermill_`+sagas.WebhooksTopic).Scan(&published))
	assert.Zero(t, published, "a webhook the saga handled is not in the log")
}
