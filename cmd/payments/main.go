// Command payments runs the payments service on :3002: payment sessions (payments.create-session) and the provider simulator (payments.process).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/webhooksig"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := host.Run(ctx, "payments", 3002, os.Getenv, build); err != nil {
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(1)
	}
}

func build(_ context.Context, pool *pgxpool.Pool, logger *slog.Logger, env host.Env) (host.Service, error) {
	secret := env("PAYMENT_WEBHOOK_SECRET")
	if secret == "" && host.DevMode(env) {
		secret = webhooksig.DevPaymentSecret
	}
	if secret == "" {
		return nil, fmt.Errorf("PAYMENT_WEBHOOK_SECRET is required outside DEV_MODE=1")
	}
	return payments.New(pool, logger, payments.Config{
		WebhookSecret:    secret,
		OrdersWebhookURL: env("PAYMENTS_WEBHOOK_URL"),
	}), nil
}
