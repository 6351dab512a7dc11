package mailer

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A claim takes at most as many emails as it asks for, whatever plan Postgres picks. With
// the plan a table whose statistics say it is empty gets (a nested loop running the
// picking subquery again for each row), a claim of 6 took 40, and the worker, handed more
// emails than it has senders, stopped for good (a probe, after bin/history's VACUUM).
func TestAClaimTakesNoMoreThanItAsksForWhateverThePlan(t *testing.T) {
	ctx := context.Background()
	// The plan the probe met: no hash or merge join, no hash aggregate, no materialising.
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	for _, off := range []string{"enable_hashjoin", "enable_mergejoin", "enable_hashagg", "enable_material", "enable_sort"} {
		cfg.ConnConfig.RuntimeParams[off] = "off"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, `INSERT INTO orders.notifications (order_id, kind, recipient, subject, body)
		SELECT 'ord-' || g, 'order_shipped', 'ann@example.com', 's', 'b' FROM generate_series(1, 40) g`)
	require.NoError(t, err)

	s := New(pool, slog.New(slog.DiscardHandler), Config{})
	claimed, err := s.claim(ctx, nil, 6)
	require.NoError(t, err)
	assert.Len(t, claimed, 6)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders.notifications WHERE claimed_at IS NOT NULL`).Scan(&n))
	assert.Equal(t, 6, n, "claimed in the table")
}
