package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ordermill/ordermill/eventstore/logging"
)

func line(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &m), buf.String())
	buf.Reset()
	return m
}

// A line logged while an order's message or request is handled names the order, its
// correlation id and the active span; a line without that context names none of them.
func TestLinesCarryTheContextsOrderAndTrace(t *testing.T) {
	var buf bytes.Buffer
	logger, err := logging.New(&buf, logging.FormatJSON, slog.LevelInfo)
	require.NoError(t, err)

	logger.Info("plain")
	plain := line(t, &buf)
	assert.NotContains(t, plain, "order_id")
	assert.NotContains(t, plain, "trace_id")

	ctx := logging.With(context.Background(), func() []any { return logging.Order("ord-1") })
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(ctx, "handle")
	defer span.End()
	logger.InfoContext(ctx, "about an order", "kind", "x")
	got := line(t, &buf)
	assert.Equal(t, "ord-1", got["order_id"])
	assert.Equal(t, "ord-1", got["correlation_id"])
	assert.Equal(t, span.SpanContext().TraceID().String(), got["trace_id"])
	assert.Equal(t, span.SpanContext().SpanID().String(), got["span_id"])
	assert.Equal(t, "x", got["kind"])

	// What the line says itself wins, and no key appears twice.
	logger.InfoContext(ctx, "about another", "order_id", "ord-2")
	assert.Equal(t, 1, bytes.Count(buf.Bytes(), []byte(`"order_id"`)))
	assert.Equal(t, "ord-2", line(t, &buf)["order_id"])
}

func TestTextFormatAndUnknownFormat(t *testing.T) {
	var buf bytes.Buffer
	logger, err := logging.New(&buf, logging.FormatText, slog.LevelInfo)
	require.NoError(t, err)
	logger.InfoContext(logging.With(context.Background(), func() []any { return logging.Order("ord-1") }), "hello")
	assert.Contains(t, buf.String(), "msg=hello order_id=ord-1 correlation_id=ord-1")

	_, err = logging.New(&buf, "xml", slog.LevelInfo)
	assert.EqualError(t, err, `LOG_FORMAT="xml": use text or json`)
}
