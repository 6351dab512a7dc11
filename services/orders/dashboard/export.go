package dashboard

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/projections"
)

// exportFlushEvery is how many rows an export writes between flushes: the download
// starts at once and memory stays flat however many orders match.
const exportFlushEvery = 500

// exportOrders handles GET /dashboard/orders.csv?status=&q=&sort=&dir=: every order
// matching the list's filter, in the list's order, streamed as CSV row by row from the query's cursor.
func (s *Service) exportOrders(w http.ResponseWriter, r *http.Request, _ manager) {
	q := r.URL.Query()
	f := filterOf(q)
	f.Cursor = ""
	// The export may outlast the server's write timeout for ordinary pages.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	summaries, err := projections.AllSummaries(r.Context(), s.pool, f.SummaryFilter)
	if err != nil {
		if apperr.ErrorCode(err) == apperr.CodeInternal {
			err = apperr.Errorf(apperr.CodeInternal, "export: %v", err)
		}
		s.failPage(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="orders.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"order_id", "status", "customer_id", "customer_email", "total", "currency", "items", "risk_score", "cancel_reason", "created_at", "updated_at"})
	n := 0
	for sm, err := range summaries {
		if err != nil {
			// The header is sent; all that can be done is to stop short and log why.
			cw.Flush()
			s.logger.ErrorContext(r.Context(), "order export", "err", err)
			return
		}
		risk := ""
		if sm.RiskScore != nil {
			risk = strconv.Itoa(*sm.RiskScore)
		}
		if err := cw.Write([]string{sm.OrderID, sm.Status, csvSafe(sm.CustomerID), csvSafe(sm.CustomerEmail), decimal(order.Cents(sm.TotalCents)),
			sm.Currency, strconv.Itoa(sm.ItemCount), risk, sm.CancelReason,
			sm.CreatedAt.UTC().Format(time.RFC3339), sm.UpdatedAt.UTC().Format(time.RFC3339)}); err != nil {
			return // the client went away
		}
		if n++; n%exportFlushEvery == 0 {
			cw.Flush()
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
	cw.Flush()
}

// decimal writes cents as a plain decimal number, "50000.00", for spreadsheets.
func decimal(c order.Cents) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// csvSafe keeps a customer-given value from being read as a formula by a spreadsheet
// (CSV injection): a leading =, +, - or @ gets a quote in front.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// filterOf reads the orders list's filter and sort from a query string.
func filterOf(q url.Values) orderFilter {
	return orderFilter{Cursor: q.Get("cursor"), SummaryFilter: projections.SummaryFilter{
		Status: q.Get("status"), Query: q.Get("q"), Sort: q.Get("sort"), Asc: q.Get("dir") == "asc"}}
}
