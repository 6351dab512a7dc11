// Package dashboard is the orders service's manager dashboard: its pages and handlers,
// sign-in with its limits, the live stream of changes (SSE) and the mapping of read
// models to the view models package ui renders.
package dashboard

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/orders/mailer"
)

// DevManagerEmail and DevDashboardPassword are the dashboard account DEV_MODE creates
// (the password can be changed with DASHBOARD_DEV_PASSWORD).
const (
	DevManagerEmail      = "manager@ordermill.local"
	DevDashboardPassword = "ordermill-dev"
)

// DefaultSessionTTL is how long a sign-in lasts unless DASHBOARD_SESSION_TTL says otherwise.
const DefaultSessionTTL = 12 * time.Hour

// DefaultKeepAlive is how often an idle live stream says it is there, unless
// Config.KeepAlive says otherwise: often enough for proxies to keep it open.
const DefaultKeepAlive = 25 * time.Second

// Config is what the dashboard needs of the orders service's configuration.
type Config struct {
	// Now is the clock; tests may fix it.
	Now func() time.Time
	// DevMode shows the simulators and the dev mailbox.
	DevMode bool
	// ServiceToken is presented to the payments and delivery simulators (dev mode).
	ServiceToken string
	// PaymentsURL and DeliveryURL are where the simulator buttons reach those services.
	PaymentsURL, DeliveryURL string
	// DevPassword is the dev account's password; the sign-in page hints at the account when set.
	DevPassword string
	// DevMailboxURL is the development mailbox the notifications link to (dev mode).
	DevMailboxURL string
	// Workflow is the saga's configuration: the orders list colours risk by its threshold,
	// whatever it is (0 holds every order).
	Workflow sagas.Config
	// ConfirmApprovalAbove: approving an order above it (confirmAbove) needs its short id
	// typed; 0 never.
	ConfirmApprovalAbove order.Cents
	// CookieSecure marks session cookies Secure even when TLS ends at a proxy.
	CookieSecure bool
	// SessionTTL is how long a sign-in lasts.
	SessionTTL time.Duration
	// KeepAlive is how often a live stream sends a keep-alive event; a page that hears
	// nothing for twice as long takes its stream for lost and connects again.
	KeepAlive time.Duration
	// ClientIPHeader names the header a trusted proxy sets to the client's address.
	ClientIPHeader string
	// Lists is the gate the orders list, its search and its export take a turn at, shared
	// with the API's lists (a gate of the dashboard's own when nil).
	Lists *httpx.Gate
}

// Commands are the managers' decisions on orders, which the orders service takes.
type Commands interface {
	Decide(ctx context.Context, orderID string, approved bool, manager, reason string, heedClaims bool) (o *order.Order, repeated bool, err error)
	Claim(ctx context.Context, orderID, manager, over string, release bool) (*order.Order, error)
	AddNote(ctx context.Context, orderID, manager, text string) error
	WorkOnTicket(ctx context.Context, orderID, kind, manager, action, value string) error
}

// Catalog names products by SKU; a SKU it cannot name is missing from the answer.
type Catalog interface {
	Names(ctx context.Context, skus []string) map[string]string
}

// Emails reads the emails recorded for an order (the mailer's outbox).
type Emails interface {
	ForOrder(ctx context.Context, orderID string) ([]mailer.Notification, error)
}

// Service serves the dashboard.
type Service struct {
	pool    *pgxpool.Pool
	logger  *slog.Logger
	cfg     Config
	cmds    Commands
	catalog Catalog
	emails  Emails
	live    *liveHub
	signins signinCounters
}

// New builds the dashboard over pool; cmds take the managers' decisions.
func New(pool *pgxpool.Pool, logger *slog.Logger, cfg Config, cmds Commands, catalog Catalog, emails Emails) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.Lists == nil {
		cfg.Lists = httpx.NewGate(httpx.ListsAtOnce)
	}
	return &Service{pool: pool, logger: logger, cfg: cfg, cmds: cmds, catalog: catalog, emails: emails, live: newLiveHub()}
}

// now is the clock at Postgres's precision (microseconds), so a time read from an event
// and the same time read from a column compare equal.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }
