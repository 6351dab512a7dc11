package orders

import (
	"errors"
	"time"

	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// DevManagerToken authorises API approvals when DEV_MODE is on and MANAGER_TOKEN is unset.
const DevManagerToken = "dev-manager-token"

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
		DevMode:               dev,
		ManagerToken:          env("MANAGER_TOKEN"),
		PaymentWebhookSecret:  env("PAYMENT_WEBHOOK_SECRET"),
		DeliveryWebhookSecret: env("DELIVERY_WEBHOOK_SECRET"),
		SMTPURL:               env("SMTP_URL"),
		MailFrom:              env("MAIL_FROM"),
		Workflow:              sagas.DefaultConfig(),
		PaymentsURL:           env.String("PAYMENTS_URL", "http://localhost:3002"),
		DeliveryURL:           env.String("DELIVERY_URL", "http://localhost:3004"),
		CookieSecure:          env("COOKIE_SECURE") == "1" || env("COOKIE_SECURE") == "true",
	}
	if dev {
		cfg.ManagerToken = env.String("MANAGER_TOKEN", DevManagerToken)
		cfg.PaymentWebhookSecret = env.String("PAYMENT_WEBHOOK_SECRET", webhooksig.DevPaymentSecret)
		cfg.DeliveryWebhookSecret = env.String("DELIVERY_WEBHOOK_SECRET", webhooksig.DevCourierSecret)
		cfg.DashboardDevPassword = env.String("DASHBOARD_DEV_PASSWORD", DevDashboardPassword)
	}
	if cfg.ManagerToken == "" || cfg.PaymentWebhookSecret == "" || cfg.DeliveryWebhookSecret == "" {
		return cfg, errors.New("MANAGER_TOKEN, PAYMENT_WEBHOOK_SECRET and DELIVERY_WEBHOOK_SECRET are required outside DEV_MODE=1")
	}
	var err error
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
