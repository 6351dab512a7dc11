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

	var found bool
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var got map[string]any
		require.NoError(t, json.Unmarshal(line, &got), string(line))
		if got["msg"] == "webhook for an unknown order kept in the inbox" {
			found = true
			assert.Equal(t, "o-nowhere", got["order_id"], string(line))
			assert.Equal(t, "o-nowhere", got["correlation_id"], string(line))
		}
	}
	assert.True(t, found, "the unknown order is logged: %s", buf.Bytes())
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
