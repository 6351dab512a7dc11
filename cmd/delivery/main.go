// Command delivery runs the delivery service on :3004: shipments (delivery.create-shipment, delivery.get-status) and the courier simulator.
package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/webhooksig"
)

func main() {
	host.Main("delivery", 3004, build)
}

func build(_ context.Context, pool *pgxpool.Pool, logger *slog.Logger, env host.Env) (host.Service, error) {
	secret := env("DELIVERY_WEBHOOK_SECRET")
	if secret == "" && host.DevMode(env) {
		secret = webhooksig.DevCourierSecret
	}
	if secret == "" {
		return nil, fmt.Errorf("DELIVERY_WEBHOOK_SECRET is required outside DEV_MODE=1")
	}
	return delivery.New(pool, logger, delivery.Config{
		WebhookSecret:    secret,
		OrdersWebhookURL: env("DELIVERY_WEBHOOK_URL"),
	}), nil
}
