// Command loadgen drives orders through the whole workflow against running services,
// reports throughput and per-step latency, and checks afterwards that the system kept its
// promises: the figures in docs/BENCHMARKS.md, run by `make bench`.
//
// Every order is placed over the public API, approved by a manager when it is high-risk,
// paid with a signed payment webhook and delivered with a signed courier webhook, waiting
// (by polling) for the status each step needs. A write the service refuses as busy (503,
// past what it can take) is sent again after its Retry-After, as a shop's client and a
// provider would, and counted (refused_503 in the summary). Step latencies are measured from the
// client's clock to the recorded_at of the event that ends the step, so polling does not
// blur them.
//
// Two ways to apply load:
//
//   - closed loop (default): -concurrency customers, each placing its next order when the
//     previous one has completed; the system's speed sets the rate.
//   - open loop (-rate R): orders start R times a second whatever the system does, so a
//     system that cannot keep up shows as growing latency and in-flight orders.
//
// With -read-rate N, readers also GET orders the run has placed, N times a second in an
// open loop, while either loop runs: reads at a set rate next to the workflow, on top of
// the customers' own polls.
//
// After the run it checks the database (-check): every order completed, no dead letters,
// stock down by exactly what was sold, and no duplicate reservation, payment session,
// shipment, email or event. The last line of output is one machine-readable summary.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/ordermill/ordermill/cmd/internal/cli"
	"github.com/ordermill/ordermill/services/webhooksig"
)

func main() {
	cli.Main("loadgen", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}

// defaultDatabaseURL is the services' default (eventstore.DefaultDatabaseURL), repeated
// here so that loadgen stays a plain client and links none of the server code.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/ordermill?sslmode=disable"

type config struct {
	url            string
	orders         int // 0: no limit (a -duration run)
	duration       time.Duration
	concurrency    int
	rate           float64 // orders started per second; 0 is the closed loop
	readRate       float64 // readers' GETs per second beside the workflow; 0: none
	maxInFlight    int
	warmup         int
	highRisk       float64
	poll           time.Duration
	waitTimeout    time.Duration
	paymentSecret  string
	deliverySecret string
	managerToken   string
	operatorToken  string // reads orders outside dev mode; "" reads without a credential
	databaseURL    string
	check          bool
	pids           string
	cpuProfile     string
}

func (c config) mode() string {
	if c.rate > 0 {
		return "open"
	}
	return "closed"
}

func parseConfig(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&cfg.url, "url", "http://localhost:3001", "orders service base URL")
	fs.IntVar(&cfg.orders, "orders", 500, "orders to place, warm-up included (with -duration and without -orders: no limit)")
	fs.DurationVar(&cfg.duration, "duration", 0, "stop starting orders after this long (0: run until -orders)")
	fs.IntVar(&cfg.concurrency, "concurrency", 64, "closed loop: customers acting at once")
	fs.Float64Var(&cfg.rate, "rate", 0, "open loop: orders started per second, however the system keeps up (0: closed loop)")
	fs.Float64Var(&cfg.readRate, "read-rate", 0, "readers: GET /api/orders/{id} of orders this run placed, this many times a second (open loop) while the load runs, besides the customers' polls")
	fs.IntVar(&cfg.maxInFlight, "max-in-flight", 10000, "open loop: most orders in flight at once; a start beyond it waits")
	fs.IntVar(&cfg.warmup, "warmup", 0, "first orders left out of the figures (they are still checked)")
	fs.Float64Var(&cfg.highRisk, "high-risk", 0.1, "share of orders that are high-risk and need a manager's approval")
	fs.DurationVar(&cfg.poll, "poll", 20*time.Millisecond, "status polling interval")
	fs.DurationVar(&cfg.waitTimeout, "wait-timeout", time.Minute, "longest wait for one status before the order counts as failed")
	fs.StringVar(&cfg.paymentSecret, "payment-secret", webhooksig.DevPaymentSecret, "payment webhook secret")
	fs.StringVar(&cfg.deliverySecret, "delivery-secret", webhooksig.DevCourierSecret, "courier webhook secret")
	fs.StringVar(&cfg.managerToken, "manager-token", "dev-manager-token", "bearer token that approves high-risk orders")
	fs.StringVar(&cfg.operatorToken, "operator-token", os.Getenv("OPERATOR_TOKEN"), "bearer token that reads orders (the orders service's OPERATOR_TOKEN; needed outside DEV_MODE; default: $OPERATOR_TOKEN)")
	fs.StringVar(&cfg.databaseURL, "database-url", envOr("DATABASE_URL", defaultDatabaseURL), "the services' database, for -check")
	fs.BoolVar(&cfg.check, "check", true, "check the database for correctness after the run (its stock check counts this run's orders only: any other load on the system meanwhile, a second loadgen or customers, fails it)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write loadgen's own CPU profile (go tool pprof) to this file: the load generator shares the machine")
	fs.StringVar(&cfg.pids, "pids", "", "service processes for peak RSS, e.g. orders=123,payments=124 (default: find bin/<service> in /proc)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: loadgen [flags]\n\nDrives orders through the running services and checks the database afterwards (docs/BENCHMARKS.md).\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nEnvironment:\n\n  DATABASE_URL    default of -database-url (%s when unset)\n  OPERATOR_TOKEN  default of -operator-token\n", defaultDatabaseURL)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.duration > 0 && !flagSet(fs, "orders") {
		cfg.orders = 0
	}
	return cfg, cfg.validate()
}

func (c config) validate() error {
	switch {
	case c.orders < 0 || (c.orders == 0 && c.duration <= 0):
		return fmt.Errorf("need a positive -orders or -duration")
	case c.concurrency < 1 || c.maxInFlight < 1:
		return fmt.Errorf("-concurrency and -max-in-flight must be at least 1")
	case c.rate < 0 || c.readRate < 0 || c.warmup < 0 || c.duration < 0:
		return fmt.Errorf("-rate, -read-rate, -warmup and -duration must not be negative")
	case c.poll <= 0 || c.waitTimeout <= 0:
		return fmt.Errorf("-poll and -wait-timeout must be more than 0")
	case !strings.HasPrefix(c.url, "http://") && !strings.HasPrefix(c.url, "https://"):
		return fmt.Errorf("-url %q is not an http:// or https:// URL", c.url)
	case strings.HasSuffix(strings.TrimSuffix(c.url, "/"), "/api"):
		// Every order then went to /api/api/orders and failed (a probe).
		return fmt.Errorf("-url %q: give the service's base URL, without /api", c.url)
	case c.orders > 0 && c.warmup >= c.orders:
		return fmt.Errorf("-warmup %d leaves none of -orders %d to measure", c.warmup, c.orders)
	case c.highRisk < 0 || c.highRisk > 1:
		return fmt.Errorf("-high-risk is a share between 0 and 1")
	}
	return nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// run applies the load, prints the step table, checks the database and prints the summary
// line. It fails when an order failed or a check did not hold, so scripts can rely on the
// exit status.
func run(ctx context.Context, args []string, out, progress io.Writer) error {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	pids, err := servicePIDs(cfg.pids, progress)
	if err != nil {
		return err
	}
	var chk *checker
	if cfg.check {
		// Opened first: the stock snapshot must predate every order, warm-up included.
		if chk, err = openChecker(ctx, cfg.databaseURL); err != nil {
			return err
		}
		defer chk.close()
	}

	d, err := newDriver(cfg)
	if err != nil {
		return err
	}
	// Before any order is placed, whose stock would be held for the payment timeout if the
	// run could not follow it.
	if err := d.canRead(ctx); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(cfg.cpuProfile)
	if err != nil {
		return err
	}
	cpu0, ok0 := cpuClock()
	trips, held := applyLoad(ctx, cfg, d, progress)
	cpu1, ok1 := cpuClock()
	stopProfile()
	d.readEventTimes(ctx, trips)
	stepEnd := "tx_start"
	if chk != nil {
		committed, err := chk.commitTimes(ctx, trips)
		if err != nil {
			return fmt.Errorf("read the steps' commit times: %w", err)
		}
		if committed {
			stepEnd = "commit"
		}
	}
	rep := summarize(trips, cfg.warmup)
	rep.stepEnd = stepEnd
	rep.stale = d.stale.Load()
	rep.held = held
	cpu, measured := cpu1.sub(cpu0), ok0 && ok1
	rep.cpuPerOrder = cpuPerOrder(cpu, measured, len(trips))
	rep.stealPercent = stealPercent(cpu, measured)
	rep.reads, rep.readRate = d.reads.sorted()
	rep.readErrors = d.readErrors.Load()
	rep.refused = d.refused.Load()
	rep.print(out)
	correct := "skipped"
	if chk != nil {
		correct = fmt.Sprint(verify(ctx, chk, d, trips, out))
	}
	fmt.Fprintln(out, summaryLine(cfg, rep, peakRSS(pids, progress), correct))

	switch {
	case rep.failed+rep.warmupFailed > 0:
		return fmt.Errorf("%d of %d orders failed", rep.failed+rep.warmupFailed, len(trips))
	case correct == "false":
		return fmt.Errorf("correctness check failed")
	case rep.readErrors > 0:
		return fmt.Errorf("%d of the readers' reads failed", rep.readErrors)
	case rep.stale > 0:
		return fmt.Errorf("%d polls just after a write's 2xx did not show the write", rep.stale)
	}
	return nil
}

// applyLoad runs the closed or the open loop with a progress line every 2 s, and returns
// every trip (and, for the open loop, how many starts waited for -max-in-flight).
func applyLoad(ctx context.Context, cfg config, d *driver, progress io.Writer) (trips []*trip, held int) {
	rec := &recorder{}
	stop := rec.reportProgress(progress, 2*time.Second)
	stopReaders := runReaders(ctx, cfg.readRate, d)
	if cfg.rate > 0 {
		held = runOpen(ctx, cfg, d, rec)
	} else {
		runClosed(ctx, cfg, d, rec)
	}
	stopReaders()
	stop()
	return rec.all(), held
}

// verify prints each broken promise on its own line and reports whether there were none.
func verify(ctx context.Context, chk *checker, d *driver, trips []*trip, out io.Writer) bool {
	// The run's context may be cancelled (Ctrl-C); the check still deserves an answer.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	problems := chk.verify(ctx, d, trips)
	for _, p := range problems {
		fmt.Fprintln(out, "check failed:", p)
	}
	return len(problems) == 0
}

// startCPUProfile profiles loadgen itself while it applies the load, when path is set.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
