package inbox_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// A webhook names its order only in its body; the lines logged about it carry the order's
// id all the same, so they are found with the order's other lines.
func TestWebhookLogLinesNameTheOrderOfTheBody(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger, err := logging.New(&buf, logging.FormatJSON, slog.LevelInfo)
	require.NoError(t, err)
	svc := orders.New(pgtest.Pool(t), logger, orders.Config{DevMode: true, OperatorToken: orderstest.OperatorToken})
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()

	resp, err := srv.Client().Post(srv.URL+"/webhooks/delivery", "application/json", strings.NewReader(`{"orderId":"o-nowhere","status":"delivered"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Dev mode's warning that it took the webhook unsigned names the order too (it was
	// said before the body was read: a probe).
	found := map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var got map[string]any
		require.NoError(t, json.Unmarshal(line, &got), string(line))
		if msg, _ := got["msg"].(string); msg == "webhook for an unknown order kept in the inbox" || msg == "accepting an UNSIGNED webhook: dev mode only" {
			found[msg] = true
			assert.Equal(t, "o-nowhere", got["order_id"], string(line))
			assert.Equal(t, "o-nowhere", got["correlation_id"], string(line))
		}
	}
	assert.Len(t, found, 2, "the unknown order and the missing signature are logged: %s", buf.Bytes())
}

// A webhook with a bad signature is refused each time, counted each time, and logged once
// a minute a path: anyone may send one, and a probe grew the log a line a request.
func TestBadSignaturesAreLoggedOnceAMinute(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger, err := logging.New(&buf, logging.FormatJSON, slog.LevelInfo)
	require.NoError(t, err)
	svc := orders.New(pgtest.Pool(t), logger, orders.Config{PaymentWebhookSecret: "whsec_prod_7f3a9c1e52", DeliveryWebhookSecret: "courier_prod_7f3a9c1e52",
		OperatorToken: orderstest.OperatorToken})
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	for _, path := range []string{"/webhooks/payment", "/webhooks/payment", "/webhooks/payment", "/webhooks/delivery", "/webhooks/delivery"} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(`{}`))
		require.NoError(t, err)
		req.Header.Set("Stripe-Signature", "t=1,v1=00")
		req.Header.Set("X-Courier-Signature", "t=1,v1=00")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
	}
	assert.Equal(t, 2, bytes.Count(buf.Bytes(), []byte("webhook refused: bad signature")), "a line for each path, not each request: %s", buf.Bytes())
}

// syncBuffer is a buffer the server's goroutines write and the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
