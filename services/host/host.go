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

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/eventstore/metrics"
	"github.com/ordermill/ordermill/services/httpx"
)

// Service is what a service package offers its process.
type Service interface {
	// Handler serves the service's HTTP API.
	Handler() http.Handler
	// RegisterConsumers subscribes the service's handlers to the log.
	RegisterConsumers(log *eventstore.Log, router *message.Router) error
	// OpenAPI is the OpenAPI 3.1 document of the service's routes; the host adds its own
	// routes and shared components (services/host/openapi.json) and serves it at
	// GET /openapi.json.
	OpenAPI() []byte
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
	// ShutdownTimeout bounds how long a stopping process waits for its requests and
	// message batches in flight (default 10 s); what is still running then is cut off.
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long a stopping process goes on serving, /readyz answering 503,
	// before it closes its port, so a load balancer that polls readiness takes it out of
	// rotation first (default 0: the port closes at once).
	ShutdownDelay time.Duration
	// Hurry, closed, cuts the shutdown delay short: a second SIGINT or SIGTERM (Main). It
	// was ignored, and a Ctrl-C pressed again waited the delay out (a probe).
	Hurry <-chan struct{}
	// HoldbackLimit is how long a transaction anywhere on the database server may hold the
	// log back before /readyz says "degraded" (default DefaultHoldbackLimit).
	HoldbackLimit time.Duration
}

// statisticsEvery is how often a process looks for tables that have outgrown their
// statistics (eventstore.KeepStatistics).
const statisticsEvery = 2 * time.Second

// DefaultShutdownTimeout is SHUTDOWN_TIMEOUT's default.
const DefaultShutdownTimeout = 10 * time.Second

// MaxHeaderBytes bounds a request's line and headers together: a larger one is answered
// 431 by Go's server before any handler runs. Go's default, a megabyte, let a probe's
// 60,000 header fields cost 0.1 s each to read and slow every order twentyfold; no client
// of these APIs sends more than a few kilobytes.
const MaxHeaderBytes = 64 << 10

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

// Serve runs svc on ln with pool until ctx ends, then shuts down in order: /readyz
// answers 503, the listener closes, requests and message batches in flight finish (for at
// most opts.ShutdownTimeout, then they are cut off), the subscribers close and Serve
// returns nil.
//
// Besides the service's own routes it serves GET /metrics (Prometheus), GET /healthz
// (alive), GET /readyz (ready for traffic) and GET /openapi.json (the service's contract).
func Serve(ctx context.Context, logger *slog.Logger, pool *pgxpool.Pool, ln net.Listener, svc Service, opts Options) error {
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Log.DrainTimeout == 0 {
		opts.Log.DrainTimeout = opts.ShutdownTimeout
	}
	wlog := watermillLogger(logger)
	log := eventstore.NewLog(pool, wlog, opts.Log)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: opts.ShutdownTimeout}, wlog)
	if err != nil {
		return err
	}
	doc, err := Document(svc)
	if err != nil {
		return err
	}
	if err := svc.RegisterConsumers(log, router); err != nil {
		return fmt.Errorf("register consumers: %w", err)
	}
	reg := metrics.NewRegistry(pool)
	httpm := newHTTPMetrics()
	reg.MustRegister(httpm.collectors()...)
	reg.MustRegister(log.Collectors()...)
	if src, ok := svc.(metrics.Source); ok {
		reg.MustRegister(src.Collectors()...)
	}
	routed := len(router.Handlers()) > 0
	ready := &readiness{pool: pool, log: log, router: router, routed: routed, holdbackLimit: opts.HoldbackLimit, logger: logger}
	// The host's routes sit over the service's: a path of theirs asked for with another
	// method is answered 405 with Allow, in the service routes' JSON error, and every
	// other path is the service's.
	mux := httpx.NewMuxOver(svc.Handler())
	for _, r := range ownRoutes(metrics.Handler(reg, metricsErrors{logger: logger, repeats: logging.NewRepeats()}), ready, serveDocument(doc)) {
		mux.Handle(r.pattern, r.handler)
	}

	observe := func(ctx context.Context) context.Context { return ctx }
	if o, ok := svc.(Observed); ok {
		observe = o.Observe
	}
	// Requests run on a context that outlives ctx until the shutdown's deadline, so a
	// stopping process finishes them instead of failing them.
	requests, cutOff := context.WithCancel(context.WithoutCancel(observe(ctx)))
	defer cutOff()
	timeouts := opts.HTTP.orDefault()
	srv := &http.Server{
		Handler:           httpm.instrument(identified(traced(recovered(logger, httpx.ValidInput(mux.Refusals(logger), wakeAfter(log, captureRoute(mux))))))),
		ReadHeaderTimeout: timeouts.ReadHeader,
		ReadTimeout:       timeouts.Read,
		WriteTimeout:      timeouts.Write,
		IdleTimeout:       timeouts.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return requests },
	}

	g, gctx := errgroup.WithContext(ctx)
	// The listener sends this process's wake-ups too: it stops last, once nothing in the
	// process publishes any more.
	listening, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	defer stopListening()
	g.Go(func() error { return log.Listen(listening) })
	// The consumers and the worker stop when the shutdown delay is over, not at the
	// signal: while the process still serves, what it accepts still moves on.
	working, stopWorking := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorking()
	routerDone := make(chan struct{})
	if routed {
		g.Go(func() error {
			defer close(routerDone)
			// Stopping, the router lets each consumer finish the batch in hand (see
			// eventstore.LogConfig.DrainTimeout) and closes the subscribers.
			return router.Run(observe(working))
		})
	} else {
		close(routerDone)
	}
	g.Go(func() error {
		eventstore.KeepStatistics(working, pool, statisticsEvery, logger)
		return nil
	})
	if w, ok := svc.(Worker); ok {
		g.Go(func() error { return w.RunWorker(working) })
	}
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		ready.stopping.Store(true)
		if opts.ShutdownDelay > 0 {
			// Still serving, not ready: whoever routes here by /readyz stops doing so before
			// the port closes, instead of meeting a refused connection.
			logger.Info("stopping: not ready, still serving", "delay", opts.ShutdownDelay.String())
			delay := time.NewTimer(opts.ShutdownDelay)
			select {
			case <-delay.C:
			case <-opts.Hurry:
				delay.Stop()
				logger.Info("stopping: signalled again, the delay is cut short")
			}
		}
		logger.Info("shutting down", "timeout", opts.ShutdownTimeout.String())
		stopWorking()
		drainCtx, cancel := context.WithTimeout(context.WithoutCancel(gctx), opts.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(drainCtx); err != nil {
			logger.Warn("requests still running at the shutdown deadline: cut off", "err", err)
			cutOff()
			_ = srv.Close()
		}
		<-routerDone
		stopListening()
		return nil
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

// Observed is implemented by a service whose requests and message handlers need values
// of its own in their context (the observers that count what they do): Observe returns
// ctx carrying them, and every request's and handler's context derives from it.
type Observed interface {
	Observe(ctx context.Context) context.Context
}
