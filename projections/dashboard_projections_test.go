package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
)

// seedWithWaiting adds to seed an order still waiting for a decision.
func seedWithWaiting(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	seed(t, pool)
	place(t, pool, order.PlaceOrder{OrderID: "ord-e", CustomerEmail: "e@example.com", NewCustomer: true,
		Items: []order.Item{{SKU: "E", Quantity: 1}}, Total: 2_500_000, At: base.Add(20 * time.Minute)})
	update(t, pool, "ord-e", func(o *order.Order) ([]order.Event, error) {
		return o.AssessRisk(85, []order.RiskFactor{{Code: "new_customer", Description: "first order", Points: 25}}, 70, base.Add(24*time.Hour), base.Add(21*time.Minute))
	})
}

func dumpTable(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, table, key string) string {
	t.Helper()
	var s string
	require.NoError(t, q.QueryRow(context.Background(),
		`SELECT coalesce(json_agg(x ORDER BY x.`+key+`)::text, '[]') FROM `+table+` x`).Scan(&s))
	return s
}

func TestPendingApprovals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := rebuiltFrom(t, seedWithWaiting)

	type row struct {
		OrderID, Status, DecidedBy string
		Score                      int
		Held, Deadline             time.Time
	}
	r, err := pool.Query(ctx, `SELECT order_id, status, decided_by, risk_score, held_since, approval_deadline
		FROM orders.pending_approvals ORDER BY order_id`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(r, pgx.RowToStructByPos[row])
	require.NoError(t, err)
	require.Len(t, got, 3, "only orders that were held: b, c, e")
	assert.Equal(t, "ord-b", got[0].OrderID)
	assert.Equal(t, projections.ApprovalApproved, got[0].Status)
	assert.Equal(t, "alice", got[0].DecidedBy)
	assert.Equal(t, 85, got[0].Score)
	assert.True(t, got[0].Held.Equal(base.Add(2*time.Minute)), "held at %s", got[0].Held)
	assert.True(t, got[0].Deadline.Equal(base.Add(61*time.Minute)), "deadline %s", got[0].Deadline)
	assert.Equal(t, projections.ApprovalRejected, got[1].Status)
	assert.Equal(t, "bob", got[1].DecidedBy)
	assert.Equal(t, projections.ApprovalWaiting, got[2].Status)
	assert.True(t, got[2].Held.Equal(base.Add(21*time.Minute)))

	// Redelivered, duplicated or reordered events leave the same rows.
	want := dumpTable(t, pool, "orders.pending_approvals", "order_id")
	events := allEvents(t, pool)
	var backwards []eventstore.Recorded
	for i := len(events) - 1; i >= 0; i-- {
		backwards = append(backwards, events[i], events[i])
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM orders.pending_approvals`); err != nil {
			return err
		}
		for _, e := range backwards {
			if err := projections.PendingApprovals.Apply(ctx, tx, e); err != nil {
				return err
			}
		}
		assert.Equal(t, want, dumpTable(t, tx, "orders.pending_approvals", "order_id"))
		return nil
	})
	require.NoError(t, err)
}

// The order page's timeline is the order's events in words, in log order, each with the
// position and time it was recorded at.
func TestTimelineOf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	seedWithWaiting(t, pool)

	h, err := orderstream.LoadHistory(ctx, pool, "ord-c")
	require.NoError(t, err)
	got := projections.TimelineOf(h)
	type entry struct{ Name, Actor, Summary string }
	var words []entry
	for i, e := range got {
		words = append(words, entry{e.Name, e.Actor, e.Summary})
		assert.Equal(t, h.Recorded[i].Position, e.Position, "entry %d: position", i)
		assert.True(t, h.Recorded[i].RecordedAt.Equal(e.RecordedAt), "entry %d: recorded at", i)
	}
	assert.Equal(t, []entry{
		{order.NameOrderPlaced, "", "Placed: 4 item(s), 99.99 USD"},
		{order.NameRiskAssessed, "test", "Risk scored 95 (threshold 70): first order (+40)"},
		{order.NameHeldForApproval, "test", "Held for a manager's approval until 2025-03-01 13:04 UTC"},
		{order.NameOrderRejected, "test", "Rejected by bob: fraud pattern"},
		{order.NameOrderCancelled, "test", "Cancelled (rejected): fraud pattern"},
	}, words)

	newest, err := orderstream.NewestPosition(ctx, pool, "ord-c")
	require.NoError(t, err)
	assert.Equal(t, got[len(got)-1].Position, newest, "an open page's version is its newest event's")
	newest, err = orderstream.NewestPosition(ctx, pool, "ord-none")
	require.NoError(t, err)
	assert.Zero(t, newest)
}

// The overview's counters always equal a count over order_summaries, through rebuilds,
// upserts, redeliveries and truncation.
func TestOrderCountsFollowSummaries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	seedWithWaiting(t, pool)
	counted := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(json_agg(c ORDER BY dimension, bucket)::text, '[]') FROM
			(SELECT dimension, bucket, n FROM orders.order_counts WHERE n <> 0) c`).Scan(&s))
		return s
	}
	recount := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(json_agg(c ORDER BY dimension, bucket)::text, '[]') FROM (
			SELECT dimension, bucket, count(*) AS n FROM (
				SELECT 'status' AS dimension, status AS bucket FROM orders.order_summaries
				UNION ALL SELECT 'risk', least(risk_score / 10, 9)::text FROM orders.order_summaries WHERE risk_score IS NOT NULL
				UNION ALL SELECT 'hour', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') FROM orders.order_summaries
			) r GROUP BY 1, 2) c`).Scan(&s))
		return s
	}
	_, err := projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	want := recount()
	require.Contains(t, want, `"awaiting_approval"`)
	assert.Equal(t, want, counted())
	_, err = projections.Rebuild(ctx, pool, projections.Options{})
	require.NoError(t, err)
	assert.Equal(t, want, counted(), "a second rebuild")

	events := allEvents(t, pool)
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `TRUNCATE orders.order_summaries`); err != nil {
			return err
		}
		for _, e := range append(events, events...) {
			if err := projections.OrderSummaries.Apply(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	}))
	assert.Equal(t, want, counted(), "after truncation and every event twice")
}

// A change to the pending approvals is announced on the dashboard's channel when its
// transaction commits, not before: applied by the projection alone, and applied as the
// live consumer applies a batch, by every projection with their writes queued (the
// announcement then cannot depend on a write's answer, which a pipeline leaves empty).
func TestPendingChangeIsAnnouncedAtCommit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		batch bool
		apply func(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error
	}{
		{"one event at a time", false, func(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error {
			for _, e := range events {
				if err := projections.PendingApprovals.Apply(ctx, tx, e); err != nil {
					return err
				}
			}
			return nil
		}},
		{"a batch, writes queued", true, func(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error {
			return pgtest.Queued(func(ctx context.Context, tx pgx.Tx) error {
				return projections.ApplyAll(ctx, tx, events)
			})(ctx, tx)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := pgtest.Pool(t)
			seedWithWaiting(t, pool)
			conn, err := pool.Acquire(ctx)
			require.NoError(t, err)
			defer conn.Release()
			_, err = conn.Exec(ctx, "LISTEN "+projections.DashboardChannel)
			require.NoError(t, err)

			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			require.NoError(t, tc.apply(ctx, tx, allEvents(t, pool)))
			early, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err = conn.Conn().WaitForNotification(early)
			cancel()
			require.Error(t, err, "nothing is announced before commit")
			require.NoError(t, tx.Commit(ctx))
			var held int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders.pending_approvals`).Scan(&held))
			require.Equal(t, 3, held, "b, c and e were held")

			// A batch also announces that orders moved, for open order pages.
			wait, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			announced := map[string]bool{}
			for !announced[projections.PendingChanged] || (tc.batch && !announced[projections.OrdersChanged]) {
				n, err := conn.Conn().WaitForNotification(wait)
				require.NoError(t, err, "announced so far: %v", announced)
				require.Contains(t, []string{projections.PendingChanged, projections.OrdersChanged}, n.Payload)
				announced[n.Payload] = true
			}
		})
	}
}
