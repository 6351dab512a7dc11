// Package workflow reads the order workflow's settings from the environment: the orders
// service decides with them, and `replay order` explains its decisions with the same,
// without the service's own dependencies.
package workflow

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/risk"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/host"
)

// Vars are the workflow's settings (FromEnv).
var Vars = []host.Var{
	{Name: "RISK_THRESHOLD", Default: strconv.Itoa(sagas.DefaultConfig().RiskThreshold), Meaning: "risk score (0-100) at or above which an order waits for a manager"},
	{Name: "APPROVAL_TIMEOUT", Default: sagas.DefaultConfig().ApprovalTimeout.String(), Meaning: "a held order is cancelled when no manager decides within it"},
	{Name: "PAYMENT_TIMEOUT", Default: sagas.DefaultConfig().PaymentTimeout.String(), Meaning: "an order unpaid within it has its payment session closed, and is cancelled, its stock released, once the session is closed unpaid (at most 24h, a payment session's life)"},
	{Name: "DELIVERY_TIMEOUT", Default: sagas.DefaultConfig().DeliveryTimeout.String(), Meaning: "a support ticket is opened when delivery is not confirmed within it"},
}

// FromEnv reads the workflow's settings (RISK_THRESHOLD and the waits' timeouts):
// the orders service decides with them, and `replay order` explains its decisions with the
// same.
func FromEnv(env host.Env) (sagas.Config, error) {
	w := sagas.DefaultConfig()
	var err error
	if w.RiskThreshold, err = env.Int("RISK_THRESHOLD", w.RiskThreshold); err != nil {
		return w, err
	}
	if w.RiskThreshold < 0 || w.RiskThreshold > risk.MaxScore {
		return w, fmt.Errorf("RISK_THRESHOLD=%d is out of range: risk scores run from 0 to %d", w.RiskThreshold, risk.MaxScore)
	}
	if w.ApprovalTimeout, err = env.Duration("APPROVAL_TIMEOUT", w.ApprovalTimeout); err != nil {
		return w, err
	}
	if w.PaymentTimeout, err = env.Duration("PAYMENT_TIMEOUT", w.PaymentTimeout); err != nil {
		return w, err
	}
	if w.DeliveryTimeout, err = env.Duration("DELIVERY_TIMEOUT", w.DeliveryTimeout); err != nil {
		return w, err
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{{"APPROVAL_TIMEOUT", w.ApprovalTimeout}, {"PAYMENT_TIMEOUT", w.PaymentTimeout}, {"DELIVERY_TIMEOUT", w.DeliveryTimeout}} {
		if t.d < time.Second {
			return w, fmt.Errorf("%s=%s: a wait's deadline must be at least 1s away", t.key, t.d)
		}
	}
	if w.PaymentTimeout > payment.SessionTTL {
		return w, fmt.Errorf("PAYMENT_TIMEOUT=%s: at most %s, as long as a payment session stays open (Stripe's limit); past it the order could not be paid but would hold its stock", w.PaymentTimeout, payment.SessionTTL)
	}
	return w, nil
}
