// Command payments runs the payment service on :3002: payment sessions
// (payments.create-session) and, in dev mode, the provider simulator (payments.process) and
// its checkout page.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

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
	{Name: "PAYMENTS_PUBLIC_URL", Default: payments.DefaultPublicURL, Meaning: "base of the simulator's payment URLs handed to customers"},
	{Name: "PAYMENT_PROVIDER", Default: "simulator in dev mode", Meaning: "simulator (sessions paid at this service's checkout page in dev mode; no money taken) or stripe (Stripe Checkout and refunds); required outside dev mode"},
	{Name: "STRIPE_SECRET_KEY", Meaning: "the Stripe account's secret API key (sk_…); required with PAYMENT_PROVIDER=stripe"},
	{Name: "STRIPE_SUCCESS_URL", Meaning: "where Stripe Checkout sends the customer after paying ({CHECKOUT_SESSION_ID} is replaced); required with PAYMENT_PROVIDER=stripe"},
	{Name: "STRIPE_API_BASE", Default: "https://api.stripe.com", Meaning: "Stripe's API, for tests against stripe-mock only (dev mode)"},
}

func build(logger *slog.Logger, env host.Env) (host.Start, error) {
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
	if err := env.Distinct(host.Named{What: "PAYMENT_WEBHOOK_SECRET", Value: secret}, host.Named{What: host.ServiceTokenVar("orders"), Value: callers["orders"]}); err != nil {
		return nil, err
	}
	provider, err := paymentProvider(env)
	if err != nil {
		return nil, err
	}
	webhookURL, err := env.URL("PAYMENTS_WEBHOOK_URL", payments.DefaultOrdersWebhookURL, "http", "https")
	if err != nil {
		return nil, err
	}
	publicURL, err := env.URL("PAYMENTS_PUBLIC_URL", payments.DefaultPublicURL, "http", "https")
	if err != nil {
		return nil, err
	}
	if provider == nil && !host.DevMode(env) {
		logger.Warn("payments: PAYMENT_PROVIDER is the simulator outside dev mode: sessions take no money; set PAYMENT_PROVIDER=stripe")
	}
	cfg := payments.Config{
		WebhookSecret:    secret,
		OrdersWebhookURL: webhookURL,
		PublicURL:        publicURL,
		Simulator:        host.DevMode(env),
		Callers:          callers,
		Provider:         provider,
	}
	return func(_ context.Context, pool *pgxpool.Pool, _ net.Addr) (host.Service, error) {
		return payments.New(pool, logger, cfg), nil
	}, nil
}

// paymentProvider is the provider PAYMENT_PROVIDER names: nil for the simulator, the
// default.
func paymentProvider(env host.Env) (payments.Provider, error) {
	if env("PAYMENT_PROVIDER") == "" && !host.DevMode(env) {
		// The default took no money, its checkout page closed outside dev mode: every
		// customer was handed a link that answered 404, and each order waited for its
		// deadline (a probe).
		return nil, fmt.Errorf("PAYMENT_PROVIDER is required outside DEV_MODE=1: stripe, or simulator (takes no money; payments only come as signed webhooks, a staging system's)")
	}
	switch name := env.String("PAYMENT_PROVIDER", "simulator"); name {
	case "simulator":
		// A Stripe key set for the simulator is a provider forgotten: sessions would take
		// no money while the operator believes Stripe takes it.
		for _, key := range []string{"STRIPE_SECRET_KEY", "STRIPE_SUCCESS_URL", "STRIPE_API_BASE"} {
			if env(key) != "" {
				return nil, fmt.Errorf("%s is set but PAYMENT_PROVIDER is simulator: set PAYMENT_PROVIDER=stripe, or unset %s", key, key)
			}
		}
		return nil, nil
	case "stripe":
		cfg := payments.StripeConfig{SecretKey: env("STRIPE_SECRET_KEY")}
		var err error
		if cfg.APIBase, err = env.URL("STRIPE_API_BASE", "", "https", "http"); err != nil {
			return nil, err
		}
		if cfg.SuccessURL, err = env.URL("STRIPE_SUCCESS_URL", "", "https", "http"); err != nil {
			return nil, err
		}
		if cfg.SecretKey == "" {
			return nil, fmt.Errorf("PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY, the account's secret API key")
		}
		// A blank or a publishable key (pk_…) failed only at the first order's session.
		if !strings.HasPrefix(cfg.SecretKey, "sk_") && !strings.HasPrefix(cfg.SecretKey, "rk_") || strings.ContainsAny(cfg.SecretKey, " \t\r\n") {
			return nil, fmt.Errorf("STRIPE_SECRET_KEY is not a Stripe secret key (sk_… or a restricted rk_…, without spaces); its value is not repeated")
		}
		// The key goes to this address with every call: only Stripe's own outside dev mode
		// (a probe's http://evil.example was taken).
		if cfg.APIBase != "" && strings.TrimSuffix(cfg.APIBase, "/") != "https://api.stripe.com" && !host.DevMode(env) {
			return nil, fmt.Errorf("STRIPE_API_BASE=%q: outside DEV_MODE=1 the key goes to Stripe's API only (https://api.stripe.com, the default)", cfg.APIBase)
		}
		if cfg.SuccessURL == "" {
			return nil, fmt.Errorf("PAYMENT_PROVIDER=stripe needs STRIPE_SUCCESS_URL, the shop's page Stripe Checkout returns the customer to")
		}
		return payments.NewStripe(cfg), nil
	default:
		return nil, fmt.Errorf("PAYMENT_PROVIDER must be simulator or stripe, got %q", name)
	}
}
