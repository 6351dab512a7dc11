package projections

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// Several orders of one customer on one page (a probe's 49 awaiting approval) each get
// their customer's other orders, the newest depth of them, as if read alone: the
// customer's orders are read once for all of them (each read them again, and the page
// took 100-300 ms), and each leaves its own out wherever it stands.
func TestHistoriesOfOneCustomersOrdersEachLeaveTheirOwnOut(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	statuses := []order.Status{order.StatusCompleted, order.StatusCancelled, order.StatusAwaitingApproval}
	var ids []string
	byID := map[string]*OrderAt{}
	for i := range 9 { // ord-0 is the oldest
		o := summaryAt(fmt.Sprintf("ord-%d", i), statuses[i%3], order.Cents(100*(i+1)), nil, at.Add(time.Duration(i)*time.Minute), int64(i+1))
		o.CustomerID, o.CustomerEmail = "c-1", "Ann@Example.com"
		byID[o.ID] = o
		ids = append(ids, o.ID)
	}
	other := summaryAt("ord-bob", order.StatusCompleted, 7, nil, at, 20)
	other.CustomerID, other.CustomerEmail = "c-2", ""
	writeSummaries(t, pool, append(slices.Collect(maps.Values(byID)), other)...)

	const depth, recent = 4, 2
	// The newest (ord-8), one among the newest depth (ord-6), one older (ord-1), and a
	// customer known by id alone.
	cards := []Customer{{OrderID: "ord-8", Email: "ann@example.com", CustomerID: "c-1"}, {OrderID: "ord-6", Email: "ann@example.com", CustomerID: "c-1"},
		{OrderID: "ord-1", Email: "ann@example.com", CustomerID: "c-1"}, {OrderID: "ord-bob", CustomerID: "c-2"}}
	groups, err := CustomerHistories(ctx, pool, cards, depth, recent)
	require.NoError(t, err)
	type seen struct {
		count, sum int64
		recent     []string
	}
	got := map[string]map[string]seen{}
	for _, g := range groups {
		if got[g.ForOrder] == nil {
			got[g.ForOrder] = map[string]seen{}
		}
		got[g.ForOrder][g.Status] = seen{g.Count, g.SumCents, g.RecentIDs}
	}
	for _, c := range cards[:3] {
		want := map[string]seen{}
		others := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == c.OrderID })
		slices.Reverse(others) // newest first
		for n, id := range others[:depth] {
			o := byID[id]
			s := want[string(o.Status)]
			s.count++
			s.sum += int64(o.Total)
			if n < recent {
				s.recent = append(s.recent, id)
			}
			want[string(o.Status)] = s
		}
		for st, s := range want {
			if s.recent == nil {
				s.recent = []string{}
				want[st] = s
			}
		}
		assert.Equal(t, want, got[c.OrderID], "history of %s", c.OrderID)
	}
	assert.Empty(t, got["ord-bob"], "bob has no other order")

	// Ann's orders are read once for her three.
	var plan []string
	rowsOf, err := pool.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "+historySQL, pgx.QueryExecModeExec,
		[]string{"ord-8", "ord-6", "ord-1"}, []string{"ann@example.com", "ann@example.com", "ann@example.com"}, []string{"c-1", "c-1", "c-1"}, depth, recent)
	require.NoError(t, err)
	plan, err = pgx.CollectRows(rowsOf, pgx.RowTo[string])
	require.NoError(t, err)
	var emailScans []string
	for _, line := range plan {
		if strings.Contains(line, "order_summaries_email_created") {
			emailScans = append(emailScans, line)
		}
	}
	require.Len(t, emailScans, 1, strings.Join(plan, "\n"))
	assert.Contains(t, emailScans[0], "loops=1)", strings.Join(plan, "\n"))
}
