// Command payments runs the payments service on :3002: payment sessions (payments.create-session) and the provider simulator (payments.process).
package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/webhooksig"
)

func main() {
	host.Main("payments", 3002, build)
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
