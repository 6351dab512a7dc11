package eventstore

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermill/ordermill/eventstore/logging"
)

// tracer names the spans of message handling; it uses the process's global provider, a
// no-op until the host installs one.
func tracer() trace.Tracer {
	return otel.Tracer("github.com/ordermill/ordermill/eventstore")
}

// startHandlerSpan continues the trace a message carries in its metadata (W3C trace
// context, written by Append, Send and Schedule), so one order's path through every
// service is one trace.
// Lines logged with the returned context carry the message's correlation id, which is the
// id of the order it is about.
func startHandlerSpan(ctx context.Context, group, topic string, msg *message.Message) (context.Context, trace.Span) {
	ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier(msg.Metadata))
	if order := logging.Order(msg.Metadata.Get("correlation_id")); order != nil {
		ctx = logging.With(ctx, func() []any { return order })
	}
	return tracer().Start(ctx, "handle "+topic, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.system", "watermill-sql"),
		attribute.String("messaging.destination.name", topic),
		attribute.String("messaging.consumer.group.name", group),
		attribute.String("messaging.message.id", msg.UUID),
		attribute.String("ordermill.message.name", msg.Metadata.Get("name")),
		attribute.String("ordermill.correlation_id", msg.Metadata.Get("correlation_id")),
	))
}

// StartHandlerSpan starts the consumer span of one message of a batch, continuing the
// trace the message carries; the caller ends it.
func StartHandlerSpan(ctx context.Context, group string, msg *message.Message) (context.Context, trace.Span) {
	return startHandlerSpan(ctx, group, msg.Metadata.Get(topicKey), msg)
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
