// Command delivery runs the delivery service on :3004: shipments (delivery.create-shipment,
// delivery.get-status) and, in dev mode, the courier simulator.
package main

import (
	"context"
	"log/slog"
	"net"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/services/delivery"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/webhooksig"
)

func main() {
	host.Main("delivery", 3004, "Runs the delivery service: shipments and, in dev mode, the courier simulator.", vars, build)
}

// vars are the variables the delivery service reads besides every process's.
var vars = []host.Var{
	{Name: "DELIVERY_WEBHOOK_SECRET", Default: webhooksig.DevCourierSecret + " in dev mode", Meaning: "the secret the courier simulator signs its webhooks with; required outside dev mode"},
	{Name: host.ServiceTokenVar("orders"), Default: host.DevServiceToken("orders") + " in dev mode", Meaning: "the bearer token the orders service presents to these procedures; required outside dev mode"},
	{Name: "DELIVERY_WEBHOOK_URL", Default: delivery.DefaultOrdersWebhookURL, Meaning: "where the courier simulator sends its webhooks"},
}

func build(logger *slog.Logger, env host.Env) (host.Start, error) {
	secret, err := env.Secret("DELIVERY_WEBHOOK_SECRET", webhooksig.DevCourierSecret,
		"the secret the courier signs its webhooks with")
	if err != nil {
		return nil, err
	}
	// The orders service is the one caller: its workflow books the shipments.
	callers, err := host.ServiceTokens(env, "delivery", "orders")
	if err != nil {
		return nil, err
	}
	if err := env.Distinct(host.Named{What: "DELIVERY_WEBHOOK_SECRET", Value: secret}, host.Named{What: host.ServiceTokenVar("orders"), Value: callers["orders"]}); err != nil {
		return nil, err
	}
	webhookURL, err := env.URL("DELIVERY_WEBHOOK_URL", delivery.DefaultOrdersWebhookURL, "http", "https")
	if err != nil {
		return nil, err
	}
	cfg := delivery.Config{
		WebhookSecret:    secret,
		OrdersWebhookURL: webhookURL,
		Simulator:        host.DevMode(env),
		Callers:          callers,
	}
	return func(_ context.Context, pool *pgxpool.Pool, _ net.Addr) (host.Service, error) {
		return delivery.New(pool, logger, cfg), nil
	}, nil
}
