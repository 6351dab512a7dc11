package orders

import (
	"errors"

	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// DevManagerToken authorises API approvals when DEV_MODE is on and MANAGER_TOKEN is unset.
const DevManagerToken = "dev-manager-token"

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
	}
	if dev {
		cfg.ManagerToken = env.String("MANAGER_TOKEN", DevManagerToken)
		cfg.PaymentWebhookSecret = env.String("PAYMENT_WEBHOOK_SECRET", webhooksig.DevPaymentSecret)
		cfg.DeliveryWebhookSecret = env.String("DELIVERY_WEBHOOK_SECRET", webhooksig.DevCourierSecret)
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
	return cfg, nil
}
