package dashboard

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/ui"
)

// overview counts orders by status and draws the charts' data, all from
// orders.order_counts (projections.OverviewCounts): a few dozen rows, whatever the number
// of orders.
func (s *Service) overview(ctx context.Context) (ui.Overview, error) {
	now := s.now()
	v := ui.Overview{GeneratedAt: now, ChartsWindow: "all orders"}
	end := now.Truncate(time.Hour).Add(time.Hour)
	start := end.Add(-24 * time.Hour)
	byStatus := map[string]int{}
	buckets := make([]int, 10)
	perHour := make([]int, 24)
	counts, open, err := projections.OverviewCounts(ctx, s.pool, start.Format(projections.HourBucket))
	if err != nil {
		return v, err
	}
	v.OpenTickets = open
	for _, c := range counts {
		switch c.Dimension {
		case "status":
			byStatus[c.Bucket] = c.N
			v.Total += c.N
		case "risk":
			if i, err := strconv.Atoi(c.Bucket); err == nil && i >= 0 && i < len(buckets) {
				buckets[i] = c.N
			}
		case "hour":
			if h, err := time.Parse(projections.HourBucket, c.Bucket); err == nil {
				if i := int(h.Sub(start) / time.Hour); i >= 0 && i < len(perHour) {
					perHour[i] = c.N
				}
			}
		}
	}
	for _, st := range order.Statuses() {
		v.Counts = append(v.Counts, ui.StatusCount{Status: string(st), Count: byStatus[string(st)]})
	}
	v.Pending = byStatus[string(order.StatusAwaitingApproval)]
	for i, c := range buckets {
		label := fmt.Sprintf("%d–%d", i*10, i*10+9)
		if i == 9 {
			label = "90–100"
		}
		v.RiskBuckets = append(v.RiskBuckets, ui.Bar{Label: label, Count: c})
	}
	for i, c := range perHour {
		v.PerHour = append(v.PerHour, ui.Bar{Label: start.Add(time.Duration(i) * time.Hour).UTC().Format("15h"), Count: c})
	}
	// Dead letters are the log's, not a read model's.
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters WHERE redriven_at IS NULL`).Scan(&v.DeadLetters)
	if err != nil {
		return v, fmt.Errorf("overview dead letters: %w", err)
	}
	return v, nil
}
