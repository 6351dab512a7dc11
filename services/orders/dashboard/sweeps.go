package dashboard

import (
	"context"
	"sync"

	"github.com/ordermill/ordermill/eventstore/retention"
)

// The dashboard's rows that expire, each found oldest first through an index on its time
// (sql/00007_dashboard.sql, sql/00022_signin_limits.sql): the sessions past their expiry,
// which sessionManager refuses already, and the sign-in limits no attempt has touched for
// signinMemory, which have forgotten their lockouts (charge) and hold none: a lockout ends
// at most maxLockout after the failure that set it. A limit a sign-in charges while the
// sweep runs is dated anew (updated_at) and kept, its lockout with it: the sweep leaves a
// row the sign-in holds to the next sweep. A sign-in that meets a quiet limit the sweep
// holds waits for the sweep and starts the key afresh (admitSignIn), which is all the
// quiet limit had left to give: it failed with a 500 until 2026-12-08. A session's expiry
// is never moved on: it is set when the session starts.
var (
	expiredSessions = retention.Table{Name: "orders.dashboard_sessions", Key: "token_hash", Time: "expires_at"}
	quietLimits     = retention.Table{Name: "orders.signin_limits", Key: "key", Time: "updated_at"}
)

// A quiet limit is swept with no regard to its lockout only while no lockout outlasts
// signinMemory: this does not compile otherwise.
const _ = uint64(signinMemory - maxLockout)

// Keep deletes the expired sessions and the sign-in limits quiet for a day at once and
// then every minute until ctx ends, counting them in m. Until 2026-12-07 they were deleted
// by sign-ins (the sessions by each, the limits by each that worked), which showed on no
// metric, and nothing deleted them while nobody signed in.
func (s *Service) Keep(ctx context.Context, m *retention.Metrics) {
	var wg sync.WaitGroup
	wg.Go(func() { expiredSessions.Keep(ctx, s.pool, 0, s.logger, m) })
	wg.Go(func() { quietLimits.Keep(ctx, s.pool, signinMemory, s.logger, m) })
	wg.Wait()
}
