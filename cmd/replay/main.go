// Command replay rebuilds, checks and explains the read models and the workflow from the
// event log: `replay help` lists what it does. With -migrate-only it just creates the
// database and applies migrations (what `make run` does before starting).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/cmd/internal/cli"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders/workflow"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp): // -help has printed the usage
	case errors.Is(err, errDiffers):
		os.Exit(1)
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "replay: interrupted; what was cut off was rolled back (a rebuild leaves the live read models as they were)")
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(2)
	}
}

const help = `replay rebuilds, checks and explains the read models and the workflow from the event log.

Usage: replay [flags] <command> [arguments]

Commands:
  projections [NAME...]   rebuild the read models (all, or the named ones) beside the live
                          ones and swap them in; the services keep working meanwhile
  verify [NAME...]        rebuild into a schema of its own and compare with the live read
                          models: exit 0 when equal, 1 with the differences
  status                  where each projection stands against the log, every consumer
                          group's lag, the delayed queue, dead letters by topic
  order ID [-json]        an order's events, its state after each, and what the workflow
                          decides at that point (computed by the real flow, a dry run),
                          with the orders service's RISK_THRESHOLD and *_TIMEOUT settings
                          from the environment: give it the service's values
  deadletters list        the dead letters, newest first (-topic T; -all shows the
                          re-driven ones too)
  deadletters redrive     send dead letters back to the consumer group that failed them,
                          to be handled once more: one (-id N), or every open one of a
                          topic (-topic T, optionally -group G); recorded as done by -by
  rebase-log              after a restore on another server (pg_dump, pg_restore), whose
                          services refuse to start: renumber the log's positions below this
                          server's transaction ids, keeping what each consumer has handled;
                          with every service stopped
  help                    this text

Flags:
  -until TIME|POSITION    with projections: build the read models as they were then into
                          -schema, and keep them there (the live ones are not touched): of
                          the events recorded at or before TIME (RFC 3339, e.g.
                          2026-12-01T09:00:00Z), or of those up to the log's POSITION
  -schema NAME            the schema -until builds into; it must not exist yet
  -max-rows N             verify: differing rows listed per table (default 20)
  -migrate-only           create the database and apply migrations, then stop
  -alone                  with -migrate-only: refuse a database the services of another
                          system are connected to (make run's check for a second run)
  -id N, -topic T, -group G, -all, -by NAME
                          deadletters: which letters; -by defaults to $USER

Projections: %s.
Replay only reads the log and writes read models: it never sends a command, an email or a
webhook, and never touches the workflow's state; the exceptions are deadletters redrive,
which hands failed messages back to their consumers, and rebase-log.
Exit status: 0 done, 1 verify found differences, 2 failed.

`

// errDiffers is verify's answer when the read models differ: exit status 1.
var errDiffers = errors.New("the read models differ from the log")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	migrateOnly := fs.Bool("migrate-only", false, "create the database and apply migrations, then stop")
	alone := fs.Bool("alone", false, "with -migrate-only: refuse a database another system's services use")
	until := fs.String("until", "", "build the read models as they were at this time or log position")
	schema := fs.String("schema", "", "the schema -until builds into")
	maxRows := fs.Int("max-rows", 20, "differing rows verify lists per table")
	asJSON := fs.Bool("json", false, "order: print JSON for programs")
	var dl deadLetterOptions
	fs.StringVar(&dl.topic, "topic", "", "deadletters: the topic")
	fs.StringVar(&dl.group, "group", "", "deadletters redrive: only this consumer group's")
	fs.Int64Var(&dl.id, "id", 0, "deadletters redrive: the dead letter's id")
	fs.BoolVar(&dl.all, "all", false, "deadletters list: the re-driven ones too")
	fs.StringVar(&dl.by, "by", "", "deadletters redrive: who re-drives (default $USER)")
	positional, err := parse(fs, args)
	if err != nil {
		return err
	}
	command, rest := "", positional
	if len(positional) > 0 {
		command, rest = positional[0], positional[1:]
	}
	switch {
	case command == "help":
		usage(stdout)
		return nil
	case command == "" && !*migrateOnly:
		fs.Usage()
		return errors.New("no command given")
	case command != "" && *migrateOnly:
		// It ran nothing of the command and said it was done (a probe's script trusted it).
		return fmt.Errorf("-migrate-only takes no command (%s): it migrates, then stops", command)
	case (*until == "") != (*schema == ""):
		return errors.New("-until and -schema go together")
	case *until != "" && command != "projections":
		return errors.New("-until works with the projections command")
	case *maxRows < 1:
		return fmt.Errorf("-max-rows %d: verify lists at least one differing row a table", *maxRows)
	case len(*schema) > maxIdentifier:
		// Postgres cuts a longer name, and the build would be reported under one name and
		// made under another (found by a probe).
		return fmt.Errorf("-schema: at most %d bytes, as Postgres names go", maxIdentifier)
	case (command == "status" || command == "rebase-log") && len(rest) > 0, command == "deadletters" && len(rest) > 1:
		return fmt.Errorf("%s takes no argument %q (replay help lists what it takes)", command, rest[len(rest)-1])
	}
	// A flag of another command is refused, not ignored (the review: -json with verify, -id
	// with list, said nothing).
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, commands := range flagCommands {
		if set[name] && !slices.Contains(commands, command) {
			with := make([]string, len(commands))
			for i, c := range commands {
				with[i] = cmp.Or(c, "-migrate-only") // "": no command, -migrate-only
			}
			return fmt.Errorf("-%s goes with %s, not %s", name, strings.Join(with, " or "), cmp.Or(command, "-migrate-only"))
		}
	}
	if command == "deadletters" && len(rest) == 1 {
		for name, with := range map[string]string{"id": "redrive", "group": "redrive", "by": "redrive", "all": "list"} {
			if set[name] && rest[0] != with {
				return fmt.Errorf("-%s goes with deadletters %s, not %s", name, with, rest[0])
			}
		}
	}
	var ps []projections.Projection
	if command == "projections" || command == "verify" {
		if ps, err = projections.ByName(rest...); err != nil {
			return err
		}
	}
	// -migrate-only readies a database for the services (make run, make bench), so it
	// creates one; every other command reads the services' database, which must exist.
	open := cli.OpenDatabase
	if *migrateOnly {
		open = cli.CreateDatabase
	}
	if *alone {
		// Before anything is migrated: a second checkout, on a newer release, migrated the
		// other run's database under its services before the check refused (the review).
		if err := cli.RequireAlone(ctx, getenv, "stop them if they are another run's, or give this run a database of its own (DATABASE_URL=…/ordermill_2)"); err != nil {
			return err
		}
	}
	if command == "rebase-log" {
		// A message a service writes meanwhile cannot be told from a restored one.
		if err := cli.RequireAlone(ctx, getenv, "stop every service first: a message written while the log is rebased could be passed over"); err != nil {
			return err
		}
	}
	pool, err := open(ctx, getenv, "replay")
	if err != nil {
		return err
	}
	defer pool.Close()
	if *migrateOnly {
		current, want, err := eventstore.SchemaVersion(ctx, pool)
		if err != nil {
			return err
		}
		if current > want {
			// A later release migrated it: nothing was applied, where this said "migrations
			// applied" and make run went on with an older binary (a probe's downgrade).
			fmt.Fprintf(stdout, "database ready: its schema (version %d) is newer than this binary's (%d), from a later release; nothing applied: replace this binary\n", current, want)
			return nil
		}
		fmt.Fprintf(stdout, "database ready: migrations applied (schema version %d)\n", current)
		return nil
	}
	if current, want, err := eventstore.SchemaVersion(ctx, pool); err != nil {
		return err
	} else if current > want {
		// A later release migrated it: its read models may hold what this binary does not
		// know (a probe's rebuild kept a newer column at its default), and a rebuild would
		// write them as an older release reads them.
		if command == "projections" && *until == "" {
			return fmt.Errorf("the database's schema (version %d) is newer than this binary's (%d), from a later release: rebuild its read models with that release's bin/replay", current, want)
		}
		fmt.Fprintf(stderr, "replay: the database's schema (version %d) is newer than this binary's (%d), from a later release: what this says is as this release reads it\n", current, want)
	}
	if command != "rebase-log" {
		// On a copy restored on another server, a rebuild read none of the log and swapped
		// empty read models in, and verify waited for ever (a probe): every command but
		// status, which says so first, is refused as the services are.
		if err := eventstore.CheckLogPositions(ctx, pool); errors.Is(err, eventstore.ErrLogAhead) && command == "status" {
			fmt.Fprintf(stdout, "%v\n\n", err)
		} else if err != nil {
			return err
		}
	}
	switch command {
	case "projections":
		if *until != "" {
			return buildUntil(ctx, pool, ps, *until, *schema, stdout, stderr)
		}
		return rebuild(ctx, pool, ps, stdout, stderr)
	case "verify":
		return verify(ctx, pool, ps, *maxRows, stdout, stderr)
	case "status":
		return status(ctx, pool, stdout)
	case "rebase-log":
		n, err := eventstore.RebaseLog(ctx, pool)
		if err != nil {
			return err
		}
		if n == 0 {
			fmt.Fprintln(stdout, "the log's positions are this server's already: nothing to do")
			return nil
		}
		fmt.Fprintf(stdout, "the log's positions rebased on this server's transaction ids (%d topics): the services may start\n", n)
		return nil
	case "order":
		cfg, err := workflow.FromEnv(host.Env(getenv))
		if err != nil {
			return err
		}
		return explainOrder(ctx, pool, rest, cfg, *asJSON, stdout)
	case "deadletters":
		if dl.by == "" {
			dl.by = "replay"
			if u := getenv("USER"); u != "" {
				dl.by = u + " (replay)"
			}
		}
		return deadLetters(ctx, pool, rest, dl, stdout)
	}
	return fmt.Errorf("unknown command %q (replay help lists them)", command)
}

// flagCommands are the commands each command's own flag goes with.
var flagCommands = map[string][]string{
	"json": {"order"}, "max-rows": {"verify"}, "alone": {""}, // "": -migrate-only
	"topic": {"deadletters"}, "group": {"deadletters"}, "id": {"deadletters"}, "all": {"deadletters"}, "by": {"deadletters"},
}

// maxIdentifier is the longest name Postgres keeps whole (NAMEDATALEN - 1).
const maxIdentifier = 63

// usage writes the help: the commands, the flags and the environment.
func usage(w io.Writer) {
	fmt.Fprintf(w, help, strings.Join(projections.Names(), ", "))
	dbVar := host.ToolDatabaseURLVar
	dbVar.Meaning = "the services' database, as they created and migrated it (created or migrated here only by -migrate-only)"
	host.WriteVars(w, append([]host.Var{dbVar}, workflow.Vars...))
}

// parse parses flags wherever they stand among the arguments (replay order ID -json) and
// returns the others, in order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional, args = append(positional, fs.Arg(0)), fs.Args()[1:]
	}
}

func rebuild(ctx context.Context, pool *pgxpool.Pool, ps []projections.Projection, stdout, stderr io.Writer) error {
	start := time.Now()
	p := newProgress(stderr, "rebuild")
	res, err := projections.Rebuild(ctx, pool, projections.Options{Projections: ps, Progress: p.report})
	p.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilt %s from %d events in %s, swapped in\n", names(ps), res.Events, elapsed(start))
	sayUnknown(stdout, res)
	return nil
}

// sayUnknown names the events a build left out as this release does not read them (a
// newer release's, or one written by hand), as the live consumers leave them out.
func sayUnknown(w io.Writer, res projections.Result) {
	if len(res.Unknown) == 0 {
		return
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(res.Unknown)) {
		parts = append(parts, fmt.Sprintf("%s (%d)", name, res.Unknown[name]))
	}
	fmt.Fprintf(w, "left out, as the services do, events this release does not know: %s; a newer release wrote them? build with it\n", strings.Join(parts, ", "))
}

func buildUntil(ctx context.Context, pool *pgxpool.Pool, ps []projections.Projection, until, schema string, stdout, stderr io.Writer) error {
	position, at, err := positionAt(ctx, pool, until)
	if err != nil {
		return err
	}
	start := time.Now()
	p := newProgress(stderr, "build")
	res, err := projections.BuildInto(ctx, pool, schema, projections.Options{Projections: ps, Until: position, UntilTime: at, Progress: p.report})
	p.done()
	if err != nil {
		return err
	}
	asOf := fmt.Sprintf("position %d", position)
	if !at.IsZero() {
		asOf = at.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(stdout, "built %s as of %s from %d events into schema %s in %s\n", names(ps), asOf, res.Events, schema, elapsed(start))
	sayUnknown(stdout, res)
	return nil
}

// positionAt reads -until: a log position, or a time. A time keeps the events recorded at
// or before it (at), up to the newest of them (position), wherever the log holds them.
func positionAt(ctx context.Context, pool *pgxpool.Pool, until string) (position int64, at time.Time, err error) {
	if n, err := strconv.ParseInt(until, 10, 64); err == nil {
		if n <= 0 {
			return 0, at, fmt.Errorf("-until %d: positions start at 1", n)
		}
		// A position past the log's head was built "as of" a position that never was.
		var head int64
		if err := pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
			return 0, at, err
		}
		if n > head {
			return 0, at, fmt.Errorf("-until %d: the log's newest position is %d", n, head)
		}
		return n, at, nil
	}
	if at, err = time.Parse(time.RFC3339Nano, until); err != nil {
		return 0, at, fmt.Errorf("-until %q is neither a log position nor an RFC 3339 time", until)
	}
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events WHERE recorded_at <= $1`, at).Scan(&position); err != nil {
		return 0, at, err
	}
	if position == 0 {
		return 0, at, fmt.Errorf("no event was recorded at or before %s", at.Format(time.RFC3339))
	}
	return position, at, nil
}

func verify(ctx context.Context, pool *pgxpool.Pool, ps []projections.Projection, maxRows int, stdout, stderr io.Writer) error {
	start := time.Now()
	p := newProgress(stderr, "verify")
	d, res, err := projections.Verify(ctx, pool, projections.Options{Projections: ps, Progress: p.report}, maxRows)
	p.done()
	if err != nil {
		return err
	}
	sayUnknown(stdout, res)
	if d.Changing > 0 {
		fmt.Fprintf(stdout, "%d order(s) changed while comparing and were left out", d.Changing)
		if len(d.Unchecked) > 0 {
			fmt.Fprintf(stdout, ", and with them %s", strings.Join(d.Unchecked, ", "))
		}
		fmt.Fprintln(stdout)
	}
	if d.Equal() {
		fmt.Fprintf(stdout, "%s equal the log (%d events, %s)\n", names(ps), res.Events, elapsed(start))
		return nil
	}
	for _, t := range d.Tables {
		fmt.Fprintf(stdout, "%s: %d row(s) differ", t.Table, t.Count)
		if t.Count > len(t.Rows) {
			fmt.Fprintf(stdout, ", the first %d:", len(t.Rows))
		}
		fmt.Fprintln(stdout)
		for _, r := range t.Rows {
			fmt.Fprintf(stdout, "  %s  %s\n", r.Key, describeProblem(r.Problem))
			if r.Problem != projections.Differs {
				continue
			}
			for _, c := range r.Columns {
				fmt.Fprintf(stdout, "      %s: live %s, rebuilt %s\n", c.Column, c.Live, c.Rebuilt)
			}
		}
	}
	return errDiffers
}

func describeProblem(p string) string {
	switch p {
	case projections.Missing:
		return "missing from the live table"
	case projections.Extra:
		return "in the live table, not in the log"
	}
	return "differs"
}

func names(ps []projections.Projection) string {
	if len(ps) == len(projections.All()) {
		return "every read model"
	}
	var out []string
	for _, p := range ps {
		out = append(out, strings.TrimPrefix(p.Name, "projection."))
	}
	return strings.Join(out, ", ")
}

func elapsed(start time.Time) time.Duration {
	return time.Since(start).Round(time.Millisecond)
}
