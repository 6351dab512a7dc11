package orders

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders/dashboard"
)

// Build is the orders process's host.Build: the service configured from env, with the
// development dashboard account created in DEV_MODE and removed outside it when it starts.
func Build(logger *slog.Logger, env host.Env) (host.Start, error) {
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	if !cfg.DevMode && cfg.SMTPURL == "" {
		// Each email was logged at info level only, as "recorded, not sent" (a probe).
		logger.Warn("SMTP_URL is unset: no email is sent; each is recorded on its order as not_sent")
	}
	for _, key := range []string{"DASHBOARD_DEV_PASSWORD", "DEV_MAILBOX_URL"} {
		if !cfg.DevMode && env(key) != "" {
			logger.Warn(key + " is read in dev mode only: ignored")
		}
	}
	return func(ctx context.Context, pool *pgxpool.Pool, addr net.Addr) (host.Service, error) {
		if cfg.DevMode {
			if err := dashboard.EnsureDevManager(ctx, pool, cfg.DashboardDevPassword); err != nil {
				return nil, fmt.Errorf("DASHBOARD_DEV_PASSWORD: the dev dashboard account's password: %w", err)
			}
			// The published password is shown; one the operator chose is not: it is theirs,
			// and a log is read by others (a probe found it printed).
			password := cfg.DashboardDevPassword
			if password != DevDashboardPassword {
				password = "the DASHBOARD_DEV_PASSWORD you set"
			}
			logger.Info(fmt.Sprintf("dashboard sign-in: %s / %s", DevManagerEmail, password), "url", host.LocalURL(addr)+"/dashboard")
		} else {
			// The development account's password is published: after a dev-mode run on this
			// database it must not let anyone in, nor may the sessions it opened.
			removed, err := dashboard.RemoveDevAccounts(ctx, pool)
			if err != nil {
				return nil, err
			}
			if len(removed) > 0 {
				logger.Warn("removed dashboard accounts created in dev mode, and their sessions", "accounts", removed)
			}
		}
		return New(pool, logger, cfg), nil
	}, nil
}

// The changes SetManager makes to an account.
const (
	AccountCreated = dashboard.AccountCreated
	PasswordReset  = dashboard.PasswordReset
)

// SetManager creates a dashboard account, or resets the password of an existing one, and
// says which (dashboard.SetManager); bin/manager calls it.
func SetManager(ctx context.Context, db eventstore.TxBeginner, email, password string) (dashboard.AccountChange, error) {
	return dashboard.SetManager(ctx, db, email, password)
}

// CreateManager is SetManager for the tests, which need not know which it did.
func CreateManager(ctx context.Context, db eventstore.TxBeginner, email, password string) error {
	_, err := dashboard.SetManager(ctx, db, email, password)
	return err
}
