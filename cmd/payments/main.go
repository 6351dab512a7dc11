// Command payments runs the payment service on :3002: payment sessions
// (payments.create-session) and, in dev mode, the provider simulator (payments.process) and
// its checkout page.
package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/webhooksig"
)

func main() {
	host.Main("payments", 3002, "Runs the payment service: payment sessions and, in dev mode, the provider simulator and its checkout page.", vars, build)
}

// vars are the variables the payment service reads besides every process's.
var vars = []host.Var{
	{Name: "PAYMENT_WEBHOOK_SECRET", Default: webhooksig.DevPaymentSecret + " in dev mode", Meaning: "the secret the simulator signs payment webhooks with; required outside dev mode"},
	{Name: host.ServiceTokenVar("orders"), Default: host.DevServiceToken("orders") + " in dev mode", Meaning: "the bearer token the orders service presents to these procedures; required outside dev mode"},
	{Name: "PAYMENTS_WEBHOOK_URL", Default: payments.DefaultOrdersWebhookURL, Meaning: "where the simulator sends its payment webhooks"},
	{Name: "PAYMENTS_PUBLIC_URL", Default: payments.DefaultPublicURL, Meaning: "base of the payment URLs handed to customers"},
}

func build(_ context.Context, pool *pgxpool.Pool, logger *slog.Logger, env host.Env) (host.Service, error) {
	secret, err := env.Secret("PAYMENT_WEBHOOK_SECRET", webhooksig.DevPaymentSecret,
		"the secret the payment provider signs its webhooks with")
	if err != nil {
		return nil, err
	}
	// The orders service is the one caller: its workflow opens the payment sessions.
	callers, err := host.ServiceTokens(env, "payments", "orders")
	if err != nil {
		return nil, err
	}
	return payments.New(pool, logger, payments.Config{
		WebhookSecret:    secret,
		OrdersWebhookURL: env("PAYMENTS_WEBHOOK_URL"),
		PublicURL:        env("PAYMENTS_PUBLIC_URL"),
		Simulator:        host.DevMode(env),
		Callers:          callers,
	}), nil
}
