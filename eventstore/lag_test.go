package eventstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// How far a group is behind is counted from its position on, through the topic's primary
// key, up to LagCountLimit: counted over the whole table, the planner scanned all of it
// whatever the group's position, and on a probe's 3M-event log every scrape of the orders
// service timed out.
func TestLagIsCountedFromTheGroupsPositionOn(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	const n = eventstore.LagCountLimit + 500
	for _, stmt := range []string{
		`SELECT watermill_create_topic('lag_check')`,
		`INSERT INTO watermill_lag_check (uuid, transaction_id)
			SELECT 'u-' || g, (1000 + g)::text::xid8 FROM generate_series(1, $1::int) AS g`,
		`INSERT INTO watermill_offsets_lag_check VALUES
			('caught-up', $1::int - 20, (1000 + $1::int - 20)::text::xid8), ('far-behind', 0, '0')`,
		`ANALYZE watermill_lag_check`,
	} {
		var args []any
		if strings.Contains(stmt, "$1") {
			args = append(args, n)
		}
		_, err := pool.Exec(ctx, stmt, args...)
		require.NoError(t, err)
	}

	lags, err := eventstore.GroupLags(ctx, pool)
	require.NoError(t, err)
	behind := map[string]int64{}
	for _, l := range lags {
		if l.Topic == "lag_check" {
			behind[l.Group] = l.Behind
		}
	}
	assert.Equal(t, map[string]int64{"caught-up": 20, "far-behind": eventstore.LagCountLimit}, behind)

	rows, err := pool.Query(ctx, `EXPLAIN `+eventstore.LagQuery("lag_check"), "caught-up")
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	plan := strings.Join(lines, "\n")
	assert.Contains(t, plan, "Index Scan using watermill_lag_check_pkey", plan)
	assert.NotContains(t, plan, "Seq Scan on watermill_lag_check ", plan)
}
