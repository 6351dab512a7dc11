// Command chaos is Ordermill's crash test (`make chaos`, docs/RELIABILITY.md).
//
// It starts the four services from bin/ as separate processes (two of each with -replicas
// 2) on a database of their own, and drives -orders orders through them over HTTP as real
// clients and providers do: every create carries an Idempotency-Key, and a create,
// approval or webhook that fails or times out is sent again. Each order follows a script:
// completed, approved or rejected by a manager (high risk), a payment that fails (after the
// checkout session, or reported early, before the order waits for it), a failed delivery,
// or a courier's "delivered" sent before the shipment is recorded.
//
// Meanwhile every few seconds one service process is killed with SIGKILL and started again
// (and started again whenever it exits at start-up, as a supervisor would), and PostgreSQL
// itself is restarted (-pg-restarts times, with pg_ctl on -pg-data). With -replicas 2 a
// killed process stays down for -down while its twin carries on, and the orders processes
// reach the warehouses through a small balancer.
//
// Afterwards it checks, in the database: every order ended in the state its script called
// for; every SKU's stock moved by exactly what was sold; no stream holds an event twice; no
// order has two reservations, payment sessions, shipments or copies of an email; no dead
// letters; and each order's stream is a legal path through the Order aggregate's lifecycle
// (order.CheckHistory). It prints orders, kills, restarts and the longest time to recover
// (from a kill to the first event the killed kind of service records after it), and exits
// non-zero on any violation.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ordermill/ordermill/cmd/internal/cli"
	"github.com/ordermill/ordermill/services/orders/mailer"
	"github.com/ordermill/ordermill/services/webhooksig"
)

func main() {
	cli.Main("chaos", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout) })
}

type config struct {
	orders      int
	concurrency int
	rate        float64
	seed        uint64
	replicas    int
	basePort    int
	replicaPort int
	databaseURL string
	pgData      string
	pgRestarts  int
	killEvery   time.Duration
	minKills    int
	down        time.Duration
	stepTimeout time.Duration
	timeout     time.Duration
	bin         string
	logs        string
}

func parseConfig(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.IntVar(&c.orders, "orders", 1000, "orders to drive through the system")
	fs.IntVar(&c.concurrency, "concurrency", 32, "clients acting at once")
	fs.Float64Var(&c.rate, "rate", 10, "orders started per second at most, so that the run outlasts -min-kills kills")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the scripts, the victims and the intervals (0: from the clock)")
	fs.IntVar(&c.replicas, "replicas", 1, "processes of every service (1 or 2)")
	fs.IntVar(&c.basePort, "base-port", 3201, "port of the first orders process; payments, warehouse and delivery take the next three")
	fs.IntVar(&c.replicaPort, "replica-port", 3211, "with -replicas 2: port of the second orders process, and so on")
	fs.StringVar(&c.databaseURL, "database-url", defaultDatabase(), "database the run creates afresh (it is DROPPED first)")
	fs.StringVar(&c.pgData, "pg-data", "", "data directory of the PostgreSQL cluster serving -database-url, restarted with pg_ctl (empty: PostgreSQL is not restarted)")
	fs.IntVar(&c.pgRestarts, "pg-restarts", 2, "PostgreSQL restarts during the run (needs -pg-data)")
	fs.DurationVar(&c.killEvery, "kill-every", 3*time.Second, "mean time between two kills (each interval is drawn between half and one and a half of it)")
	fs.IntVar(&c.minKills, "min-kills", 20, "keep killing until at least this many kills, even after the last order")
	fs.DurationVar(&c.down, "down", 0, "how long a killed process stays down before it is started again (-replicas 2: 5s when unset)")
	fs.DurationVar(&c.stepTimeout, "step-timeout", 2*time.Minute, "longest an order may take for one step before it counts as stuck")
	fs.DurationVar(&c.timeout, "timeout", 9*time.Minute, "longest the whole run may take")
	fs.StringVar(&c.bin, "bin", "bin", "directory of the built service binaries")
	fs.StringVar(&c.logs, "logs", "artifacts/chaos", "directory for the services' logs")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: chaos [flags]\n\nCrash test: drives orders through the four services while killing them and restarting PostgreSQL, then checks the database (docs/RELIABILITY.md).\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\nEnvironment:\n\n  CHAOS_DATABASE_URL  default of -database-url (else DATABASE_URL's server, database ordermill_chaos)\n")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	if c.replicas == 2 && !flagSet(fs, "down") {
		c.down = 5 * time.Second
	}
	switch {
	case c.orders < 1 || c.concurrency < 1 || c.rate <= 0:
		return c, fmt.Errorf("-orders, -concurrency and -rate must be positive")
	case c.replicas != 1 && c.replicas != 2:
		return c, fmt.Errorf("-replicas is 1 or 2")
	case c.pgRestarts > 0 && c.pgData == "":
		return c, fmt.Errorf("-pg-restarts needs -pg-data, the data directory of the cluster at -database-url (or -pg-restarts 0)")
	}
	return c, nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// defaultDatabaseName is the database of a run by default, on DATABASE_URL's server.
const defaultDatabaseName = "ordermill_chaos"

// defaultDatabase is CHAOS_DATABASE_URL, else database ordermill_chaos on DATABASE_URL's
// server: never the development database itself, since the run drops its database.
func defaultDatabase() string {
	if v := os.Getenv("CHAOS_DATABASE_URL"); v != "" {
		return v
	}
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/ordermill?sslmode=disable"
	}
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + defaultDatabaseName
	return u.String()
}

// Dev mode's secrets (services/webhooksig, the orders service's defaults), which the
// services run with here.
const (
	managerToken   = "dev-manager-token"
	paymentSecret  = webhooksig.DevPaymentSecret
	deliverySecret = webhooksig.DevCourierSecret
)

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	rng := rand.New(rand.NewPCG(cfg.seed, 0x0bd3))
	fmt.Fprintf(out, "chaos: %d orders, %d replica(s) of each service, seed %d, database %s\n", cfg.orders, cfg.replicas, cfg.seed, redact(cfg.databaseURL))

	if err := os.MkdirAll(cfg.logs, 0o755); err != nil {
		return err
	}
	if err := freshDatabase(ctx, cfg.databaseURL); err != nil {
		return err
	}
	if err := migrate(ctx, cfg); err != nil {
		return err
	}
	sys, err := newSystem(cfg, out)
	if err != nil {
		return err
	}
	defer sys.stopAll()
	if err := sys.startAll(ctx); err != nil {
		return err
	}
	db, err := openDB(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	before, err := topUpStock(ctx, db)
	if err != nil {
		return err
	}

	scripts := plan(cfg.orders, rng)
	d := newDriver(cfg, sys.ordersURLs(), db)
	start := time.Now()
	loadDone := make(chan struct{})
	go func() {
		d.drive(ctx, scripts)
		close(loadDone)
	}()
	chaosDone := make(chan struct{})
	var mon *monkey
	go func() {
		defer close(chaosDone)
		mon = sys.chaos(ctx, rng, d, loadDone)
	}()
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	for waiting := true; waiting; {
		select {
		case <-chaosDone:
			waiting = false
		case <-progress.C:
			fmt.Fprintf(out, "chaos: %s  %s\n", time.Since(start).Round(time.Second), d.progress())
		}
	}
	<-loadDone
	elapsed := time.Since(start)
	// Every process is up again (the monkey restarts what it kills); the checks may need
	// the workflow to finish its trailing effects (emails, releases).
	checkCtx, cancelCheck := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancelCheck()
	if err := sys.ensureUp(checkCtx); err != nil {
		return err
	}
	problems := check(checkCtx, db, d.trips(), before, out)
	recoveries := mon.recoveries(checkCtx, db)
	for _, r := range recoveries {
		if r.err != nil {
			problems = append(problems, fmt.Sprintf("%s did not come back after its disruption: %v", r.victim, r.err))
		}
	}
	// An email is sent at most once (services/orders/mailer/mailer.go): one claimed when its
	// sender was cut off stays in doubt, never retried. Each cut (a kill of an orders
	// process, a PostgreSQL restart) may leave the emails being sent, one per sender
	// (system.go starts the orders processes with mailer.DefaultSenders), no more.
	doubt, err := emailsInDoubt(checkCtx, db, d.trips())
	cuts := mon.count(true)
	for _, r := range recoveries {
		if r.service == "orders" {
			cuts++
		}
	}
	switch {
	case err != nil:
		problems = append(problems, "could not count the emails in doubt: "+err.Error())
	case doubt > cuts*mailer.DefaultSenders:
		line := fmt.Sprintf("%d emails claimed and never sent: more than %d (the senders) per cut of the mail sender (%d kills of orders and PostgreSQL restarts)", doubt, mailer.DefaultSenders, cuts)
		fmt.Fprintln(out, "check failed:", line)
		problems = append(problems, line)
	}
	fmt.Fprintf(out, "chaos: %d emails left in doubt by a cut sender (at most once: never retried; allowed up to %d)\n", doubt, cuts*mailer.DefaultSenders)
	report(out, cfg, d, mon, recoveries, elapsed, problems)
	if len(problems) > 0 {
		return fmt.Errorf("%d violations", len(problems))
	}
	return nil
}

// redact hides a password in a database URL printed to the terminal.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// logFile opens the log of one process: emptied at its first start, appended to across
// its restarts.
func logFile(dir, name string, first bool) (*os.File, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if first {
		flags |= os.O_TRUNC
	}
	return os.OpenFile(filepath.Join(dir, strings.ReplaceAll(name, "#", "-")+".log"), flags, 0o644)
}
