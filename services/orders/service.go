// Package orders is the orders service (:3001): the public API, where orders are placed,
// decided and read. It builds the process from its parts, each in a package of its own:
// the manager dashboard (dashboard), the email outbox and its sender (mailer) and the
// provider webhooks' inbox (inbox), with the order saga and projections running in-process.
package orders

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/orders/dashboard"
	"github.com/ordermill/ordermill/services/orders/inbox"
	"github.com/ordermill/ordermill/services/orders/mailer"
)

// Config is the orders service's configuration.
type Config struct {
	// Now is the clock; tests may fix it.
	Now func() time.Time
	// DevMode accepts unsigned webhooks (with a warning) and enables the simulators.
	DevMode bool
	// ManagerTokens are the managers who may approve over the API (Authorization: Bearer
	// <token>), each email with its own token: an approval's decider is its token's manager.
	ManagerTokens httpx.Tokens
	// ServiceToken is the bearer token this service presents to the payments and delivery
	// services' procedures (SERVICE_TOKEN_ORDERS); only the dev-mode simulator buttons call them.
	ServiceToken string
	// PaymentWebhookSecret verifies Stripe-Signature headers.
	PaymentWebhookSecret string
	// DeliveryWebhookSecret verifies X-Courier-Signature headers.
	DeliveryWebhookSecret string
	// Workflow tunes the order saga: risk threshold and the waits' deadlines.
	Workflow sagas.Config
	// SMTPURL (smtp://user:pass@host:port) sends emails; empty only records them.
	SMTPURL string
	// MailFrom is the sender address of every email.
	MailFrom string
	// DevMailboxURL is the web mailbox that catches the emails in development (Mailpit,
	// which make run starts); the dashboard's notifications link to it. Dev mode only.
	DevMailboxURL string
	// MailPollInterval is how often the sender looks for new emails.
	MailPollInterval time.Duration
	// MailSenders is how many emails go to SMTP at once (mailer.DefaultSenders when zero).
	MailSenders int
	// MailStopGrace is how long the emails being sent at a stop may take to finish: the
	// process's SHUTDOWN_TIMEOUT (ConfigFromEnv); zero cuts them off at once.
	MailStopGrace time.Duration
	// DashboardDevPassword is the dev manager account's password (DEV_MODE only).
	DashboardDevPassword string
	// ConfirmApprovalAbove: approving an order whose total is above it, in the order's own
	// currency or as risk.InCurrency scales it where that is smaller, needs the order's
	// short id typed on the dashboard; 0 never asks.
	ConfirmApprovalAbove order.Cents
	// ClaimTTL is how long a manager's claim on a pending order lasts; 0: DefaultClaimTTL.
	ClaimTTL time.Duration
	// IdempotencyKeyTTL is how long an Idempotency-Key names the order it placed; 0:
	// DefaultIdempotencyKeyTTL.
	IdempotencyKeyTTL time.Duration
	// WebhookInboxRetention is how long the webhook inbox keeps a webhook; 0:
	// inbox.DefaultRetention. ConfigFromEnv refuses one shorter than inbox.MinRetention.
	WebhookInboxRetention time.Duration
	// WarehouseURL is where the warehouse's public catalog prices new orders.
	WarehouseURL string
	// PaymentsURL is where the dashboard's dev simulators reach the payment service.
	PaymentsURL string
	// DeliveryURL is where the dashboard's dev simulators reach the delivery service.
	DeliveryURL string
	// CookieSecure marks session cookies Secure even when TLS ends at a proxy.
	CookieSecure bool
	// SessionTTL is how long a dashboard sign-in lasts.
	SessionTTL time.Duration
	// ClientIPHeader names the header a proxy in front sets to the client's address
	// (X-Forwarded-For, X-Real-IP), for the sign-in limits per address; empty: the
	// connection's peer. Set it only when that proxy overwrites the header, or clients
	// choose their own address.
	ClientIPHeader string
	// OperatorToken lets operators read every order, list and inbox (Authorization: Bearer
	// <token>). Empty: only dev mode reads them, without a credential.
	OperatorToken string
	// OrderTokenSecret signs the access tokens customers get for their orders; replicas
	// must share it. Empty: a random secret per process (tests), so tokens die with it.
	OrderTokenSecret string
}

// Service is the orders service.
type Service struct {
	pool        *pgxpool.Pool
	orders      *orderstream.Reader // the API's reads of single orders, coalesced
	memory      *orderstream.Memory // answers them while this process holds the read lease
	logger      *slog.Logger
	cfg         Config
	catalog     *catalogClient
	orderSecret []byte
	metrics     *serviceMetrics
	dashboard   *dashboard.Service
	lists       *httpx.Gate // the turns of lists, searches and exports, the API's and the dashboard's
	outbox      *mailer.Outbox
	inbox       *inbox.Inbox
	saga        *sagas.Runner // the workflow, run by its consumers and, at once, by the API's writes
}

// New builds the orders service over pool.
func New(pool *pgxpool.Pool, logger *slog.Logger, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workflow == (sagas.Config{}) {
		cfg.Workflow = sagas.DefaultConfig()
	}
	secret := []byte(cfg.OrderTokenSecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails
	}
	if cfg.WarehouseURL == "" {
		cfg.WarehouseURL = DefaultWarehouseURL
	}
	memory := orderstream.NewMemory()
	s := &Service{pool: pool, orders: orderstream.NewReader(pool, readSlots, memory), memory: memory, logger: logger, cfg: cfg, catalog: newCatalogClient(cfg.WarehouseURL, logger), orderSecret: secret}
	s.metrics = newServiceMetrics(s)
	s.lists = httpx.NewGate(httpx.ListsAtOnce)
	s.outbox = mailer.New(pool, logger, mailer.Config{Now: cfg.Now, SMTPURL: cfg.SMTPURL, From: cfg.MailFrom, PollInterval: cfg.MailPollInterval, Senders: cfg.MailSenders,
		StopGrace: cfg.MailStopGrace})
	s.saga = sagas.NewRunner(sagas.ProcessOrder, cfg.Workflow, s.outbox, cfg.Now, logger)
	s.dashboard = dashboard.New(pool, logger, dashboard.Config{
		Now: cfg.Now, DevMode: cfg.DevMode, ServiceToken: cfg.ServiceToken, PaymentsURL: cfg.PaymentsURL, DeliveryURL: cfg.DeliveryURL,
		DevPassword: cfg.DashboardDevPassword, DevMailboxURL: cfg.DevMailboxURL, Workflow: cfg.Workflow, ConfirmApprovalAbove: cfg.ConfirmApprovalAbove,
		CookieSecure: cfg.CookieSecure, SessionTTL: cfg.SessionTTL, ClientIPHeader: cfg.ClientIPHeader, Lists: s.lists,
	}, s, s.catalog, s.outbox)
	s.inbox = inbox.New(pool, logger, s.saga, inbox.Config{Now: cfg.Now, DevMode: cfg.DevMode,
		PaymentWebhookSecret: cfg.PaymentWebhookSecret, DeliveryWebhookSecret: cfg.DeliveryWebhookSecret, Retention: cfg.WebhookInboxRetention})
	return s
}

// readSlots is how many order reads the API runs at once; the reads that arrive while
// they run are answered together by the next ones (orderstream.Reader). Fewer slots
// answer more reads per query: at 64 customers (2,200 reads/s), 4 slots ran 6 to 10
// queries per order and 2 slots 4 to 6, for about 2 ms less machine CPU per order and no
// longer reads; 1 slot saved about 1 ms more but lets one slow query stall every read
// (docs/BENCHMARKS.md).
const readSlots = 2

// now is the service clock at Postgres's precision (microseconds), so a time read from
// an event and the same time read from a column compare equal.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// Handler serves the orders API:
//
//	POST /api/orders              place an order (Idempotency-Key honoured); returns its access token
//	GET  /api/orders              list orders: ?status=&limit=&cursor= (operator)
//	GET  /api/orders/{id}         one order, from its events (operator, or its customer's token)
//	GET  /api/orders/{id}/events  the order's event history (operator, or its customer's token)
//	GET  /api/orders/{id}/notifications  emails recorded for the order (operator)
//	POST /api/orders/{id}/notifications/{kind}/resolve  settle an email in doubt (operator)
//	POST /api/orders/approve      a manager approves or rejects (Bearer token)
//	GET  /api/support-tickets     support tickets (?orderId=&limit=&cursor=) (operator)
//	GET  /api/webhooks            the webhook inbox (?outcome=unknown_order) (operator)
//	POST /webhooks/payment        payment provider webhook (Stripe-Signature)
//	POST /webhooks/delivery       courier webhook (X-Courier-Signature)
//	     /dashboard/...           the manager dashboard (package dashboard)
func (s *Service) Handler() http.Handler {
	mux := httpx.NewMux()
	mux.HandleFunc("POST /api/orders", s.placeOrder)
	mux.HandleFunc("GET /api/orders", s.operatorOnly(s.listOrders))
	mux.HandleFunc("GET /api/orders/{id}", s.getOrder)
	mux.HandleFunc("GET /api/orders/{id}/events", s.orderEvents)
	mux.HandleFunc("GET /api/orders/{id}/notifications", s.operatorOnly(s.listNotifications))
	mux.HandleFunc("POST /api/orders/{id}/notifications/{kind}/resolve", s.operatorWrites(s.resolveNotification))
	mux.HandleFunc("POST /api/orders/approve", s.approve)
	mux.HandleFunc("GET /api/support-tickets", s.operatorOnly(s.listTickets))
	mux.HandleFunc("GET /api/webhooks", s.operatorOnly(s.inbox.List))
	mux.HandleFunc("POST /webhooks/payment", s.inbox.Payment)
	mux.HandleFunc("POST /webhooks/delivery", s.inbox.Delivery)
	s.dashboard.Routes(mux)
	return mux
}

// RegisterConsumers subscribes the order saga and the read-model projections to the log.
func (s *Service) RegisterConsumers(log *eventstore.Log, router *message.Router) error {
	if err := s.saga.Register(log, router); err != nil {
		return err
	}
	s.dashboard.RegisterLive(router)
	return projections.Register(log, router)
}

// RunWorker sends the recorded emails (mailer.Outbox.RunWorker), takes the read lease
// whenever this is the only process writing orders, so that reads of orders are answered
// from memory (orderstream.Memory), and deletes expired idempotency keys, the webhooks
// past the inbox's retention, and the dashboard's expired sessions and quiet sign-in
// limits (dashboard.Service.Keep), each counted in retention.Metrics, until ctx ends.
func (s *Service) RunWorker(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		connect := func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
		}
		s.memory.Run(ctx, connect, orderstream.DefaultLeaseConfig(), s.logger)
		return nil
	})
	g.Go(func() error { return s.outbox.RunWorker(ctx) })
	g.Go(func() error {
		idempotencyKeys.Keep(ctx, s.pool, s.idempotencyKeyTTL(), s.logger, s.metrics.retention)
		return nil
	})
	g.Go(func() error {
		s.inbox.Keep(ctx, s.metrics.retention)
		return nil
	})
	g.Go(func() error {
		s.dashboard.Keep(ctx, s.metrics.retention)
		return nil
	})
	return g.Wait()
}

// SignInCounts returns the dashboard's sign-in counters (dashboard.Service.SignInCounts).
func (s *Service) SignInCounts() dashboard.SignInCounts { return s.dashboard.SignInCounts() }
