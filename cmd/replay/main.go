// Command replay rebuilds every read model from the event store. With -migrate-only it just
// creates the database and applies migrations (what `make run` does before starting).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/host"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return // the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	migrateOnly := fs.Bool("migrate-only", false, "create the database and apply migrations, then stop")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: replay [flags]\n\nRebuilds every read model from the event store (or, with -migrate-only, only creates the database and applies migrations).\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output())
		host.WriteVars(fs.Output(), []host.Var{host.DatabaseURLVar})
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	url := getenv("DATABASE_URL")
	if url == "" {
		url = eventstore.DefaultDatabaseURL
	}
	pool, err := eventstore.Open(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if *migrateOnly {
		fmt.Fprintln(out, "database ready: migrations applied")
		return nil
	}
	start := time.Now()
	n, err := projections.Rebuild(ctx, pool, projections.Options{})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "rebuilt %d read models from %d events in %s\n", len(projections.All()), n.Events, time.Since(start).Round(time.Millisecond))
	return nil
}
