// Package cli holds what the tool commands share: their main function (chaos, history,
// loadgen, manager) and how they open the database (history, manager, replay).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
)

// Main runs run with a context that ends on SIGINT or SIGTERM. When run fails it prints
// the error after the command's name and exits 1; flag.ErrHelp is no failure, since the
// flag set has printed the usage.
func Main(name string, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// OpenDatabase opens the database getenv's DATABASE_URL names (eventstore's default when
// it is empty), with its connections named after app. An operator's tool works on the
// services' database as they left it: a misspelt name is an error, not a new empty
// database (eventstore.MustExist), and neither another application's database nor one
// this release's services have not migrated yet is migrated by a tool
// (eventstore.RequireSchema).
func OpenDatabase(ctx context.Context, getenv func(string) string, app string) (*pgxpool.Pool, error) {
	url := databaseURL(getenv)
	if err := eventstore.MustExist(ctx, url); err != nil {
		return nil, err
	}
	pool, err := eventstore.Connect(ctx, url, app)
	if err != nil {
		return nil, err
	}
	if err := eventstore.RequireSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// CreateDatabase is OpenDatabase for a tool that may give a database its start (history,
// before the services' first start): it creates and migrates it as a service does
// (eventstore.Open), which refuses another application's database.
func CreateDatabase(ctx context.Context, getenv func(string) string, app string) (*pgxpool.Pool, error) {
	return eventstore.Open(ctx, databaseURL(getenv), app)
}

// databaseURL is getenv's DATABASE_URL, or eventstore's default when it is empty.
func databaseURL(getenv func(string) string) string {
	if url := getenv("DATABASE_URL"); url != "" {
		return url
	}
	return eventstore.DefaultDatabaseURL
}
