package eventstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// An event appended inside a span is handled in a child span of the same trace, so one
// order's path through the log reads as one trace.
func TestHandlerContinuesTheTraceOfTheAppend(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	spanCtx, root := tp.Tracer("test").Start(ctx, "place order")
	require.NoError(t, pgx.BeginFunc(spanCtx, pool, func(tx pgx.Tx) error {
		_, err := eventstore.Append(spanCtx, tx, eventstore.Stream{Type: "order", ID: "traced"}, 0, eventstore.Metadata{}, eventstore.Event{Name: "test.counted.v1", Data: counted{}})
		return err
	}))
	root.End()

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	handled := make(chan trace.SpanContext, 1)
	consumeThen(t, log, router, "tracing", func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
		handled <- trace.SpanContextFromContext(ctx)
		return nil
	}, func(*message.Message) {})
	go func() { _ = router.Run(ctx) }()
	var got trace.SpanContext
	select {
	case got = <-handled:
	case <-ctx.Done():
		t.Fatal("event never handled")
	}
	require.NoError(t, router.Close())

	assert.Equal(t, root.SpanContext().TraceID(), got.TraceID(), "handler runs in the appender's trace")
	var handlerSpan sdktrace.ReadOnlySpan
	for _, s := range recorder.Ended() {
		if strings.HasPrefix(s.Name(), "handle order_events.") {
			handlerSpan = s
		}
	}
	require.NotNil(t, handlerSpan, "the handler's span was recorded")
	assert.Equal(t, root.SpanContext().SpanID(), handlerSpan.Parent().SpanID())
	assert.Equal(t, trace.SpanKindConsumer, handlerSpan.SpanKind())
}
