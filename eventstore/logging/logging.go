// Package logging builds the processes' slog loggers: text for people (dev mode), JSON
// for machines, and on every line the context's attributes — the order_id and
// correlation_id of the message or request being handled, the trace_id and span_id of the
// active span — so one order's lines can be found across every service and next to its
// trace.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Formats of LOG_FORMAT.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// New returns a logger writing format ("text" or "json") at level to w, with the
// context's attributes on every line logged with a context.
func New(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch format {
	case FormatText:
		h = slog.NewTextHandler(w, opts)
	case FormatJSON:
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("LOG_FORMAT=%q: use text or json", format)
	}
	return slog.New(Handler(h)), nil
}

type attrsKey struct{}

// With returns ctx whose log lines carry args (key, value pairs, as a log call takes them)
// besides those ctx already carries; args computes them when a line is logged, so it may
// read what is only known later (the route a request matched).
func With(ctx context.Context, args func() []any) context.Context {
	if prev, ok := ctx.Value(attrsKey{}).(func() []any); ok {
		next := args
		args = func() []any { return append(prev(), next()...) }
	}
	return context.WithValue(ctx, attrsKey{}, args)
}

// Order is the attributes of a line about order id, as a log call takes them: its id and
// its correlation id, which by construction is the order's id (every event and message of
// an order's workflow carries it).
func Order(id string) []any {
	if id == "" {
		return nil
	}
	return []any{"order_id", id, "correlation_id", id}
}

// Handler wraps h so every record logged with a context gets the context's attributes
// (With) and the active span's trace_id and span_id. An attribute the line sets itself
// wins over the context's.
func Handler(h slog.Handler) slog.Handler { return contextHandler{h} }

type contextHandler struct{ slog.Handler }

func (c contextHandler) Handle(ctx context.Context, r slog.Record) error {
	var extra []slog.Attr
	if args, ok := ctx.Value(attrsKey{}).(func() []any); ok {
		extra = slog.Group("", args()...).Value.Group() // key-value pairs to attributes
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		extra = append(extra, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	if len(extra) > 0 {
		r = r.Clone()
		own := map[string]bool{}
		r.Attrs(func(a slog.Attr) bool {
			own[a.Key] = true
			return true
		})
		for _, a := range extra {
			if !own[a.Key] {
				r.AddAttrs(a)
				own[a.Key] = true
			}
		}
	}
	return c.Handler.Handle(ctx, r)
}

func (c contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{c.Handler.WithAttrs(attrs)}
}

func (c contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{c.Handler.WithGroup(name)}
}
