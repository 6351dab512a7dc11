package host

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// setupTracing installs the process's tracer provider for OTEL_TRACES_EXPORTER (kind):
// "otlp" (configured by the standard OTEL_EXPORTER_OTLP_* variables), "stdout", or "none"
// for no tracing. It returns the provider's shutdown, which flushes pending spans.
func setupTracing(ctx context.Context, service, kind string) (func(context.Context) error, error) {
	var exporter sdktrace.SpanExporter
	var err error
	switch kind {
	case "stdout":
		// Standard output, apart from the log on standard error: spans in the middle of
		// JSON log lines broke every line-by-line reader of the log (a probe).
		exporter, err = stdouttrace.New(stdouttrace.WithWriter(os.Stdout))
	case "otlp":
		exporter, err = otlptracehttp.New(ctx)
	default: // "none", the only other value readProcess lets through
		return func(context.Context) error { return nil }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trace exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("ordermill-"+service))),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Shutdown, nil
}

// traced wraps h so every request is a server span continuing the caller's trace
// (traceparent header); the span's context reaches the events and messages it causes.
func traced(h http.Handler) http.Handler {
	tracer := otel.Tracer("github.com/ordermill/ordermill/services/host")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
	})
}

// statusRecorder remembers the status code for the span; Flush passes through so
// server-sent events keep streaming.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool // the answer began: a status or a byte of the body went out
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status, r.wrote = code, true
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
