package host_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/services/host"
)

// Logs are text for a developer (DEV_MODE), JSON otherwise; LOG_FORMAT decides either way,
// and a value the process cannot honour stops it with one line naming the variable.
func TestLoggerFormatFollowsDevModeAndLogFormat(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		json bool
	}{
		{map[string]string{"DEV_MODE": "1"}, false},
		{map[string]string{}, true},
		{map[string]string{"DEV_MODE": "1", "LOG_FORMAT": "json"}, true},
		{map[string]string{"LOG_FORMAT": "text"}, false},
	} {
		var buf bytes.Buffer
		logger, err := host.Logger(host.EnvOf(c.env), &buf)
		require.NoError(t, err)
		logger.Info("hello")
		assert.Equal(t, c.json, strings.HasPrefix(buf.String(), "{"), "%v: %s", c.env, buf.String())
	}
	for env, want := range map[string]string{"LOG_FORMAT": `LOG_FORMAT="yaml"`, "LOG_LEVEL": `LOG_LEVEL="yaml"`} {
		_, err := host.Logger(host.EnvOf(map[string]string{env: "yaml"}), &bytes.Buffer{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), want)
		assert.NotContains(t, err.Error(), "\n")
	}
}

// orderLogger answers GET /orders/{id} and logs a line about it with the request's context.
type orderLogger struct{ logger *slog.Logger }

func (s orderLogger) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.logger.InfoContext(r.Context(), "looked at an order")
	})
	return mux
}

func (orderLogger) RegisterConsumers(*eventstore.Log, *message.Router) error { return nil }

// A line logged while a request about an order is handled names the order and the trace.
func TestRequestLogLinesNameTheOrderInThePath(t *testing.T) {
	var buf lockedBuffer
	logger, err := logging.New(&buf, logging.FormatJSON, slog.LevelInfo)
	require.NoError(t, err)
	addr := serve(t, orderLogger{logger}, host.Options{})
	resp, err := http.Get("http://" + addr + "/orders/ord-42")
	require.NoError(t, err)
	resp.Body.Close()
	var got map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got), buf.String())
	assert.Equal(t, "ord-42", got["order_id"])
	assert.Equal(t, "ord-42", got["correlation_id"])
}

// lockedBuffer is a buffer a server goroutine writes and the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

func (b *lockedBuffer) String() string { return string(b.Bytes()) }
