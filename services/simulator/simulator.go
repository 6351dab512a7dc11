// Package simulator holds what the payment provider and courier simulators share: posting a
// signed webhook to the orders service, reporting how it answered, and answering the
// simulator's HTTP request with that report.
package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ordermill/ordermill/services/httpx"
)

// maxOrdersBody bounds how much of the orders service's answer is echoed back: enough for
// an error message, not enough to matter if it answers with a page.
const maxOrdersBody = 4 << 10

// Result reports what the simulator sent and how the orders service answered, so a tester
// sees a refused webhook (401, 409...) instead of a silent success.
type Result[W any] struct {
	Webhook      W      `json:"webhook"`
	OrdersStatus int    `json:"ordersStatus"`
	OrdersBody   string `json:"ordersBody,omitempty"`
}

// DeliveryError means the simulated fact was recorded but the orders service could not be
// reached; simulating the same fact again notifies again.
type DeliveryError struct {
	// Kind names the webhook, such as "payment".
	Kind string
	// URL is where the orders service was expected.
	URL string
	// Err is the transport error.
	Err error
}

// Error names the unreachable URL, because that is what a tester has to fix.
func (e *DeliveryError) Error() string {
	return fmt.Sprintf("deliver %s webhook to %s: %v", e.Kind, e.URL, e.Err)
}

// Unwrap exposes the transport error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Config says which simulator a Notifier speaks for, where it delivers and how it signs.
type Config struct {
	// Service prefixes log lines, such as "payments".
	Service string
	// Kind names the webhook in a DeliveryError, such as "payment".
	Kind string
	// URL is the orders service's webhook endpoint.
	URL string
	// Header carries the signature Sign computes.
	Header string
	// Sign returns the signature header value for a body signed with secret at now.
	Sign func(payload []byte, secret string, now time.Time) string
	// Secret signs the webhooks; the orders service verifies with it.
	Secret string
	// Client delivers webhooks; a client with a 10 s timeout if nil, so a hung orders
	// service cannot hold a simulator request forever.
	Client *http.Client
	// Now is the signing clock.
	Now func() time.Time
}

// Notifier delivers one simulator's signed webhooks of type W to the orders service.
type Notifier[W any] struct {
	cfg    Config
	logger *slog.Logger
}

// New builds a Notifier, warning when no secret is configured, since the orders service will
// then refuse everything it sends.
func New[W any](logger *slog.Logger, cfg Config) *Notifier[W] {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Secret == "" {
		logger.Warn(cfg.Service + ": no webhook secret configured; the orders service will refuse simulated webhooks")
	}
	return &Notifier[W]{cfg: cfg, logger: logger}
}

// Deliver POSTs wh, signed, to the orders service and reports its answer, whatever the
// status; only a transport failure is an error, a *DeliveryError.
func (n *Notifier[W]) Deliver(ctx context.Context, wh W) (Result[W], error) {
	body, err := json.Marshal(wh)
	if err != nil {
		return Result[W]{}, fmt.Errorf("marshal webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Result[W]{}, fmt.Errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(n.cfg.Header, n.cfg.Sign(body, n.cfg.Secret, n.cfg.Now()))
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		return Result[W]{}, &DeliveryError{Kind: n.cfg.Kind, URL: n.cfg.URL, Err: err}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxOrdersBody))
	return Result[W]{Webhook: wh, OrdersStatus: resp.StatusCode, OrdersBody: strings.TrimSpace(string(answer))}, nil
}

// WriteResult answers a simulator request. Whatever the orders service answered is reported
// with 200; only an unreachable orders service is a 502, because then the simulator itself
// could not do its job. recorded says what stands regardless, such as "the session is settled".
func (n *Notifier[W]) WriteResult(w http.ResponseWriter, r *http.Request, res Result[W], err error, recorded string) {
	var deliveryErr *DeliveryError
	if errors.As(err, &deliveryErr) {
		n.logger.WarnContext(r.Context(), n.cfg.Service+": webhook not delivered", "err", err)
		httpx.WriteJSON(w, http.StatusBadGateway, httpx.ErrorBody{Error: httpx.ErrorDetail{
			Code:    "bad_gateway",
			Message: err.Error() + "; " + recorded + ", repeat the request to notify again",
		}})
		return
	}
	if err != nil {
		httpx.WriteError(w, r, n.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}
