// Command orders runs the orders service on :3001: the public API, webhooks, dashboard,
// the order saga and the projections.
package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
)

func main() {
	host.Main("orders", 3001, build)
}

func build(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, env host.Env) (host.Service, error) {
	cfg, err := orders.ConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	if cfg.DevMode {
		logger.Warn("DEV_MODE: unsigned webhooks are accepted, reads need no credential and development secrets are in use")
		if err := orders.EnsureDevManager(ctx, pool, cfg.DashboardDevPassword); err != nil {
			return nil, fmt.Errorf("dev dashboard account: %w", err)
		}
		logger.Info(fmt.Sprintf("dashboard sign-in: %s / %s", orders.DevManagerEmail, cfg.DashboardDevPassword),
			"url", "http://localhost:"+env.String("PORT", "3001")+"/dashboard")
	} else {
		// The development account's password is published: after a dev-mode run on this
		// database it must not let anyone in, nor may the sessions it opened.
		removed, err := orders.RemoveDevAccounts(ctx, pool)
		if err != nil {
			return nil, err
		}
		if len(removed) > 0 {
			logger.Warn("removed dashboard accounts created in dev mode, and their sessions", "accounts", removed)
		}
	}
	return orders.New(pool, logger, cfg), nil
}
