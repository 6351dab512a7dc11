package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
)

// Dashboard sign-in throttling (finding 6 of issue 8: 50 wrong passwords in 4 s, then the
// right one, got in). Every attempt counts against two keys, the account (its email, known
// or not, so the answers never tell which accounts exist) and the client's address. After a
// failure the key's next attempt waits a growing delay; too many failures in a window lock
// the key out, longer each time. A waiting or locked key is answered 429 with Retry-After
// without its password being looked at. The counts live in Postgres (orders.signin_limits),
// so every replica and every restart sees them.

// throttlePolicy says how one kind of key is slowed down and locked out.
type throttlePolicy struct {
	// scope names the kind of key, in its hash, the logs and the counters.
	scope string
	// free is how many failures in a window are answered without a delay.
	free int
	// lockAfter is the failure in a window that locks the key out.
	lockAfter int
	// forgetOnSuccess starts the key afresh when a sign-in succeeds.
	forgetOnSuccess bool
}

var (
	// An account: 1, 2, 4, 8 s after its first four failures, locked at the fifth. A right
	// password clears it.
	accountPolicy = throttlePolicy{scope: "account", lockAfter: 5, forgetOnSuccess: true}
	// An address may be an office or a carrier's NAT shared by several managers, so it gets
	// more slack; it is not cleared by one of them signing in, or an attacker holding one
	// account could clear it between guesses at the others.
	addressPolicy = throttlePolicy{scope: "address", free: 10, lockAfter: 20}
)

const (
	// signinWindow is how long a failure counts towards a lockout.
	signinWindow = 15 * time.Minute
	// firstLockout doubles with each lockout of the same key, up to maxLockout.
	firstLockout = 15 * time.Minute
	maxLockout   = 24 * time.Hour
	// maxSigninDelay bounds the delay between attempts below the lockout.
	maxSigninDelay = time.Minute
	// signinMemory is how long after its last failure a key keeps its lockout count.
	signinMemory = 24 * time.Hour
)

// delay is how long a key waits for its next attempt after its n-th failure in a window.
func (p throttlePolicy) delay(n int) time.Duration {
	if n <= p.free {
		return 0
	}
	return min(time.Second<<min(n-p.free-1, 8), maxSigninDelay)
}

// lockout is how long a key's n-th lockout lasts.
func lockout(n int) time.Duration {
	return min(firstLockout<<min(n-1, 8), maxLockout)
}

// signinKey is one thing sign-in attempts count against.
type signinKey struct {
	policy throttlePolicy
	name   string // the email or the address, cut short for the logs
	hash   []byte // what orders.signin_limits stores: attackers choose the emails
}

func newSigninKey(p throttlePolicy, name string) signinKey {
	sum := sha256.Sum256([]byte(p.scope + ":" + name))
	return signinKey{policy: p, name: apperr.Excerpt(name), hash: sum[:]}
}

func accountKey(email string) signinKey {
	return newSigninKey(accountPolicy, strings.ToLower(strings.TrimSpace(email)))
}

func (s *Service) addressKey(r *http.Request) signinKey {
	return newSigninKey(addressPolicy, s.clientAddress(r))
}

// clientAddress is where r comes from: the connection's peer or, behind a proxy that sets
// it (Config.ClientIPHeader), the last address in that header, which is the one the proxy
// itself saw. An IPv6 address counts as its /64, which one host or one subscriber holds.
func (s *Service) clientAddress(r *http.Request) string {
	raw := r.RemoteAddr
	if h := s.cfg.ClientIPHeader; h != "" {
		if values := r.Header.Values(h); len(values) > 0 {
			hops := strings.Split(values[len(values)-1], ",")
			raw = strings.TrimSpace(hops[len(hops)-1])
		}
	}
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		ap, err := netip.ParseAddrPort(raw) // RemoteAddr is host:port
		if err != nil {
			return raw
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap()
	if addr.Is6() {
		prefix, _ := addr.WithZone("").Prefix(64)
		return prefix.String()
	}
	return addr.String()
}

// limitRow is a key's row in orders.signin_limits.
type limitRow struct {
	failures    int
	windowStart time.Time
	lockouts    int
	lockedUntil time.Time
	updatedAt   time.Time
}

// keyedRow is a limitRow with its key.
type keyedRow struct {
	key []byte
	limitRow
}

// charge is r after one more failure at now, and whether that failure locks the key out.
func (p throttlePolicy) charge(r limitRow, now time.Time) (limitRow, bool) {
	if now.Sub(r.updatedAt) >= signinMemory {
		r.lockouts = 0
	}
	if now.Sub(r.windowStart) >= signinWindow {
		r.failures, r.windowStart = 0, now
	}
	r.failures++
	r.updatedAt = now
	if r.failures >= p.lockAfter {
		r.lockouts++
		r.failures, r.windowStart = 0, now
		r.lockedUntil = now.Add(lockout(r.lockouts))
		return r, true
	}
	r.lockedUntil = now.Add(p.delay(r.failures))
	return r, false
}

// signinCharge is an attempt counted as a failure before its password is checked, so that
// concurrent guesses cannot all get in before the first failure is written. A wrong
// password keeps the charge; a right one takes it back.
type signinCharge struct {
	keys          []signinKey
	before, after []limitRow
	locks         []bool // whether the charge locked each key out
}

// admitSignIn charges an attempt against keys or, when one of them is still waiting out a
// delay or a lockout, says how long to wait and charges nothing: hammering a locked key
// does not lengthen its lock.
func (s *Service) admitSignIn(ctx context.Context, keys ...signinKey) (*signinCharge, time.Duration, error) {
	now := s.now()
	// Rows are created and locked in key order, so attempts sharing a key queue up behind
	// each other instead of deadlocking.
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b signinKey) int { return bytes.Compare(a.hash, b.hash) })
	hashes := make([][]byte, len(keys))
	for i, k := range keys {
		hashes[i] = k.hash
	}
	c := &signinCharge{keys: keys, before: make([]limitRow, len(keys)), after: make([]limitRow, len(keys)), locks: make([]bool, len(keys))}
	var wait time.Duration
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// An attempt one of whose keys waits out a delay or a lockout is refused before any
		// row is made for the others: a probe sent 760 attempts a second, each with a new
		// email, from a throttled address, and every one added a row.
		var held *time.Time
		if err := tx.QueryRow(ctx, `SELECT max(locked_until) FROM orders.signin_limits WHERE key = ANY($1)`, hashes).Scan(&held); err != nil {
			return err
		}
		if held != nil && held.After(now) {
			wait = held.Sub(now)
			return nil
		}
		// Each key's row, made or locked, in key order, in one statement: ON CONFLICT DO
		// UPDATE, which changes nothing, locks a row it meets, waiting for whoever holds
		// it, and makes the row anew if they deleted it. The sweep holds a quiet row from
		// its gather to its delete (sweeps.go); with DO NOTHING and then SELECT … FOR
		// UPDATE, the sign-in saw the row, made none, waited for it and found it gone: a
		// 500 (TestASignInMeetingALimitTheSweepHoldsIsCharged). Trying those two again
		// when short was not chosen: two statements more, where DO UPDATE's outcome, an
		// insert or an update of each row, is one Postgres guarantees under concurrency.
		rows, err := tx.Query(ctx, `INSERT INTO orders.signin_limits AS l (key, window_start, locked_until, updated_at)
			SELECT k, $2, $2, $2 FROM unnest($1::bytea[]) AS k ORDER BY k
			ON CONFLICT (key) DO UPDATE SET updated_at = l.updated_at
			RETURNING key, failures, window_start, lockouts, locked_until, updated_at`, hashes, now)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyedRow, error) {
			var r keyedRow
			err := row.Scan(&r.key, &r.failures, &r.windowStart, &r.lockouts, &r.lockedUntil, &r.updatedAt)
			return r, err
		})
		if err != nil {
			return err
		}
		if len(found) != len(keys) {
			return fmt.Errorf("sign-in limits: %d rows for %d keys", len(found), len(keys))
		}
		slices.SortFunc(found, func(a, b keyedRow) int { return bytes.Compare(a.key, b.key) })
		for i, r := range found {
			c.before[i] = r.limitRow
			wait = max(wait, r.lockedUntil.Sub(now))
		}
		if wait > 0 {
			return nil
		}
		for i, k := range keys {
			c.after[i], c.locks[i] = k.policy.charge(c.before[i], now)
			a := c.after[i]
			if _, err := tx.Exec(ctx, `UPDATE orders.signin_limits
				SET failures = $2, window_start = $3, lockouts = $4, locked_until = $5, updated_at = $6 WHERE key = $1`,
				k.hash, a.failures, a.windowStart, a.lockouts, a.lockedUntil, a.updatedAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("sign-in limits: %w", err)
	}
	return c, wait, nil
}

// signInFailed keeps the charge of a wrong password, and reports the lockouts it caused.
// The charge's delay or lockout counts from the refusal, not from the admission: the
// password check between them is slow by design (and slower on a busy machine, 0.85 s
// once under CI's load), and a delay that had run out while the password was being
// checked let the next guess in at once. A key charged again since keeps that charge.
func (s *Service) signInFailed(ctx context.Context, c *signinCharge) error {
	now := s.now()
	until := make([]time.Time, len(c.keys)) // each key's delay or lockout, restarted now
	for i, a := range c.after {
		until[i] = now.Add(a.lockedUntil.Sub(a.updatedAt))
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i, k := range c.keys {
			a := c.after[i]
			if _, err := tx.Exec(ctx, `UPDATE orders.signin_limits SET locked_until = $2, updated_at = $3
				WHERE key = $1 AND locked_until = $4 AND updated_at = $5`,
				k.hash, until[i], now, a.lockedUntil, a.updatedAt); err != nil {
				return err
			}
		}
		return nil
	})
	for i, k := range c.keys {
		if c.locks[i] {
			s.signins.lockouts.Add(1)
			s.logger.WarnContext(ctx, "dashboard sign-in locked out", "metric", "dashboard_signin_lockouts",
				"scope", k.policy.scope, "key", k.name, "until", until[i], "lockouts", c.after[i].lockouts)
		}
	}
	if err != nil {
		return fmt.Errorf("sign-in limits: %w", err)
	}
	return nil
}

// signInSucceeded takes back the charge of a right password: a key that forgets on success
// starts afresh, another gets back the state the attempt found it in, unless a later attempt
// has charged it since, which then keeps its own charge only. Keys quiet for a day are
// swept by the worker (Keep).
func (s *Service) signInSucceeded(ctx context.Context, c *signinCharge) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i, k := range c.keys {
			if k.policy.forgetOnSuccess {
				if _, err := tx.Exec(ctx, `DELETE FROM orders.signin_limits WHERE key = $1`, k.hash); err != nil {
					return err
				}
				continue
			}
			b, a := c.before[i], c.after[i]
			tag, err := tx.Exec(ctx, `UPDATE orders.signin_limits
				SET failures = $2, window_start = $3, lockouts = $4, locked_until = $5, updated_at = $6
				WHERE key = $1 AND failures = $7 AND locked_until = $8 AND updated_at = $9`,
				k.hash, b.failures, b.windowStart, b.lockouts, b.lockedUntil, b.updatedAt, a.failures, a.lockedUntil, a.updatedAt)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				if _, err := tx.Exec(ctx, `UPDATE orders.signin_limits SET failures = greatest(failures - 1, 0) WHERE key = $1`, k.hash); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sign-in limits: %w", err)
	}
	return nil
}

// signinCounters count sign-in outcomes since the service started.
type signinCounters struct {
	refused, throttled, lockouts atomic.Int64
}

// SignInCounts is a snapshot of the dashboard's sign-in counters since the service started,
// which /metrics exports (ordermill_dashboard_signins_total). The same events are logged
// with a stable "metric" attribute (dashboard_signin_refused, dashboard_signin_throttled,
// dashboard_signin_lockouts).
type SignInCounts struct {
	// Refused counts wrong emails or passwords (401).
	Refused int64
	// Throttled counts attempts refused with 429 without their password being checked.
	Throttled int64
	// Lockouts counts accounts and addresses locked out.
	Lockouts int64
}

// SignInCounts returns the sign-in counters.
func (s *Service) SignInCounts() SignInCounts {
	return SignInCounts{Refused: s.signins.refused.Load(), Throttled: s.signins.throttled.Load(), Lockouts: s.signins.lockouts.Load()}
}

// retryAfterSeconds rounds a wait up to whole seconds, as Retry-After counts them.
func retryAfterSeconds(wait time.Duration) int {
	return int((wait + time.Second - 1) / time.Second)
}

// waitText says how long to wait in words a person reads at a glance.
func waitText(seconds int) string {
	switch {
	case seconds == 1:
		return "1 second"
	case seconds < 120:
		return fmt.Sprintf("%d seconds", seconds)
	default:
		return fmt.Sprintf("%d minutes", (seconds+59)/60)
	}
}
