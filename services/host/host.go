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
	srv := &http.Server{
		Handler:           traced(svc.Handler()),
		ReadHeaderTimeout: 5 * time.Second,
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
