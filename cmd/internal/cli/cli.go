// Package cli holds what the tool commands share: their main function (chaos, history,
// loadgen, manager) and how they open the database (history, manager, replay).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
)

// Main runs run with a context that ends on SIGINT or SIGTERM. When run fails it prints
// the error after the command's name and exits 1; flag.ErrHelp is no failure, since the
// flag set has printed the usage.
func Main(name string, run func(ctx context.Context) error) {
	// What logs through slog's default (a database created, a migration waiting) reads as
	// the services' lines do, not in the log package's older format (a probe).
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
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

// Services are the four service programs, by name, as their binaries and their database
// connections (eventstore.AppName) are named, in the order of their ports (orders on the
// base port, then the next three) and of loadgen's memory figures.
var Services = []string{"orders", "payments", "warehouse", "delivery"}

// RequireAlone refuses the database getenv's DATABASE_URL names while a service is
// connected to it, saying what to do (advice): make run's check (a second checkout's run
// on the same database would share its work, its payment links and emails coming from
// the other run's ports), and bin/history's (the order events a service appends meanwhile
// would be passed over as read). A database that does not exist yet has nobody on it.
func RequireAlone(ctx context.Context, getenv func(string) string, advice string) error {
	url := databaseURL(getenv)
	if err := eventstore.MustExist(ctx, url); errors.Is(err, eventstore.ErrNoDatabase) {
		return nil
	} else if err != nil {
		return err
	}
	pool, err := eventstore.Connect(ctx, url, "")
	if err != nil {
		return err
	}
	defer pool.Close()
	others, err := eventstore.Connected(ctx, pool, Services...)
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return fmt.Errorf("services use database %s (%s): %s", pool.Config().ConnConfig.Database, strings.Join(others, ", "), advice)
	}
	return nil
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
