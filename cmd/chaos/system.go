package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/cmd/internal/cli"
	"github.com/ordermill/ordermill/cmd/internal/runcheck"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/orders/mailer"
)

// process is one running service binary, started again after each kill.
type process struct {
	name    string // "warehouse" or, for a second replica, "warehouse#2"
	service string
	port    int
	env     []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	// reviving: killed, and not yet ready again.
	reviving atomic.Bool
}

// system is every service process of the run.
type system struct {
	cfg   config
	out   io.Writer
	procs []*process
	http  *http.Client
	lb    *balancer // with replicas: in front of the warehouses
}

func newSystem(cfg config, out io.Writer) (*system, error) {
	s := &system{cfg: cfg, out: out, http: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}}
	// With replicas, the orders processes price at a balancer over both warehouses.
	warehouseURL := func(own int) string { return fmt.Sprintf("http://127.0.0.1:%d", own) }
	if cfg.replicas == 2 {
		lb, err := startBalancer([]string{fmt.Sprintf("127.0.0.1:%d", cfg.basePort+2), fmt.Sprintf("127.0.0.1:%d", cfg.replicaPort+2)})
		if err != nil {
			return nil, err
		}
		s.lb = lb
		warehouseURL = func(int) string { return lb.url }
	}
	for r := 0; r < cfg.replicas; r++ {
		base := cfg.basePort
		if r == 1 {
			base = cfg.replicaPort
		}
		port := func(svc string) int {
			for i, name := range cli.Services {
				if name == svc {
					return base + i
				}
			}
			panic(svc)
		}
		for _, svc := range cli.Services {
			name := svc
			if r == 1 {
				name += "#2"
			}
			s.procs = append(s.procs, &process{name: name, service: svc, port: port(svc), env: append(os.Environ(),
				"DATABASE_URL="+cfg.databaseURL,
				"PORT="+strconv.Itoa(port(svc)),
				"HOST=127.0.0.1",
				"DEV_MODE=1",
				"SEED_CATALOG=1",
				"LOG_LEVEL=warn",
				"LOG_FORMAT=text",
				"SHUTDOWN_TIMEOUT=5s",
				// The check of the emails in doubt allows one per sender per cut.
				"MAIL_SENDERS="+strconv.Itoa(mailer.DefaultSenders),
				"WAREHOUSE_URL="+warehouseURL(port("warehouse")),
				fmt.Sprintf("PAYMENTS_URL=http://127.0.0.1:%d", port("payments")),
				fmt.Sprintf("DELIVERY_URL=http://127.0.0.1:%d", port("delivery")),
				"OTEL_TRACES_EXPORTER=none",
			)})
		}
	}
	return s, nil
}

// ordersURLs are the orders processes' base URLs, which the clients take turns at.
func (s *system) ordersURLs() []string {
	var urls []string
	for _, p := range s.procs {
		if p.service == "orders" {
			urls = append(urls, fmt.Sprintf("http://127.0.0.1:%d", p.port))
		}
	}
	return urls
}

func (s *system) startAll(ctx context.Context) error {
	for _, p := range s.procs {
		if err := s.probeFree(p); err != nil {
			return err
		}
	}
	for _, p := range s.procs {
		if err := s.start(p); err != nil {
			return err
		}
	}
	for _, p := range s.procs {
		if err := s.waitReady(ctx, p, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// probeFree refuses a port something already answers on: the run would talk to it.
func (s *system) probeFree(p *process) error {
	res, err := s.http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", p.port))
	if err == nil {
		res.Body.Close()
		return fmt.Errorf("port %d (%s) is already in use: stop what runs there or choose -base-port", p.port, p.name)
	}
	return nil
}

func (s *system) start(p *process) error {
	log, err := logFile(s.cfg.logs, p.name, p.cmd == nil)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.cfg.bin, p.service))
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return nil
}

func (p *process) running() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// kill sends SIGKILL, waits until the process is gone and returns when it was sent.
func (s *system) kill(p *process) time.Time {
	cmd, done := p.running()
	at := time.Now()
	p.reviving.Store(true)
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	return at
}

// up reports whether p is running and, if it was killed, ready again.
func (s *system) up(p *process) bool {
	_, done := p.running()
	return !p.reviving.Load() && !isDone(done)
}

// twin is the other replica of p's service (p itself without replicas).
func (s *system) twin(p *process) *process {
	for _, q := range s.procs {
		if q.service == p.service && q != p {
			return q
		}
	}
	return p
}

// errExited: the process ended before it answered /readyz.
var errExited = errors.New("exited before it was ready")

// waitReady polls /readyz until it answers 200.
func (s *system) waitReady(ctx context.Context, p *process, within time.Duration) error {
	deadline := time.Now().Add(within)
	target := fmt.Sprintf("http://127.0.0.1:%d/readyz", p.port)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if res, err := s.http.Get(target); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		_, done := p.running()
		select {
		case <-done:
			return fmt.Errorf("%s %w (log: %s)", p.name, errExited, filepath.Join(s.cfg.logs, strings.ReplaceAll(p.name, "#", "-")+".log"))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready on :%d within %s", p.name, p.port, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// ensureUp starts whatever is not running and waits until every process is ready.
func (s *system) ensureUp(ctx context.Context) error {
	for _, p := range s.procs {
		_, done := p.running()
		select {
		case <-done:
			var loops int
			if err := s.supervise(ctx, p, &loops); err != nil {
				return err
			}
		default:
		}
	}
	for _, p := range s.procs {
		if err := s.waitReady(ctx, p, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// stopAll stops every process with SIGTERM, as an operator would, then SIGKILL after 15 s.
func (s *system) stopAll() {
	if s.lb != nil {
		defer s.lb.close()
	}
	for _, p := range s.procs {
		if cmd, _ := p.running(); cmd != nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range s.procs {
		cmd, done := p.running()
		if cmd == nil {
			continue
		}
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
	}
}

// chaosMark is the comment on a database bin/chaos made, which its next run may drop.
const chaosMark = "made by bin/chaos, which drops it at its next run"

// freshDatabase drops and creates the run's database, on the server's maintenance
// database. It drops only a database of its own: one it made (chaosMark), the default
// ordermill_chaos, or one that holds no tables. A probe gave it the development database,
// with four services connected, and it dropped it WITH (FORCE).
func freshDatabase(ctx context.Context, raw string) error {
	name, admin, err := eventstore.Maintenance(raw)
	if err != nil {
		return fmt.Errorf("-database-url: %w", err)
	}
	if name == "postgres" {
		return fmt.Errorf("-database-url must name a database of its own (it is dropped), not %q", name)
	}
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to the maintenance database of %s: %w", redact(raw), err)
	}
	defer conn.Close(ctx)
	var mark *string
	err = conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, name).Scan(&mark)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case (mark == nil || *mark != chaosMark) && name != defaultDatabaseName:
		if err := requireEmpty(ctx, raw, name); err != nil {
			return err
		}
	}
	ident := pgx.Identifier{name}.Sanitize()
	for _, stmt := range []string{
		"DROP DATABASE IF EXISTS " + ident + " WITH (FORCE)",
		"CREATE DATABASE " + ident,
		"COMMENT ON DATABASE " + ident + " IS '" + chaosMark + "'",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// requireEmpty refuses database name (at raw) when it holds a table: it is someone's.
func requireEmpty(ctx context.Context, raw, name string) error {
	db, err := openDB(ctx, raw) // which takes pgx's pool_* settings, as a connection does not
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(raw), err)
	}
	defer db.Close()
	tables, err := eventstore.Tables(ctx, db)
	if err != nil {
		return err
	}
	if tables > 0 {
		return fmt.Errorf("-database-url names database %s, which holds %d tables and was not made by bin/chaos: it drops its database at the start of each run, so name another (the default is %s), or drop %s yourself", name, tables, defaultDatabaseName, name)
	}
	return nil
}

// migrate applies the migrations once, before four processes would queue on the lock.
func migrate(ctx context.Context, cfg config) error {
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.bin, "replay"), "-migrate-only")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+cfg.databaseURL, "LOG_LEVEL=warn")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %w: %s", err, out)
	}
	return nil
}

func openDB(ctx context.Context, raw string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	return pgxpool.NewWithConfig(ctx, cfg)
}

// topUpStock gives every catalogue SKU plenty of units, as scripts/bench.sh does: the
// demo catalogue holds too few for a thousand orders, and an order refused for stock would
// be a failure of the run's making. It returns the stock every check compares against.
func topUpStock(ctx context.Context, db *pgxpool.Pool) (map[string]runcheck.StockLevel, error) {
	if _, err := db.Exec(ctx, `UPDATE warehouse.stock SET available = 1000000 WHERE sku ~ '^SKU-0[0-9][0-9]$'`); err != nil {
		return nil, fmt.Errorf("top up stock: %w", err)
	}
	return runcheck.ReadStock(ctx, db)
}
