package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/warehouse"
)

// One order is one trace: from POST /api/orders through the saga, the warehouse, payments
// and delivery to completion. The manager's approval and the two webhooks come in traces
// of their own (a browser's, a provider's); each resumes the order in its trace, and the
// two are linked both ways.
func TestOneOrderIsOneTrace(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	s := start(t, defaultOptions())
	id := s.placeOrder(t, highRisk)
	s.waitStatus(t, id, "awaiting_approval")
	require.Equal(t, http.StatusOK, s.decide(t, managerToken, id, true, "").StatusCode())
	s.waitStatus(t, id, "awaiting_payment")
	s.pay(t, id, "completed")
	s.waitStatus(t, id, "awaiting_delivery")
	s.courier(t, id, "delivered")
	s.waitStatus(t, id, "completed")

	spans := recorder.Ended()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var placed trace.TraceID
	for _, sp := range spans {
		byID[sp.SpanContext().SpanID()] = sp
		if sp.Name() == "POST /api/orders" {
			require.False(t, placed.IsValid(), "one order placed")
			placed = sp.SpanContext().TraceID()
		}
	}
	require.True(t, placed.IsValid(), "the placement's span was recorded")

	groups := map[string]bool{}
	for _, sp := range spans {
		if attr(sp, "ordermill.correlation_id") != id {
			continue
		}
		assert.Equal(t, placed, sp.SpanContext().TraceID(), "%s about the order is in its trace", sp.Name())
		if sp.SpanKind() == trace.SpanKindConsumer {
			groups[attr(sp, "messaging.consumer.group.name")] = true
		}
	}
	assert.Subset(t, keys(groups), []string{sagas.ConsumerGroup, warehouse.ConsumerGroup, payments.ConsumerGroup, delivery.ConsumerGroup},
		"the saga and every service handled the order's messages in its trace")

	// A service's reply continues the span that handled its command: the warehouse's went
	// on from the saga's span that sent the command, as if the warehouse had not been
	// there (it took the sender's trace context out of the command a second time).
	for _, sp := range spans {
		if attr(sp, "ordermill.correlation_id") != id || sp.SpanKind() != trace.SpanKindConsumer {
			continue
		}
		for service, group := range map[string]string{inventory.StreamType: warehouse.ConsumerGroup, payment.StreamType: payments.ConsumerGroup, shipping.StreamType: delivery.ConsumerGroup} {
			if attr(sp, "messaging.destination.name") != eventstore.EventsTopic(service) {
				continue
			}
			parent, ok := byID[sp.Parent().SpanID()]
			require.True(t, ok, "%s's parent was recorded", sp.Name())
			assert.Equal(t, group, attr(parent, "messaging.consumer.group.name"), "%s continues the span that handled the command", sp.Name())
		}
	}

	for _, c := range []struct{ resume, request string }{
		{"resume order: manager's decision", "POST /api/orders/approve"},
		{"resume order: payment webhook", "POST /webhooks/payment"},
		{"resume order: delivery webhook", "POST /webhooks/delivery"},
	} {
		var resumed sdktrace.ReadOnlySpan
		for _, sp := range spans {
			if sp.Name() == c.resume {
				resumed = sp
			}
		}
		require.NotNil(t, resumed, "%s was recorded", c.resume)
		assert.Equal(t, placed, resumed.SpanContext().TraceID(), "%s is in the order's trace", c.resume)
		require.Len(t, resumed.Links(), 1, c.resume)
		request, ok := byID[resumed.Links()[0].SpanContext.SpanID()]
		require.True(t, ok, "%s links to a recorded span", c.resume)
		assert.Equal(t, c.request, request.Name())
		assert.NotEqual(t, placed, request.SpanContext().TraceID(), "%s came in a trace of its own", c.request)
		require.Len(t, request.Links(), 1, c.request)
		assert.Equal(t, placed, request.Links()[0].SpanContext.TraceID(), "%s links to the order's trace", c.request)
	}
}

// attr is a span's string attribute named key, or "".
func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, a := range sp.Attributes() {
		if a.Key == attribute.Key(key) {
			return a.Value.AsString()
		}
	}
	return ""
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
