package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
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

// ResumeTrace starts span name in the trace of stream id, the one its first event was
// recorded in, for work that resumes the stream from outside: a webhook or a manager's
// decision, whose request comes in a trace of its own. The span links to the request's
// span and the request's span links to it, so either trace leads to the other, and what
// the work appends and sends carries the stream's trace on: one order's workflow stays one
// trace. A stream recorded without a trace (or in the request's own) gets a child of the
// request's span. The caller ends the span.
func ResumeTrace(ctx context.Context, q Querier, id, name string) (context.Context, trace.Span, error) {
	if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
		// Tracing is off in this process (no provider, no caller's trace): there is no
		// trace to continue or link, so the stream's is not read.
		ctx, span := tracer().Start(ctx, name)
		return ctx, span, nil
	}
	var raw []byte
	err := q.QueryRow(ctx, `SELECT metadata->'trace' FROM events WHERE stream_id = $1 AND stream_version = 1`, id).Scan(&raw)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return ctx, nil, fmt.Errorf("trace of stream %s: %w", id, err)
	}
	carrier := map[string]string{}
	if raw != nil {
		if err := json.Unmarshal(raw, &carrier); err != nil {
			return ctx, nil, fmt.Errorf("trace of stream %s: %w", id, err)
		}
	}
	origin := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(carrier)))
	request := trace.SpanFromContext(ctx)
	parent := ctx
	opts := []trace.SpanStartOption{trace.WithAttributes(attribute.String("ordermill.correlation_id", id))}
	if origin.IsValid() && origin.TraceID() != request.SpanContext().TraceID() {
		parent = trace.ContextWithRemoteSpanContext(ctx, origin)
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: request.SpanContext()}))
		request.AddLink(trace.Link{SpanContext: origin})
	}
	ctx, span := tracer().Start(parent, name, opts...)
	return ctx, span, nil
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
