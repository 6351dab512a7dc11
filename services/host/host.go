// Package host runs one service process: its HTTP edge, its log consumers and its
// background workers, started together and stopped together.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/httpx"
)

// Service is what a service package offers its process.
type Service interface {
	// Handler serves the service's HTTP API.
	Handler() http.Handler
	// RegisterConsumers subscribes the service's handlers to the log.
	RegisterConsumers(log *eventstore.Log, router *message.Router) error
}

// Worker is an optional background loop a service runs until the process stops.
type Worker interface {
	RunWorker(ctx context.Context) error
}

// Options tune a process.
type Options struct {
	Log eventstore.LogConfig
	// HTTP bounds how long a client may take; zero fields take the defaults (5 s for
	// headers, 30 s for a request, 60 s for a response, 120 s idle).
	HTTP HTTPTimeouts
}

// HTTPTimeouts bound how long one client may hold a connection, so slow or stalled clients
// cannot pile up connections and goroutines.
type HTTPTimeouts struct {
	// ReadHeader bounds the request line and headers.
	ReadHeader time.Duration
	// Read bounds the whole request, body included.
	Read time.Duration
	// Write bounds the handler and its response, from the end of the request's headers; a
	// server-sent event stream lifts it for itself.
	Write time.Duration
	// Idle bounds the wait for the next request on a kept-alive connection.
	Idle time.Duration
}

// orDefault fills t's zero fields with defaults generous for any client of these APIs: a
// 1 MiB body in 30 s is 35 kB/s, and the slowest handler (a warehouse procedure retrying
// its locks) gives up after 5 s.
func (t HTTPTimeouts) orDefault() HTTPTimeouts {
	pick := func(d, def time.Duration) time.Duration {
		if d == 0 {
			return def
		}
		return d
	}
	return HTTPTimeouts{ReadHeader: pick(t.ReadHeader, 5*time.Second), Read: pick(t.Read, 30*time.Second),
		Write: pick(t.Write, 60*time.Second), Idle: pick(t.Idle, 120*time.Second)}
}

// wakeAfter wakes the consumers of whatever a request published once it has been
// handled, that is, once its transaction has committed (see eventstore.CollectWakeups).
func wakeAfter(log *eventstore.Log, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, wake := log.CollectWakeups(r.Context())
		next.ServeHTTP(w, r.WithContext(ctx))
		wake()
	})
}

// Serve runs svc on ln with pool until ctx ends, then drains HTTP requests and handlers.
func Serve(ctx context.Context, logger *slog.Logger, pool *pgxpool.Pool, ln net.Listener, svc Service, opts Options) error {
	wlog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug, // watermill's info lines are per-subscription chatter
	})
	log := eventstore.NewLog(pool, wlog, opts.Log)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wlog)
	if err != nil {
		return err
	}
	if err := svc.RegisterConsumers(log, router); err != nil {
		return fmt.Errorf("register consumers: %w", err)
	}
	timeouts := opts.HTTP.orDefault()
	srv := &http.Server{
		Handler:           traced(httpx.ValidInput(logger, wakeAfter(log, svc.Handler()))),
		ReadHeaderTimeout: timeouts.ReadHeader,
		ReadTimeout:       timeouts.Read,
		WriteTimeout:      timeouts.Write,
		IdleTimeout:       timeouts.Idle,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return log.Listen(gctx) })
	if len(router.Handlers()) > 0 {
		g.Go(func() error { return router.Run(gctx) })
	}
	if w, ok := svc.(Worker); ok {
		g.Go(func() error { return w.RunWorker(gctx) })
	}
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
	logger.Info("service started", "addr", ln.Addr().String())
	err = g.Wait()
	if err != nil && ctx.Err() != nil {
		// Stopping while a subscriber was still starting reports the cancellation as an error.
		logger.Debug("error during shutdown", "err", err)
		return nil
	}
	return err
}
