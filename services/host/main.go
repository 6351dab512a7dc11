package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on PPROF_ADDR, see servePprof
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/logging"
)

// Env reads configuration; main passes os.Getenv, tests a map.
type Env func(string) string

// EnvOf reads configuration from vars instead of the process's environment, for tests
// that build a service from fixed settings.
func EnvOf(vars map[string]string) Env {
	return func(k string) string { return vars[k] }
}

// String returns the variable or def when unset.
func (e Env) String(key, def string) string {
	if v := e(key); v != "" {
		return v
	}
	return def
}

// Duration parses a Go duration ("24h", "3s") or returns def when unset.
func (e Env) Duration(key string, def time.Duration) (time.Duration, error) {
	v := e(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive duration like 24h or 30s", key, v)
	}
	return d, nil
}

// ShutdownTimeout reads SHUTDOWN_TIMEOUT: how long, on SIGTERM, the work in flight may
// take to finish. The host bounds requests and batches with it; a service may bound its
// own work in flight (the orders service's emails) with it too.
func ShutdownTimeout(env Env) (time.Duration, error) {
	return env.Duration("SHUTDOWN_TIMEOUT", DefaultShutdownTimeout)
}

// Bool parses a switch: 1 or 0, true or false (also t, TRUE, True, f, FALSE, False, as
// strconv.ParseBool); false when unset.
func (e Env) Bool(key string) (bool, error) {
	v := e(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: use 1 or 0 (or true or false)", key, v)
	}
	return b, nil
}

// URL returns the variable, or def when unset; set, it must be an absolute URL of one of
// schemes with a host. A bad one stops the start-up: a typo would otherwise pass until
// the first request that needs it (every placement, say) failed.
func (e Env) URL(key, def string, schemes ...string) (string, error) {
	v := e(key)
	if v == "" {
		return def, nil
	}
	u, err := url.Parse(v)
	if err != nil || !slices.Contains(schemes, u.Scheme) || u.Host == "" {
		// The value is repeated without its password (SMTP_URL may carry one: a probe's
		// start-up line printed it); one that does not parse may hold it anywhere.
		shown := fmt.Sprintf("%q", v)
		switch {
		case err == nil && u.User != nil:
			shown = fmt.Sprintf("%q", u.Redacted())
		case strings.Contains(v, "@"):
			// Not parsed, or parsed without its user ("user:pw@host" reads as a scheme):
			// the password may be anywhere in it.
			shown = "(its value is not repeated: it may hold a password)"
		}
		return "", fmt.Errorf("%s=%s is not a %s:// URL with a host", key, shown, strings.Join(schemes, ":// or "))
	}
	return v, nil
}

// Int parses an integer or returns def when unset.
func (e Env) Int(key string, def int) (int, error) {
	v := e(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not an integer", key, v)
	}
	return n, nil
}

// Build reads a service's configuration from env, refusing any value it cannot honour, and
// returns what starts the service. It runs before anything else: a process that cannot
// start creates no database, migrates none and takes no port (a probe's bad setting left a
// new database migrated, the hazard of a rolling upgrade, and a production start on a port
// in use first removed the dev accounts another process was using).
type Build func(logger *slog.Logger, env Env) (Start, error)

// Start constructs the configured service once its database is open and its port, addr,
// taken.
type Start func(ctx context.Context, pool *pgxpool.Pool, addr net.Addr) (Service, error)

// Run is the whole life of a service process: read its configuration (any value it
// cannot honour stops it here, with one line naming the variable), check its port is
// free, create the database and apply migrations if needed, take the port, start the
// service and serve until ctx ends.
func Run(ctx context.Context, name string, defaultPort int, env Env, build Build) error {
	cfg, err := readProcess(env, defaultPort)
	if err != nil {
		return err
	}
	logger := cfg.logger.With("service", name)
	slog.SetDefault(logger) // for what logs without a logger of its own: the migrations
	if DevMode(env) {
		// Every service says so, not only orders: a probe ran payments in dev mode beside a
		// production orders service, and its published service token marked orders paid
		// with no line in its log.
		logger.Warn("DEV_MODE: development secrets and tokens are accepted, unsigned webhooks, the simulators and reads without a credential are open: never where others can reach it")
	}
	start, err := build(logger, env)
	if err != nil {
		return err
	}
	// The port is tried now and taken once the database is open: a port in use stops the
	// start before it touches the database, and nothing accepts connections it cannot yet
	// answer (a health check's, a caller's without a timeout) while it migrates.
	if err := portFree(cfg.addr); err != nil {
		return err
	}
	shutdownTracing, err := setupTracing(ctx, name, cfg.tracesExporter)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(flushCtx); err != nil {
			logger.Warn("flushing traces", "err", err)
		}
	}()
	if cfg.pprofAddr != "" {
		if err := servePprof(ctx, logger, cfg.pprofAddr); err != nil {
			return err
		}
	}
	pool, err := eventstore.Open(ctx, cfg.databaseURL, name)
	if err != nil {
		return err
	}
	defer closePool(pool, logger)
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("PORT, HOST or ADDR: %w", err)
	}
	defer ln.Close() // Serve closes it too; this is for a start that fails
	svc, err := start(ctx, pool, ln.Addr())
	if err != nil {
		return err
	}
	hurry, _ := ctx.Value(hurryKey{}).(<-chan struct{})
	return Serve(ctx, logger, pool, ln, svc, Options{ShutdownTimeout: cfg.shutdownTimeout, ShutdownDelay: cfg.shutdownDelay, HoldbackLimit: cfg.holdbackLimit, Hurry: hurry})
}

// otlpSetting is the OTLP exporter's setting what for traces, and the variable it comes
// from: OTEL_EXPORTER_OTLP_TRACES_<what>, else OTEL_EXPORTER_OTLP_<what>.
func otlpSetting(env Env, what string) (key, value string) {
	for _, key := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + what, "OTEL_EXPORTER_OTLP_" + what} {
		if v := env(key); v != "" {
			return key, v
		}
	}
	return "", ""
}

// portFree says why the service cannot listen at addr, or nil.
func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("PORT, HOST or ADDR: %w", err)
	}
	return ln.Close()
}

// poolCloseTimeout bounds closePool's wait.
const poolCloseTimeout = time.Second

// closePool closes pool, waiting for its connections' goodbyes at most poolCloseTimeout:
// pgx takes up to 15 s over a connection it gave up on (a query cut off), and on a
// database that stopped answering that held a stopping process past its
// SHUTDOWN_TIMEOUT (a probe). The process's exit closes what is left; nothing committed
// waits on it.
func closePool(pool *pgxpool.Pool, logger *slog.Logger) {
	closed := make(chan struct{})
	go func() {
		pool.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(poolCloseTimeout):
		logger.Warn("the database did not answer the closing of its connections; the exit closes them", "waited", poolCloseTimeout)
	}
}

// MinMaxConns is the smallest connection pool a service runs with (pool_max_conns).
const MinMaxConns = 4

// process is what every service process reads from its environment (ProcessVars).
type process struct {
	logger          *slog.Logger
	shutdownTimeout time.Duration
	shutdownDelay   time.Duration
	holdbackLimit   time.Duration
	tracesExporter  string
	pprofAddr       string
	databaseURL     string
	addr            string
}

func readProcess(env Env, defaultPort int) (process, error) {
	var p process
	var err error
	if p.logger, err = Logger(env, os.Stderr); err != nil {
		return p, err
	}
	if p.shutdownTimeout, err = ShutdownTimeout(env); err != nil {
		return p, err
	}
	if v := env("SHUTDOWN_DELAY"); v != "" {
		if p.shutdownDelay, err = time.ParseDuration(v); err != nil || p.shutdownDelay < 0 {
			return p, fmt.Errorf("SHUTDOWN_DELAY=%q is not a duration like 5s (0 closes the port at once)", v)
		}
	}
	if p.holdbackLimit, err = env.Duration("LOG_HOLDBACK_LIMIT", DefaultHoldbackLimit); err != nil {
		return p, err
	}
	switch p.tracesExporter = env.String("OTEL_TRACES_EXPORTER", "none"); p.tracesExporter {
	case "none", "stdout", "otlp":
	default:
		return p, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: use otlp, stdout or none", p.tracesExporter)
	}
	if p.tracesExporter == "otlp" {
		// The exporter takes any text and loses every trace to a malformed address,
		// saying so only in a line at info level.
		for _, key := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
			if _, err := env.URL(key, "", "http", "https"); err != nil {
				return p, err
			}
		}
		// The exporter speaks OTLP over HTTP only: grpc was ignored, and every trace posted
		// to a gRPC port (a probe).
		// The traces' own variable, when set, is the one OpenTelemetry reads: the general
		// one may then be another exporter's.
		if key, v := otlpSetting(env, "PROTOCOL"); v != "" && v != "http/protobuf" {
			return p, fmt.Errorf("%s=%q: the services export traces over OTLP/HTTP only (http/protobuf; a collector's port 4318)", key, v)
		}
		if key, v := otlpSetting(env, "TIMEOUT"); v != "" {
			if ms, err := strconv.Atoi(v); err != nil || ms <= 0 {
				return p, fmt.Errorf("%s=%q is not a number of milliseconds, as OpenTelemetry reads it", key, v)
			}
		}
	}
	if _, err := env.Bool("DEV_MODE"); err != nil {
		return p, err
	}
	p.pprofAddr = env("PPROF_ADDR")
	p.databaseURL = env.String("DATABASE_URL", eventstore.DefaultDatabaseURL)
	pc, err := pgxpool.ParseConfig(p.databaseURL)
	if err != nil {
		// pgx says what is wrong after the URL it quotes; the URL is left out.
		why := "malformed"
		if msg := err.Error(); strings.Contains(msg, "`: ") {
			why = msg[strings.LastIndex(msg, "`: ")+3:]
		}
		return p, fmt.Errorf("DATABASE_URL is not a usable postgres:// URL or connection string: %s (its value is not repeated: it may hold a password)", why)
	}
	if strings.Contains(p.databaseURL, "pool_max_conns") && pc.MaxConns < MinMaxConns {
		// A probe's 1 or 2 left nothing beside the LISTEN sessions: the service started,
		// then every request waited 20 s and readiness blamed the database.
		return p, fmt.Errorf("DATABASE_URL: pool_max_conns=%d: a service needs at least %d connections (it holds one or two all its life for LISTEN; its consumers and requests share the rest)", pc.MaxConns, MinMaxConns)
	}
	port := env.String("PORT", strconv.Itoa(defaultPort))
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return p, fmt.Errorf("PORT=%q is not a port number", port)
	}
	if env("ADDR") != "" && (env("PORT") != "" || env("HOST") != "") {
		return p, fmt.Errorf("ADDR=%q and PORT or HOST are both set: ADDR alone says where to listen, or PORT and HOST", env("ADDR"))
	}
	p.addr = env.String("ADDR", net.JoinHostPort(env.String("HOST", "127.0.0.1"), port))
	if _, _, err := net.SplitHostPort(p.addr); err != nil {
		return p, fmt.Errorf("ADDR=%q is not host:port", p.addr)
	}
	if p.pprofAddr != "" {
		if _, _, err := net.SplitHostPort(p.pprofAddr); err != nil {
			return p, fmt.Errorf("PPROF_ADDR=%q is not host:port, such as 127.0.0.1:6061", p.pprofAddr)
		}
		if p.pprofAddr == p.addr {
			return p, fmt.Errorf("PPROF_ADDR=%q is the service's own address: the profiler is never served there", p.pprofAddr)
		}
	}
	return p, nil
}

// servePprof serves Go's profiler (/debug/pprof/) on its own listener, never on the
// service's port, for as long as ctx lasts: how docs/BENCHMARKS.md profiles a running
// service.
// Its address is taken before the service starts: one that is taken stops the start,
// naming the variable, instead of a warning and a process without its profiler.
func servePprof(ctx context.Context, logger *slog.Logger, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("PPROF_ADDR: %w", err)
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; ip.IsUnspecified() {
		// The profiler shows the process's memory (its secrets too) and a profile slows it.
		logger.Warn("PPROF_ADDR: the profiler listens on every interface: give it 127.0.0.1:PORT unless others must reach it", "addr", ln.Addr().String())
	} else {
		logger.Info("profiler served", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	}
	srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("pprof listener stopped", "addr", addr, "err", err)
		}
	}()
	return nil
}

// Logger is a process's logger, writing to w (standard error): LOG_LEVEL (default info),
// in LOG_FORMAT (text in dev mode, JSON otherwise), with each line's order, correlation
// and trace ids from its context (package logging).
func Logger(env Env, w io.Writer) (*slog.Logger, error) {
	// The four names only: slog also reads "error+4", a level above every line, which hid
	// even the line saying why the process did not start (a probe).
	level, ok := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[strings.ToLower(env.String("LOG_LEVEL", "info"))]
	if !ok {
		return nil, fmt.Errorf("LOG_LEVEL=%q: use debug, info, warn or error", env("LOG_LEVEL"))
	}
	return logging.New(w, logFormat(env), level)
}

// logFormat is LOG_FORMAT, or its default: text in dev mode, JSON otherwise.
func logFormat(env Env) string {
	format := logging.FormatJSON
	if DevMode(env) {
		format = logging.FormatText
	}
	return env.String("LOG_FORMAT", format)
}

// failed writes to w why the service did not start or stopped: a line of the log when
// the log is JSON (the one line a log pipeline needs when a service keeps failing at
// start-up was plain text: a probe), else "name: err". cut says a signal cut its start-up
// short: no failure, said at info level.
func failed(w io.Writer, name string, env Env, err error, cut bool) {
	msg, level := "the service stopped", slog.LevelError
	if cut {
		msg, level = "the service stopped during its start-up, as a signal asked", slog.LevelInfo
	}
	if logFormat(env) != logging.FormatJSON {
		if cut {
			fmt.Fprintln(w, name+": stopped during its start-up, as a signal asked:", err)
		} else {
			fmt.Fprintln(w, name+":", err)
		}
		return
	}
	logger, lerr := Logger(env, w)
	if lerr != nil { // LOG_LEVEL is what is wrong: said at the default level
		logger, _ = logging.New(w, logging.FormatJSON, slog.LevelInfo)
	}
	logger.Log(context.Background(), level, msg, "service", name, "err", err)
}

// DevMode reports whether DEV_MODE=1 (or true, as Env.Bool reads it): development secrets and
// unsigned webhooks. Every process refuses to start with another value (readProcess).
func DevMode(env Env) bool {
	dev, _ := env.Bool("DEV_MODE")
	return dev
}

// hurryKey carries, in Run's context, the channel a second signal closes (Options.Hurry).
type hurryKey struct{}

// signalled returns a context that ends at the first SIGINT, SIGTERM or SIGHUP and carries
// a channel the second one closes (hurryKey); stop stops listening for them. SIGHUP (the
// terminal that ran the service closed, an SSH session lost) is a stop like the others:
// left to its default, it killed the process at once, nothing drained (a review).
func signalled(parent context.Context) (ctx context.Context, stop func()) {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	hurry := make(chan struct{})
	ctx, cancel := context.WithCancel(context.WithValue(parent, hurryKey{}, (<-chan struct{})(hurry)))
	done := make(chan struct{})
	go func() {
		select {
		case <-signals:
			cancel()
		case <-done:
			return
		}
		select {
		case <-signals:
			close(hurry)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(signals)
		close(done)
		cancel()
	}
}

// Main is the whole main of a service binary: with --help it prints about and the
// variables the process reads (ProcessVars, then vars) and exits 0; otherwise it runs the
// service until SIGINT or SIGTERM and exits with status 1 and the error on standard error
// (failed) if it fails, or 0 with a line saying so when a signal cut its start-up short
// (finish).
func Main(name string, defaultPort int, about string, vars []Var, build Build) {
	switch args := os.Args[1:]; {
	case len(args) == 1 && (args[0] == "--help" || args[0] == "-help" || args[0] == "-h"):
		Usage(os.Stdout, name, about, append(ProcessVars(defaultPort), vars...))
		return
	case len(args) > 0:
		fmt.Fprintf(os.Stderr, "%s: unknown argument %q: the service is configured by environment variables (see --help)\n", name, args[0])
		os.Exit(2)
	}
	if logger, err := Logger(os.Getenv, os.Stderr); err == nil { // else Run says what is wrong
		logSettings(logger.With("service", name), os.Environ(), append(ProcessVars(defaultPort), vars...))
	}
	ctx, stop := signalled(context.Background())
	os.Exit(finish(ctx, stop, Run(ctx, name, defaultPort, os.Getenv, build), os.Stderr, name, os.Getenv))
}

// finish ends a process whose Run, on signalled's ctx, returned err: it stops listening
// for signals, writes why it stopped (failed) and returns the exit code. A start-up a
// signal cut short (make run's Ctrl-C, or another service's failure stopping them all
// while this one migrated) stopped as it was asked: 0, and a line that says so, where
// "apply migrations: … context canceled" read as a database failure (a probe).
func finish(ctx context.Context, stop func(), err error, w io.Writer, name string, env Env) int {
	cut := ctx.Err() != nil && errors.Is(err, context.Canceled) // before stop, which ends ctx too
	stop()
	if err == nil {
		return 0
	}
	failed(w, name, env, err, cut)
	if cut {
		return 0
	}
	return 1
}

// LocalURL is the http URL a browser on this machine reaches addr at: localhost for an
// address that listens on every interface. The dashboard's sign-in line printed :3001
// whatever the port (a probe's ADDR=127.0.0.1:4701).
func LocalURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
