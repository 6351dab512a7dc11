package orders

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/services/host"
)

// Build is the orders process's host.Build: the service configured from env, with the
// development dashboard account created in DEV_MODE and removed outside it.
func Build(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, env host.Env) (host.Service, error) {
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	if cfg.DevMode {
		logger.Warn("DEV_MODE: unsigned webhooks are accepted, reads need no credential and development secrets are in use")
		if err := EnsureDevManager(ctx, pool, cfg.DashboardDevPassword); err != nil {
			return nil, fmt.Errorf("dev dashboard account: %w", err)
		}
		logger.Info(fmt.Sprintf("dashboard sign-in: %s / %s", DevManagerEmail, cfg.DashboardDevPassword),
			"url", "http://localhost:"+env.String("PORT", "3001")+"/dashboard")
	} else {
		// The development account's password is published: after a dev-mode run on this
		// database it must not let anyone in, nor may the sessions it opened.
		removed, err := RemoveDevAccounts(ctx, pool)
		if err != nil {
			return nil, err
		}
		if len(removed) > 0 {
			logger.Warn("removed dashboard accounts created in dev mode, and their sessions", "accounts", removed)
		}
	}
	return New(pool, logger, cfg), nil
}
