package orders

import (
	"fmt"
	"time"

	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// DevManagerToken is the dev manager's API token when DEV_MODE is on and MANAGER_TOKENS is
// unset; published here, so refused outside dev mode.
const DevManagerToken = "dev-manager-token"

// DevOperatorToken and DevOrderTokenSecret stand in for OPERATOR_TOKEN and
// ORDER_TOKEN_SECRET when DEV_MODE is on and they are unset.
const (
	DevOperatorToken    = "dev-operator-token"
	DevOrderTokenSecret = "dev-order-token-secret"
)

// MinOrderTokenSecret is the shortest ORDER_TOKEN_SECRET accepted outside dev mode: it
// keys the HMAC that every customer's access token is, so it must not be guessable.
const MinOrderTokenSecret = 32

// DevManagerEmail and DevDashboardPassword are the dashboard account DEV_MODE creates
// (the password can be changed with DASHBOARD_DEV_PASSWORD).
const (
	DevManagerEmail      = "manager@ordermill.local"
	DevDashboardPassword = "ordermill-dev"
)

// ConfigFromEnv reads the orders service's configuration from the environment.
func ConfigFromEnv(env host.Env) (Config, error) {
	dev := host.DevMode(env)
	cfg := Config{
		DevMode:        dev,
		ServiceToken:   env(host.ServiceTokenVar("orders")),
		SMTPURL:        env("SMTP_URL"),
		MailFrom:       env("MAIL_FROM"),
		Workflow:       sagas.DefaultConfig(),
		WarehouseURL:   env.String("WAREHOUSE_URL", DefaultWarehouseURL),
		PaymentsURL:    env.String("PAYMENTS_URL", "http://localhost:3002"),
		DeliveryURL:    env.String("DELIVERY_URL", "http://localhost:3004"),
		CookieSecure:   env("COOKIE_SECURE") == "1" || env("COOKIE_SECURE") == "true",
		ClientIPHeader: env("CLIENT_IP_HEADER"),
	}
	if dev {
		cfg.ServiceToken = env.String(host.ServiceTokenVar("orders"), host.DevServiceToken("orders"))
		cfg.DashboardDevPassword = env.String("DASHBOARD_DEV_PASSWORD", DevDashboardPassword)
	}
	var err error
	if cfg.ManagerTokens, err = managerTokens(env); err != nil {
		return cfg, err
	}
	if cfg.PaymentWebhookSecret, err = env.Secret("PAYMENT_WEBHOOK_SECRET", webhooksig.DevPaymentSecret,
		"the secret that verifies the payment provider's webhooks"); err != nil {
		return cfg, err
	}
	if cfg.DeliveryWebhookSecret, err = env.Secret("DELIVERY_WEBHOOK_SECRET", webhooksig.DevCourierSecret,
		"the secret that verifies the courier's webhooks"); err != nil {
		return cfg, err
	}
	if cfg.OrderTokenSecret, err = env.Secret("ORDER_TOKEN_SECRET", DevOrderTokenSecret,
		"the key of the access tokens customers read their orders with"); err != nil {
		return cfg, err
	}
	if !dev && len(cfg.OrderTokenSecret) < MinOrderTokenSecret {
		return cfg, fmt.Errorf("ORDER_TOKEN_SECRET needs at least %d characters outside DEV_MODE=1 (e.g. openssl rand -hex 32)", MinOrderTokenSecret)
	}
	if cfg.OperatorToken, err = operatorToken(env); err != nil {
		return cfg, err
	}
	w := &cfg.Workflow
	if w.RiskThreshold, err = env.Int("RISK_THRESHOLD", w.RiskThreshold); err != nil {
		return cfg, err
	}
	if w.ApprovalTimeout, err = env.Duration("APPROVAL_TIMEOUT", w.ApprovalTimeout); err != nil {
		return cfg, err
	}
	if w.PaymentTimeout, err = env.Duration("PAYMENT_TIMEOUT", w.PaymentTimeout); err != nil {
		return cfg, err
	}
	if w.DeliveryTimeout, err = env.Duration("DELIVERY_TIMEOUT", w.DeliveryTimeout); err != nil {
		return cfg, err
	}
	if cfg.SessionTTL, err = env.Duration("DASHBOARD_SESSION_TTL", 12*time.Hour); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// operatorToken reads OPERATOR_TOKEN. Unlike the other secrets it may stay unset outside
// dev mode: the order lists and inboxes are then closed to the API (signed-in managers
// still see them on the dashboard). The published dev value is refused there all the same.
func operatorToken(env host.Env) (string, error) {
	if env("OPERATOR_TOKEN") == "" && !host.DevMode(env) {
		return "", nil
	}
	return env.Secret("OPERATOR_TOKEN", DevOperatorToken, "the bearer token operators read orders, lists and inboxes with")
}
