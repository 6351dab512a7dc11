package orderstream

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// planNode is a node of EXPLAIN (FORMAT JSON)'s plan.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}

// notByKey lists what in the plan below n reads more than the rows of its keys: a hash
// (of a whole table: a hash join's inner side), a sequential scan, or a scan without an
// index condition (a full index scan, or a hashed subplan's scan of every row).
func (n planNode) notByKey() []string {
	var bad []string
	switch {
	case n.NodeType == "Seq Scan", n.NodeType == "Hash":
		bad = append(bad, fmt.Sprintf("%s on %s", n.NodeType, n.Relation))
	case n.Relation != "" && n.IndexCond == "":
		bad = append(bad, fmt.Sprintf("%s on %s without an index condition", n.NodeType, n.Relation))
	}
	for _, c := range n.Plans {
		bad = append(bad, c.notByKey()...)
	}
	return bad
}

// The two statements that read snapshots for a list of orders, the saga's and the
// status reads', are planned once per connection as generic plans (PlanByKey) whatever
// the tables hold at that moment, and keep that plan: in every such plan, each order
// must be a lookup by key, on an empty store as on one of thousands of orders, analyzed
// or not. The saga's, written as a left join with EXISTS, was not: its generic plan
// planned over small tables hashed all of them at every call (queuedSnapshotsSQL).
func TestSnapshotReadsAreLookupsByKeyWhateverTheTablesHold(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	statements := map[string]struct{ types, sql, args string }{
		"the saga's load":   {"text[], int", queuedSnapshotsSQL, "ARRAY['o-1', 'o-2'], 1"},
		"the status reads'": {"text[], bigint[], int", changedSnapshotsSQL, "ARRAY['o-1', 'o-2'], ARRAY[0, 0]::bigint[], 1"},
	}
	filled := 0 // orders in the store
	fill := func(n int, analyze bool) {
		_, err := pool.Exec(ctx, `
			INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_name, payload)
			SELECT gen_random_uuid(), 'f-' || i, 'order', v, 'order.placed.v2', '{}'
			FROM generate_series($1::int + 1, $2::int) i, generate_series(1, 4) v`, filled, n)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `
			INSERT INTO snapshots (stream_id, stream_type, version, position, schema, state)
			SELECT 'f-' || i, 'order', 4, i, $3, '{}' FROM generate_series($1::int + 1, $2::int) i`, filled, n, snapshotSchema)
		require.NoError(t, err)
		filled = max(filled, n)
		if analyze {
			_, err = pool.Exec(ctx, `ANALYZE events; ANALYZE snapshots`)
			require.NoError(t, err)
		}
	}
	for _, size := range []struct {
		orders  int
		analyze bool
	}{{0, false}, {50, false}, {200, true}, {2000, false}, {2000, true}} {
		fill(size.orders, size.analyze)
		for name, st := range statements {
			// PlanByKey's settings last for their transaction, as in the reads themselves.
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			var plan string
			func() {
				defer func() { _ = tx.Rollback(ctx) }()
				for _, s := range []string{eventstore.PlanByKey, fmt.Sprintf("PREPARE probe(%s) AS %s", st.types, st.sql)} {
					_, err := tx.Exec(ctx, s)
					require.NoError(t, err)
				}
				require.NoError(t, tx.QueryRow(ctx, fmt.Sprintf("EXPLAIN (FORMAT JSON) EXECUTE probe(%s)", st.args)).Scan(&plan))
				_, err = tx.Exec(ctx, "DEALLOCATE probe")
				require.NoError(t, err)
			}()
			var explained []struct{ Plan planNode }
			require.NoError(t, json.Unmarshal([]byte(plan), &explained))
			require.Len(t, explained, 1)
			assert.Empty(t, explained[0].Plan.notByKey(), "%s with %d orders in the store (analyzed: %v):\n%s", name, size.orders, size.analyze, plan)
		}
	}
}
