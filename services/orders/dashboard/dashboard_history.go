package dashboard

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/ui"
)

// historyDepth bounds how many of a customer's earlier orders the history block counts:
// its cost must not grow with the customer's history. Beyond it the block says "500+".
const historyDepth = 500

// historyRecent is how many of the newest earlier orders the block links to.
const historyRecent = 3

// histories reads, for each order, its customer's earlier orders
// (projections.CustomerHistories): each customer's newest historyDepth orders, counted by
// status and summed by currency. The
// customer is the email when the order has one, else the customer id; a guest order
// without either has no history.
func (s *Service) histories(ctx context.Context, orders ...*order.Order) (map[string]*ui.CustomerHistory, error) {
	var customers []projections.Customer
	for _, o := range orders {
		if o.CustomerEmail == "" && o.CustomerID == "" {
			continue
		}
		customers = append(customers, projections.Customer{OrderID: o.ID, Email: strings.ToLower(o.CustomerEmail), CustomerID: o.CustomerID})
	}
	out := make(map[string]*ui.CustomerHistory, len(customers))
	if len(customers) == 0 {
		return out, nil
	}
	for _, c := range customers {
		h := &ui.CustomerHistory{}
		if c.Email != "" {
			h.AllURL = orderFilter{SummaryFilter: projections.SummaryFilter{Email: c.Email}}.url("")
		}
		out[c.OrderID] = h
	}
	groups, err := projections.CustomerHistories(ctx, s.pool, customers, historyDepth, historyRecent)
	if err != nil {
		return nil, err
	}
	type recent struct {
		n int64
		o ui.HistoryOrder
	}
	sums := map[string]map[string]int64{}
	newest := map[string][]recent{}
	for _, g := range groups {
		h := out[g.ForOrder]
		h.Orders += int(g.Count)
		switch order.Status(g.Status) {
		case order.StatusCompleted:
			h.Completed += int(g.Count)
		case order.StatusCancelled:
			h.Cancelled += int(g.Count)
		case order.StatusRejected:
			h.Rejected += int(g.Count)
		}
		if sums[g.ForOrder] == nil {
			sums[g.ForOrder] = map[string]int64{}
		}
		sums[g.ForOrder][g.Currency] += g.SumCents
		for i, id := range g.RecentIDs {
			newest[g.ForOrder] = append(newest[g.ForOrder], recent{n: g.RecentN[i], o: ui.HistoryOrder{
				OrderID: id, Status: g.Status, Total: order.Cents(g.RecentTotals[i]).Text(g.Currency), CreatedAt: g.RecentAt[i]}})
		}
	}
	for id, h := range out {
		h.Capped = h.Orders >= historyDepth
		for _, c := range slices.Sorted(maps.Keys(sums[id])) {
			h.Totals = append(h.Totals, order.Cents(sums[id][c]).Text(c))
		}
		rs := newest[id]
		slices.SortFunc(rs, func(a, b recent) int { return int(a.n - b.n) })
		for _, r := range rs {
			h.Recent = append(h.Recent, r.o)
		}
	}
	return out, nil
}
