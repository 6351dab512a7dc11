// Package simulator holds what the payment provider and courier simulators share: posting a
// signed webhook to the orders service through its typed client (ordersclient), reporting
// how it answered, and answering the simulator's HTTP request with that report.
package simulator

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermill/ordermill/eventstore/retention"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/ordersclient"
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
	// URL is the orders service's webhook endpoint. It is configured whole (an operator may
	// put the orders service behind a path), so every request is sent to it exactly.
	URL string
	// Post is the webhook's operation in the orders service's typed client, such as
	// (*ordersclient.Client).PaymentWebhookWithBody: it sends the exact signed bytes.
	Post func(c *ordersclient.Client, ctx context.Context, contentType string, body io.Reader, reqEditors ...ordersclient.RequestEditorFn) (*http.Response, error)
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
	// DB holds simulator_webhooks, the webhooks settled and not yet answered (Record,
	// Sent, RunWorker); without it each is sent once.
	DB *pgxpool.Pool
	// RetryAfter is how long after it was recorded a webhook not answered is first sent
	// again (default 5 s); RetryPoll how often the worker looks (default 1 s).
	RetryAfter, RetryPoll time.Duration
	// Sweeps counts RunWorker's passes, with the service's other sweeps (the payment
	// service's spent keys); metrics of the Notifier's own if nil. A process registers
	// one retention.Metrics: a second's series would collide with the first's.
	Sweeps *retention.Metrics
}

// Notifier delivers one simulator's signed webhooks of type W to the orders service.
type Notifier[W any] struct {
	cfg    Config
	orders *ordersclient.Client
	logger *slog.Logger
	sweeps *retention.Metrics // RunWorker's passes over simulator_webhooks
}

// New builds a Notifier, warning when no secret is configured, since the orders service will
// then refuse everything it sends.
func New[W any](logger *slog.Logger, cfg Config) *Notifier[W] {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	cfg.RetryAfter = cmp.Or(cfg.RetryAfter, 5*time.Second)
	cfg.RetryPoll = cmp.Or(cfg.RetryPoll, time.Second)
	if cfg.Secret == "" {
		logger.Warn(cfg.Service + ": no webhook secret configured; the orders service will refuse simulated webhooks")
	}
	// NewClient fails only when an option does, and WithHTTPClient never does.
	orders, _ := ordersclient.NewClient(cfg.URL, ordersclient.WithHTTPClient(cfg.Client))
	if cfg.Sweeps == nil {
		cfg.Sweeps = retention.NewMetrics()
	}
	return &Notifier[W]{cfg: cfg, orders: orders, logger: logger, sweeps: cfg.Sweeps}
}

// Collectors are the metrics of RunWorker's passes over simulator_webhooks, counted as
// every periodic delete is (retention.Metrics), for the host's registry.
func (n *Notifier[W]) Collectors() []prometheus.Collector { return n.sweeps.Collectors() }

// Deliver POSTs wh, signed, to the orders service and reports its answer, whatever the
// status; only a transport failure is an error, a *DeliveryError.
func (n *Notifier[W]) Deliver(ctx context.Context, wh W) (Result[W], error) {
	body, err := json.Marshal(wh)
	if err != nil {
		return Result[W]{}, fmt.Errorf("marshal webhook: %w", err)
	}
	target, err := url.Parse(n.cfg.URL)
	if err != nil {
		return Result[W]{}, fmt.Errorf("webhook URL: %w", err)
	}
	signature := n.cfg.Sign(body, n.cfg.Secret, n.cfg.Now())
	resp, err := n.cfg.Post(n.orders, ctx, "application/json", bytes.NewReader(body), func(_ context.Context, req *http.Request) error {
		req.URL, req.Host = target, target.Host // the configured endpoint, whatever its path
		req.Header.Set(n.cfg.Header, signature)
		return nil
	})
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
	if errors.As(err, &deliveryErr) { // logged where it failed, naming its order
		then := ", repeat the request to notify again"
		if n.cfg.DB != nil {
			then = ", and the simulator sends it again until the orders service answers (or repeat the request)"
		}
		httpx.WriteJSON(w, http.StatusBadGateway, httpx.ErrorBody{Error: httpx.ErrorDetail{
			Code: "bad_gateway", Message: err.Error() + "; " + recorded + then,
		}})
		return
	}
	if err != nil {
		httpx.WriteError(w, r, n.logger, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}
