package dashboard

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/ui"
)

// orderFilter is the all-orders list's query string: the read model's filter and sort,
// and the page's cursor.
type orderFilter struct {
	projections.SummaryFilter
	Cursor string
}

// url is the list's URL with the filter and sort, on the page after cursor.
func (f orderFilter) url(cursor string) string {
	v := url.Values{}
	if f.Status != "" {
		v.Set("status", f.Status)
	}
	if f.Query != "" {
		v.Set("q", f.Query)
	}
	if f.Email != "" {
		v.Set("email", f.Email)
	}
	if f.SortKey() != "placed" {
		v.Set("sort", f.SortKey())
	}
	if f.Asc {
		v.Set("dir", "asc")
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if len(v) == 0 {
		return "/dashboard/orders"
	}
	return "/dashboard/orders?" + v.Encode()
}

func statusNames() []string {
	var out []string
	for _, st := range order.Statuses() {
		out = append(out, string(st))
	}
	return out
}

// summaries reads up to limit summaries matching f after key, taking a turn at the lists'
// gate within wait: lists, searches and exports leave the pool to the workflow however
// many come.
func (s *Service) summaries(ctx context.Context, f projections.SummaryFilter, after *projections.SummaryKey, limit int, wait time.Duration) ([]projections.Summary, error) {
	return httpx.Through(ctx, s.cfg.Lists, wait, func() ([]projections.Summary, error) {
		return projections.FilteredSummaries(ctx, s.pool, f, after, limit)
	})
}

// orderList reads one page of the orders list (projections.FilteredSummaries), newest
// first unless sorted otherwise.
func (s *Service) orderList(ctx context.Context, f orderFilter) (ui.OrderList, error) {
	out := ui.OrderList{Status: f.Status, Query: f.Query, Email: f.Email, Statuses: statusNames(), Threshold: s.cfg.Workflow.RiskThreshold,
		ExportURL: exportURL(f)}
	if f.Email != "" {
		every := f
		every.Email, every.Cursor = "", ""
		out.EveryCustomerURL = every.url("")
	}
	out.Sort, out.Asc = f.SortKey(), f.Asc
	for _, k := range []string{"placed", "total", "risk"} {
		// A column's link sorts by it, its natural way first; a second click turns it round.
		g := f
		g.Sort, g.Asc, g.Cursor = k, k == f.SortKey() && !f.Asc, ""
		if out.SortURLs == nil {
			out.SortURLs = map[string]string{}
		}
		out.SortURLs[k] = g.url("")
	}
	var after *projections.SummaryKey
	if f.Cursor != "" {
		if f.SortKey() == "placed" {
			var err error
			if after, err = projections.DecodePlacedCursor(f.Cursor); err != nil {
				return out, err
			}
		} else {
			v, id, err := decodeKeyCursor(f.Cursor)
			if err != nil {
				return out, err
			}
			after = &projections.SummaryKey{Value: v, ID: id}
		}
		g := f
		g.Cursor = ""
		out.FirstURL = g.url("")
	}
	list, err := s.summaries(ctx, f.SummaryFilter, after, ordersPageSize+1, httpx.ListsWait)
	if err != nil {
		return out, err
	}
	for _, sm := range list {
		r := ui.OrderRow{OrderID: sm.OrderID, Status: sm.Status, Items: sm.ItemCount, RiskScore: sm.RiskScore, CreatedAt: sm.CreatedAt,
			Customer: customerLabel(sm.CustomerEmail, sm.CustomerID), Total: order.Cents(sm.TotalCents).Text(sm.Currency)}
		if r.Status == string(order.StatusCancelled) && sm.CancelReason != "" {
			r.Why = cancelWhy(order.CancelReason(sm.CancelReason))
		}
		out.Rows = append(out.Rows, r)
	}
	if len(list) > ordersPageSize {
		out.Rows = out.Rows[:ordersPageSize]
		next := f.KeyOf(list[ordersPageSize-1])
		if f.SortKey() == "placed" {
			out.NextURL = f.url(projections.EncodePlacedCursor(next.Placed, next.ID))
		} else {
			out.NextURL = f.url(encodeKeyCursor(next.Value, next.ID))
		}
	}
	return out, nil
}

// cancelWhy says in words why an order was cancelled.
func cancelWhy(r order.CancelReason) string {
	switch r {
	case order.ReasonTimedOut:
		return "timed out: its approval or payment deadline passed"
	case order.ReasonRejected:
		return "rejected by a manager"
	case order.ReasonStockNotHeld:
		return "stock not held: its reservation was released or refused, not short"
	}
	return strings.ReplaceAll(string(r), "_", " ")
}

// exportURL is the CSV export of the list's current filter, in its order.
func exportURL(f orderFilter) string {
	f.Cursor = ""
	return strings.Replace(f.url(""), "/dashboard/orders", "/dashboard/orders.csv", 1)
}

// encodeKeyCursor is a keyset cursor of a list sorted by a number: "k:<value>|<id>".
func encodeKeyCursor(v int64, id string) string { return fmt.Sprintf("k:%d|%s", v, id) }

// decodeKeyCursor reads encodeKeyCursor's cursor.
func decodeKeyCursor(s string) (int64, string, error) {
	rest, ok := strings.CutPrefix(s, "k:")
	num, id, ok2 := strings.Cut(rest, "|")
	v, err := strconv.ParseInt(num, 10, 64)
	if !ok || !ok2 || err != nil || id == "" || len(id) > 200 {
		return 0, "", apperr.FieldErrorf("cursor", "cursor is malformed; use the list's next-page link")
	}
	return v, id, nil
}
