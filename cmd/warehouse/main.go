// Command warehouse runs the warehouse service on :3003: stock, reservations and releases
// (inventory.check-availability, inventory.reserve, inventory.release).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/warehouse"
)

func main() {
	host.Main("warehouse", 3003, "Runs the warehouse service: stock, reservations and releases.", vars, build)
}

// vars are the variables the warehouse service reads besides every process's.
var vars = []host.Var{
	{Name: host.ServiceTokenVar("orders"), Default: host.DevServiceToken("orders") + " in dev mode", Meaning: "the bearer token the orders service presents to these procedures; required outside dev mode"},
	{Name: "SEED_CATALOG", Default: "", Meaning: "1: seed the demo catalog at start-up"},
}

func build(logger *slog.Logger, env host.Env) (host.Start, error) {
	// The orders service is the one caller: its workflow reserves and releases stock.
	callers, err := host.ServiceTokens(env, "warehouse", "orders")
	if err != nil {
		return nil, err
	}
	seed, err := env.Bool("SEED_CATALOG")
	if err != nil {
		return nil, err
	}
	if seed && !host.DevMode(env) {
		logger.Warn("SEED_CATALOG=1 outside dev mode: the demo catalog's products and stock are added to this database")
	}
	return func(ctx context.Context, pool *pgxpool.Pool, _ net.Addr) (host.Service, error) {
		if seed {
			if err := warehouse.Seed(ctx, pool); err != nil {
				return nil, fmt.Errorf("seed catalog: %w", err)
			}
			logger.Info("demo catalog in place: products it lacked added, stock of those there before untouched (GET /api/inventory lists it)")
		}
		return warehouse.New(pool, logger, warehouse.Config{Callers: callers}), nil
	}, nil
}
