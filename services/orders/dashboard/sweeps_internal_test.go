package dashboard

import (
	"testing"

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
