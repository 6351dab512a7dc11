package dashboard

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/eventstore/retention"
)

// The sweeps find the expired sessions and the quiet sign-in limits through the indexes
// on their time (sql/00007_dashboard.sql, sql/00022_signin_limits.sql) and delete each by
// its key, whether most rows are past their time or few: a walk of the whole table every
// minute would grow with it.
func TestTheDashboardSweepsWalkTheirRowsByTime(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := t.Context()
	_, err := pool.Exec(ctx, `
		INSERT INTO orders.managers (email, password_hash) VALUES ('m@example.com', 'x');
		INSERT INTO orders.dashboard_sessions (token_hash, manager_id, csrf_token, expires_at)
		SELECT sha256(i::text::bytea), (SELECT id FROM orders.managers), 'c', now() - (40000 - i) * interval '1 minute'
		FROM generate_series(1, 40000) i;
		INSERT INTO orders.signin_limits (key, window_start, locked_until, updated_at)
		SELECT sha256(i::text::bytea), now(), now(), now() - (40000 - i) * interval '1 minute'
		FROM generate_series(1, 40000) i;
		ANALYZE orders.dashboard_sessions, orders.signin_limits`)
	require.NoError(t, err)
	for _, sweep := range []struct {
		table         retention.Table
		byTime, byKey string
	}{
		{expiredSessions, "dashboard_sessions_expiry", "dashboard_sessions_pkey"},
		{quietLimits, "signin_limits_updated", "signin_limits_pkey"},
	} {
		// 40,000 minutes are nearly 28 days: past an hour most rows are old, past 27 days few.
		for _, olderThan := range []float64{3600, 27 * 24 * 3600} {
			var plan string
			require.NoError(t, pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+sweep.table.Statement(), olderThan, retention.Batch).Scan(&plan))
			assert.Contains(t, plan, sweep.byTime, "%s older than %gs: found through the index on their time", sweep.table.Name, olderThan)
			assert.Contains(t, plan, sweep.byKey, "%s older than %gs: deleted by their key", sweep.table.Name, olderThan)
			assert.NotContains(t, plan, "Seq Scan", "%s older than %gs: not by reading the whole table", sweep.table.Name, olderThan)
		}
	}
}

// A sign-in whose address has a limit quiet for a day, which the sweep holds as it
// gathers its batch, waits for the sweep and starts the address afresh. It failed (a 500,
// "1 rows for 2 keys"): it saw the row there and made none, then waited to lock it and
// found it deleted.
func TestASignInMeetingALimitTheSweepHoldsIsCharged(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := t.Context()
	s := New(pool, slog.New(slog.DiscardHandler), Config{}, nil, noNames{}, nil)
	account, address := accountKey("ana@example.com"), newSigninKey(addressPolicy, "203.0.113.9")
	_, err := pool.Exec(ctx, `INSERT INTO orders.signin_limits (key, failures, window_start, locked_until, updated_at)
		VALUES ($1, 3, now() - interval '2 days', now() - interval '2 days', now() - interval '2 days')`, address.hash)
	require.NoError(t, err)

	// The sweep's statement locks its batch as it gathers it, then deletes it: a
	// transaction holds the quiet row as the gather does, then runs the sweep.
	sweep, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = sweep.Rollback(ctx) }()
	tag, err := sweep.Exec(ctx, `SELECT FROM orders.signin_limits WHERE updated_at < now() - make_interval(secs => $1) FOR UPDATE`, signinMemory.Seconds())
	require.NoError(t, err)
	require.Equal(t, int64(1), tag.RowsAffected())
	type admitted struct {
		c    *signinCharge
		wait time.Duration
		err  error
	}
	admit := make(chan admitted, 1)
	go func() {
		c, wait, err := s.admitSignIn(ctx, account, address)
		admit <- admitted{c, wait, err}
	}()
	pgtest.LockWaiter(t, pool) // the sign-in reached the row the sweep holds
	tag, err = sweep.Exec(ctx, quietLimits.Statement(), signinMemory.Seconds(), retention.Batch)
	require.NoError(t, err)
	require.Equal(t, int64(1), tag.RowsAffected(), "the sweep deletes the quiet row")
	require.NoError(t, sweep.Commit(ctx))

	a := <-admit
	require.NoError(t, a.err)
	assert.Zero(t, a.wait)
	for i, k := range a.c.keys {
		assert.Zero(t, a.c.before[i].failures, "%s starts afresh", k.policy.scope)
		assert.Equal(t, 1, a.c.after[i].failures, "%s is charged", k.policy.scope)
	}
	var charged int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders.signin_limits WHERE failures = 1 AND key = ANY($1)`,
		[][]byte{account.hash, address.hash}).Scan(&charged))
	assert.Equal(t, 2, charged)
}
