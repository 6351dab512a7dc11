package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
)

// disruption is one kill of a service process, or one PostgreSQL restart.
type disruption struct {
	victim  string // process name, or "postgres"
	service string // whose work shows recovery: a service, or "" for any (postgres)
	at      time.Time
	back    time.Time // the process answered /readyz again (postgres: pg_ctl returned)
	err     error
	// crashLoops counts the starts that exited before they were ready (a database that
	// is restarting refuses the start-up's connection), started again as a supervisor does.
	crashLoops int
}

// monkey is the record of what the chaos loop did.
type monkey struct {
	mu          sync.Mutex
	disruptions []disruption
}

func (m *monkey) count(postgres bool) int {
	n := 0
	for _, d := range m.disruptions {
		if (d.victim == "postgres") == postgres {
			n++
		}
	}
	return n
}

// chaos kills a random process every few seconds and starts it again after -down, and
// restarts PostgreSQL when the run is a third and two thirds through its orders, until
// the load is done and at least -min-kills kills have happened. A killed process comes
// back on its own goroutine, so kills keep their pace; a process is not killed again
// before it is back, nor (with replicas) while its twin is down: one replica of every
// service is always meant to be running.
func (s *system) chaos(ctx context.Context, rng *rand.Rand, d *driver, loadDone <-chan struct{}) *monkey {
	m := &monkey{}
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		sort.Slice(m.disruptions, func(i, j int) bool { return m.disruptions[i].at.Before(m.disruptions[j].at) })
	}()
	pgAt := make([]int, 0, s.cfg.pgRestarts)
	for i := 1; i <= s.cfg.pgRestarts; i++ {
		pgAt = append(pgAt, s.cfg.orders*i/(s.cfg.pgRestarts+1))
	}
	kills := 0
	for {
		wait := s.cfg.killEvery/2 + time.Duration(rng.Int64N(int64(s.cfg.killEvery)+1))
		select {
		case <-ctx.Done():
			return m
		case <-time.After(wait):
		}
		if isDone(loadDone) && kills >= s.cfg.minKills && len(pgAt) == 0 {
			return m
		}
		if len(pgAt) > 0 && (d.started() >= pgAt[0] || isDone(loadDone)) {
			pgAt = pgAt[1:]
			m.record(s.restartPostgres(ctx))
			continue
		}
		var candidates []*process
		for _, p := range s.procs {
			if s.up(p) && (s.cfg.replicas == 1 || s.up(s.twin(p))) {
				candidates = append(candidates, p)
			}
		}
		if len(candidates) == 0 {
			continue
		}
		p := candidates[rng.IntN(len(candidates))]
		kills++
		at := s.kill(p)
		fmt.Fprintf(s.out, "chaos: killed %s\n", p.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.record(s.revive(ctx, p, at))
		}()
	}
}

func (m *monkey) record(d disruption) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.disruptions = append(m.disruptions, d)
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// supervise starts p and waits until it is ready, starting it again (after half a second)
// whenever it exits first, as systemd's Restart=always or a container orchestrator
// would, for up to a minute.
func (s *system) supervise(ctx context.Context, p *process, crashLoops *int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := s.start(p)
		if err == nil {
			err = s.waitReady(ctx, p, time.Until(deadline))
		}
		if err == nil || !errors.Is(err, errExited) || time.Now().After(deadline) {
			return err
		}
		*crashLoops++
		fmt.Fprintf(s.out, "chaos: %s exited at start-up (%v); starting it again\n", p.name, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// revive starts p again after -down and waits until it is ready.
func (s *system) revive(ctx context.Context, p *process, at time.Time) disruption {
	d := disruption{victim: p.name, service: p.service, at: at}
	if s.cfg.down > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(s.cfg.down):
		}
	}
	d.err = s.supervise(context.WithoutCancel(ctx), p, &d.crashLoops)
	d.back = time.Now()
	p.reviving.Store(false)
	if d.err != nil {
		fmt.Fprintf(s.out, "chaos: %s did not come back: %v\n", p.name, d.err)
	}
	return d
}

// restartPostgres restarts the cluster at -pg-data with pg_ctl (fast shutdown: open
// transactions are rolled back, as in a crash of the server process), as its owner.
func (s *system) restartPostgres(ctx context.Context) disruption {
	d := disruption{victim: "postgres", at: time.Now()}
	d.err = pgCtl(ctx, s.cfg.pgData, s.cfg.databaseURL, "restart", "-m", "fast", "-w", "-t", "60")
	d.back = time.Now()
	if d.err != nil {
		fmt.Fprintf(s.out, "chaos: PostgreSQL restart failed: %v\n", d.err)
	} else {
		fmt.Fprintf(s.out, "chaos: restarted PostgreSQL (%s)\n", d.back.Sub(d.at).Round(time.Millisecond))
	}
	return d
}

// pgCtl runs pg_ctl on the cluster in dataDir, after checking that this cluster is the
// one serving the run's database (its postmaster.pid names the URL's port): the run must
// never restart a server it was not given.
func pgCtl(ctx context.Context, dataDir, databaseURL string, args ...string) error {
	pid, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("-pg-data: %w (is the cluster running?)", err)
	}
	lines := strings.Split(string(pid), "\n")
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return err
	}
	if len(lines) < 4 || strings.TrimSpace(lines[3]) != fmt.Sprint(cfg.ConnConfig.Port) {
		return fmt.Errorf("-pg-data %s is not the cluster on port %d: refusing to restart it", dataDir, cfg.ConnConfig.Port)
	}
	bin, err := pgCtlPath()
	if err != nil {
		return err
	}
	// The server pg_ctl starts writes its log to server.log beside the data directory, as
	// scripts/ensure-postgres.sh has it. It must not inherit a pipe of ours: Run would
	// wait for the server to close it, that is for ever.
	serverLog := filepath.Join(filepath.Dir(filepath.Clean(dataDir)), "server.log")
	argv := append([]string{bin, "-D", dataDir, "-l", serverLog}, args...)
	if os.Geteuid() == 0 {
		// Postgres refuses to run as root: the cluster belongs to the postgres user
		// (scripts/ensure-postgres.sh).
		argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
	}
	out, err := os.CreateTemp("", "chaos-pg_ctl-*.log")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		said, _ := os.ReadFile(out.Name())
		return fmt.Errorf("pg_ctl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(said))
	}
	return nil
}

// pgCtlPath finds pg_ctl as scripts/ensure-postgres.sh does.
func pgCtlPath() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if p := filepath.Join(strings.TrimSpace(string(out)), "pg_ctl"); fileExists(p) {
			return p, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Strings(dirs)
	if len(dirs) > 0 {
		return dirs[len(dirs)-1], nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("pg_ctl not found")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// recovery is how long after a disruption the work it stopped moved again.
type recovery struct {
	disruption
	moved time.Duration // -1: nothing moved afterwards
}

// streamTypes is the kind of stream whose events only a service's own consumers record:
// the first such event after a kill is the first message that service (a restarted
// process, or its other replica) handled.
var streamTypes = map[string]string{
	"orders":    "order",
	"warehouse": inventory.StreamType,
	"payments":  payment.StreamType,
	"delivery":  shipping.StreamType,
}

// recoveries measures each disruption from the database: the time from the kill to the
// first event of the killed service's kind recorded after it (for PostgreSQL, from the
// restart's start to the first event of any kind after the server is back).
// Under a steady load there is always work waiting, so this is the time the work stood
// still: the restart, the reconnection and the redelivery of whatever was in flight.
func (m *monkey) recoveries(ctx context.Context, db *pgxpool.Pool) []recovery {
	var out []recovery
	for _, d := range m.disruptions {
		r := recovery{disruption: d, moved: -1}
		// PostgreSQL takes commits until its shutdown begins: what moved counts from its
		// return. A killed process records nothing after its kill.
		since := d.at
		if d.victim == "postgres" {
			since = d.back
		}
		var first *time.Time
		err := db.QueryRow(ctx, `SELECT min(recorded_at) FROM events WHERE recorded_at > $1 AND ($2 = '' OR stream_type = $2)`,
			since, streamTypes[d.service]).Scan(&first)
		if err == nil && first != nil {
			r.moved = first.Sub(d.at)
		}
		out = append(out, r)
	}
	return out
}
