package orderstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/eventstore/logging"
)

// LeaseConfig times the read lease.
type LeaseConfig struct {
	// Term is how long a renewal holds the lease in Postgres. A holder that loses its
	// connection unseen stops answering from memory within Term of its last renewal, and
	// other writers wait that long for the lease to lapse.
	Term time.Duration
	// Renew is how often the holder renews: a write, committed with a WAL flush.
	Renew time.Duration
	// Check is how often the holder looks for writers waiting for it (a read): the
	// longest a writer waits to be let in.
	Check time.Duration
	// Margin is taken off Term on this side, against the two clocks' drift.
	Margin time.Duration
	// Retry is how often a process without the lease tries to take it.
	Retry time.Duration
}

// DefaultLeaseConfig is the lease's timing: a writer waits 250 ms at most for the holder
// to let it in, or 4 s for a holder that lost its connection unseen.
func DefaultLeaseConfig() LeaseConfig {
	return LeaseConfig{Term: 4 * time.Second, Renew: time.Second, Check: 250 * time.Millisecond, Margin: 250 * time.Millisecond, Retry: 3 * time.Second}
}

// Run takes the read lease for m whenever no other process writes order streams, and
// holds it while none does, on a connection of its own opened by connect, until ctx ends
// (see sql/00081_read_lease.sql). It makes m answer reads from memory while it holds.
func (m *Memory) Run(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), cfg LeaseConfig, logger *slog.Logger) {
	lost := logging.NewRepeats()
	for ctx.Err() == nil {
		err := m.session(ctx, connect, cfg)
		m.setMode(writing) // the session has ended
		if ctx.Err() != nil {
			return
		}
		if due, missed := lost.Due(""); due { // a database outage is a line a minute
			logger.Warn("read lease connection lost; reads go to Postgres until it is back", "err", err, "repeated_since_last_line", missed)
		}
		select {
		case <-ctx.Done():
		case <-time.After(cfg.Retry):
		}
	}
}

// Lock (76431, 1) names who writes order streams: shared by each writing process (and by
// each other writer's transaction, through the guard), exclusive by the holder.
const (
	lockWriters = `76431, 1`
	lockFence   = `76431, 2`
)

// session holds one lock connection: a writer's presence, or the holder's lease.
func (m *Memory) session(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), cfg LeaseConfig) error {
	conn, err := connect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	// The lease's renewals must survive a crash of Postgres before this process acts on
	// them: a renewal lost would let the lease lapse in Postgres earlier than here. And
	// Postgres must not keep the lock for a process that stopped answering (paused, its
	// network gone): every order writer would wait for it. This session speaks at least
	// every Check while holding, and every Retry otherwise, so a silence of twice the
	// longer of Term and Retry ends it, and with it the lock.
	if _, err := conn.Exec(ctx, `SET synchronous_commit = on; SET idle_session_timeout = `+quoteMillis(2*max(cfg.Term, cfg.Retry))+
		`; SET tcp_keepalives_idle = 1; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 2`); err != nil {
		return err
	}
	present := false // holding lock W shared
	for {
		var holder bool
		m.setMode(claiming)
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockWriters+`)`).Scan(&holder); err != nil {
			return err
		}
		if holder {
			if err := m.hold(ctx, conn, cfg); err != nil {
				return err
			}
			// Let the writer waiting in: first end the lease, then take the shared mode
			// while still holding the exclusive one, so the lock is never free between.
			if _, err := conn.Exec(ctx, `UPDATE read_lease SET until = '-infinity' WHERE id = 1`); err != nil {
				return err
			}
			if !present {
				if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock_shared(`+lockWriters+`)`); err != nil {
					return err
				}
				present = true
			}
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(`+lockWriters+`)`); err != nil {
				return err
			}
		} else {
			m.setMode(writing)
			if !present {
				// Waiting here is how a holder learns this process wants to write.
				if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock_shared(`+lockWriters+`)`); err != nil {
					return err
				}
				present = true
			}
		}
		// Present as a writer: try again now and then, as the other writers may be gone.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.Retry):
		}
		if err := conn.Ping(ctx); err != nil {
			return err
		}
	}
}

// hold takes the lease, holding lock W exclusive, and keeps it until a writer waits for
// the lock; the caller then lets it in. An error ends the session: its connection, and
// the lock with it.
func (m *Memory) hold(ctx context.Context, conn *pgx.Conn, cfg LeaseConfig) error {
	token := newToken()
	// A lease left live by a holder that lost its lock unseen may still be believed there:
	// wait it out.
	var renewed time.Duration
	for {
		renewed = boottime()
		tag, err := conn.Exec(ctx, `UPDATE read_lease SET token = $1, until = clock_timestamp() + $2::interval
			WHERE id = 1 AND until <= clock_timestamp()`, token, cfg.Term.String())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			m.holding(token, renewed+cfg.Term-cfg.Margin)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.Check):
		}
	}
	// The fence: every append still in flight under an older lease has ended once this
	// lock is granted, and any later one fails the guard's check of the token. Only
	// then does memory fill.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockFence+`), pg_advisory_unlock(`+lockFence+`)`); err != nil {
		return err
	}
	m.startServing()
	for {
		select {
		case <-ctx.Done():
			// Stopping: end the lease, so that the next holder need not wait it out.
			m.setMode(writing)
			end, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			_, _ = conn.Exec(end, `UPDATE read_lease SET until = '-infinity' WHERE id = 1 AND token = $1`, token)
			return ctx.Err()
		case <-time.After(cfg.Check):
		}
		start := boottime()
		renew := start-renewed >= cfg.Renew
		var waiting int
		var err error
		if renew {
			err = conn.QueryRow(ctx, `UPDATE read_lease SET until = clock_timestamp() + $2::interval WHERE id = 1 AND token = $1
				RETURNING (`+waitingSQL+`)`, token, cfg.Term.String()).Scan(&waiting)
		} else {
			err = conn.QueryRow(ctx, waitingSQL).Scan(&waiting)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read lease taken over")
		}
		if err != nil {
			return err
		}
		if waiting > 0 {
			m.setMode(writing)
			return nil
		}
		if renew {
			renewed = start
			m.renewed(start + cfg.Term - cfg.Margin)
		}
	}
}

// waitingSQL counts the sessions of this database waiting for lock W: writers the holder
// must let in.
const waitingSQL = `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 76431 AND objid = 1
	AND objsubid = 2 AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

func quoteMillis(d time.Duration) string { return fmt.Sprintf("'%dms'", d.Milliseconds()) }

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// setMode stops serving and holding, if it was, and lets waiting appends go on unless
// mode is claiming.
func (m *Memory) setMode(mode leaseMode) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.serving = false
	if m.mode == mode {
		return
	}
	if m.mode == claiming {
		close(m.claimed)
		m.claimed = make(chan struct{})
	}
	m.mode = mode
}

// holding starts a new tenure under token: its appends carry it from now on, and memory
// starts empty, not serving until the fence.
func (m *Memory) holding(token string, deadline time.Duration) {
	m.mu.Lock()
	m.token, m.deadline = token, deadline
	m.tenure++
	m.seq++
	m.orders = map[string]*remembered{}
	m.evicted = m.seq
	m.mu.Unlock()
	m.setMode(holding)
}

// startServing lets memory fill from reads begun from now on, and answer.
func (m *Memory) startServing() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	m.fill = m.seq
	m.serving = true
}

// renewed extends how long memory may answer.
func (m *Memory) renewed(deadline time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deadline = deadline
}
