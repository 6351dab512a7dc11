package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Simulator actions of the order page (dev mode).
const (
	simPay            = "pay"
	simPaymentFailed  = "payment-failed"
	simDelivered      = "delivered"
	simDeliveryFailed = "delivery-failed"
)

// simulatorFlash is the order page's message after a simulator click; the query string
// names a key, never the text, so nothing a link carries is echoed into the page.
var simulatorFlash = map[string]string{
	simPay:            "The payment simulator sent a signed 'completed' webhook.",
	simPaymentFailed:  "The payment simulator sent a signed 'failed' webhook.",
	simDelivered:      "The courier simulator sent a signed 'delivered' webhook.",
	simDeliveryFailed: "The courier simulator sent a signed 'failed' webhook.",
	"error":           "The simulator could not be reached or refused the request; see the orders log.",
}

// simulate handles POST /dashboard/orders/{id}/simulate in dev mode: it asks the payment
// or courier simulator over HTTP to send the signed webhook a provider would, so the
// order moves exactly as it would in production.
func (s *Service) simulate(w http.ResponseWriter, r *http.Request, m manager, id string) {
	if !s.cfg.DevMode {
		s.dashboardError(w, r, http.StatusNotFound, "the simulators exist only in development mode", nil)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.dashboardError(w, r, http.StatusBadRequest, "malformed form", nil)
		return
	}
	action := r.PostForm.Get("action")
	var target string
	var body any
	switch action {
	case simPay, simPaymentFailed:
		outcome := "completed"
		if action == simPaymentFailed {
			outcome = "failed"
		}
		target, body = strings.TrimRight(s.cfg.PaymentsURL, "/")+"/api/payments/process", map[string]string{"orderId": id, "outcome": outcome}
	case simDelivered, simDeliveryFailed:
		status := "delivered"
		if action == simDeliveryFailed {
			status = "failed"
		}
		target, body = strings.TrimRight(s.cfg.DeliveryURL, "/")+"/api/shipments/"+url.PathEscape(id)+"/simulate", map[string]string{"status": status}
	default:
		s.dashboardError(w, r, http.StatusBadRequest, "unknown simulator action", nil)
		return
	}
	result := action
	if err := callSimulator(r.Context(), target, s.cfg.ServiceToken, body); err != nil {
		s.logger.WarnContext(r.Context(), "dashboard simulator failed", "action", action, "manager", m.Email, "err", err)
		result = "error"
	}
	http.Redirect(w, r, "/dashboard/orders/"+url.PathEscape(id)+"?simulated="+result, http.StatusSeeOther)
}

// callSimulator asks a simulator, as any service calls another's procedure: with this
// service's bearer token.
func callSimulator(ctx context.Context, target, token string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 300 {
		return errors.New(resp.Status + ": " + strings.TrimSpace(string(answer)))
	}
	// The simulator answers 200 whatever the orders service said to its webhook; a refused
	// webhook must not be shown as sent.
	var result struct {
		OrdersStatus int `json:"ordersStatus"`
	}
	if err := json.Unmarshal(answer, &result); err != nil {
		return fmt.Errorf("simulator answer: %w", err)
	}
	if result.OrdersStatus >= 300 {
		return fmt.Errorf("the orders service answered the webhook with %d", result.OrdersStatus)
	}
	return nil
}
