// Command history gives a database a past: -events events of earlier orders (the
// realistic mix of projections/ordergen) with their snapshots, already consumed by the
// saga and the read models, which are then rebuilt to hold them; then a VACUUM ANALYZE, as
// autovacuum would have run on a store that grew over time, and a CHECKPOINT.
// `scripts/bench.sh` runs it before the services start when BENCH_HISTORY_EVENTS is set,
// to measure throughput against the log's size (docs/BENCHMARKS.md).
//
// Every order of the past has ended (ordergen.Options.Ended): none waits for a deadline no
// saga armed. Another -seed writes other orders, so pasts of several seeds add up; the same
// seed twice is refused.
//
// Run it while no service runs on the database: the messages of order events appended
// meanwhile would be passed over too, as already consumed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ordermill/ordermill/cmd/internal/cli"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/projections/ordergen"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/host"
)

func main() {
	cli.Main("history", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr) })
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	events := fs.Int("events", 1_000_000, "order events to write, at least")
	seed := fs.Uint64("seed", 1, "the histories' seed: the same seed writes the same orders")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: history [-events N] [-seed S]\n\nWrites a consumed past of ended orders and rebuilds the read models to hold it.\n"+
			"Run it while no service runs on the database: order events appended meanwhile would be passed over, as consumed.\n"+
			"Each -seed writes other orders; the same seed twice is refused.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintln(stderr)
		host.WriteVars(stderr, []host.Var{host.DatabaseURLVar})
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *events < 1 || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-events must be positive, and there are no arguments")
	}
	// The help says to run it while no service runs; a probe ran it beside idle services.
	if err := cli.RequireAlone(ctx, getenv, "stop them first: order events they append meanwhile would be passed over as read (nothing written)"); err != nil {
		return err
	}
	pool, err := cli.CreateDatabase(ctx, getenv, "history")
	if err != nil {
		return err
	}
	defer pool.Close()

	start := time.Now()
	res, err := ordergen.Consumed(ctx, pool, ordergen.Options{Events: *events, Seed: *seed, UUIDs: true, Snapshots: true, Ended: true},
		sagas.ConsumerGroup, projections.ConsumerGroup)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, context.Canceled) && res.Events > 0:
		// Each transaction's events are read by the services as it commits, and a signal
		// lets the orders in flight end: what was written is a whole past, short of what was
		// asked, not work for them.
		return fmt.Errorf("%w: stopped after %d events of %d orders, every one ended, written as the services' past; `bin/replay projections` brings them into the read models", err, res.Events, res.Orders)
	case err != nil && res.Events > 0:
		// Any other failure leaves the orders then in flight mid-way (the review).
		return fmt.Errorf("%w: stopped after %d events, written as the services' past, with the orders then in flight (up to 200) left mid-way: for a clean past, start again on a fresh database", err, res.Events)
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation: an order of this seed is stored already
		return fmt.Errorf("the database already holds orders of -seed %d (nothing written): give another -seed, or a fresh database", *seed)
	case errors.Is(err, ordergen.ErrBehind):
		return fmt.Errorf("%w (nothing written): the services left work on this database they have not done; start them until `bin/replay status` shows nothing behind, stop them, and run it again", err)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "wrote %d events of %d orders in %s\n", res.Events, res.Orders, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	rebuilt, err := projections.Rebuild(ctx, pool, projections.Options{})
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilt the read models from %d events and vacuumed in %s\n", rebuilt.Events, time.Since(start).Round(time.Millisecond))
	// The bulk write leaves gigabytes of WAL and dirty pages behind: without a checkpoint
	// now, one runs during whatever is measured next, writing them out and logging a full
	// page image of every page touched meanwhile.
	if _, err := pool.Exec(ctx, "CHECKPOINT"); err != nil {
		fmt.Fprintf(stderr, "history: no checkpoint (%v): the next minutes will write this history out\n", err)
	}
	return nil
}
