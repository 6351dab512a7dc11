package dashboard

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/httpx"
)

// exportPage is how many rows an export reads in one query, and writes and flushes
// before it reads the next: the download starts at once, memory stays flat however many
// orders match, and no connection waits on the client. A probe held the whole pool with
// six downloads that read nothing, when the export streamed from one query's cursor:
// order intake stopped for as long as they stayed connected.
const exportPage = 500

// exportPageWrite is how long the client has to take each page: the export as a whole may
// outlast the server's write timeout, a client that stops reading may not.
const exportPageWrite = 30 * time.Second

// exportOrders handles GET /dashboard/orders.csv?status=&q=&sort=&dir=: every order
// matching the list's filter, in the list's order, as CSV, a page at a time (each page as
// of its query, after the last row of the one before).
func (s *Service) exportOrders(w http.ResponseWriter, r *http.Request, _ manager) {
	q := r.URL.Query()
	f := filterOf(q).SummaryFilter
	rc := http.NewResponseController(w)
	page, err := s.summaries(r.Context(), f, nil, exportPage, httpx.ListsWait)
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
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(exportPageWrite))
		for _, sm := range page {
			risk := ""
			if sm.RiskScore != nil {
				risk = strconv.Itoa(*sm.RiskScore)
			}
			_ = cw.Write([]string{sm.OrderID, sm.Status, csvSafe(sm.CustomerID), csvSafe(sm.CustomerEmail), order.Cents(sm.TotalCents).UnitsIn(sm.Currency),
				sm.Currency, strconv.Itoa(sm.ItemCount), risk, sm.CancelReason,
				sm.CreatedAt.UTC().Format(time.RFC3339), sm.UpdatedAt.UTC().Format(time.RFC3339)})
		}
		cw.Flush()
		if cw.Error() != nil || rc.Flush() != nil || len(page) < exportPage {
			return // done, or the client went away or stopped reading
		}
		// The export is under way and its client waits: the next page may wait for its
		// turn as long as a page may take to write.
		after := f.KeyOf(page[len(page)-1])
		if page, err = s.summaries(r.Context(), f, &after, exportPage, exportPageWrite); err != nil {
			// The header is sent: the download is cut, not ended, so the client cannot take
			// what it has for the whole file (a probe's exports, turned away at the lists'
			// gate mid-way, ended cleanly at a page's edge with 200).
			s.logger.ErrorContext(r.Context(), "order export cut off", "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// formulaStarts are the characters a spreadsheet takes a cell's formula to begin with,
// full-width forms included (some spreadsheets fold them), and the tab and carriage
// return OWASP lists.
const formulaStarts = "=+-@\t\r＝＋－＠"

// csvSafe keeps a customer-given value from being read as a formula by a spreadsheet
// (CSV injection): the value gets a quote in front when a formula character starts it,
// or starts it once a spreadsheet trims leading white space (a line feed then "="), or
// starts a cell a semicolon would split off where the semicolon is the list separator.
func csvSafe(v string) string {
	cellStart := true
	for _, r := range v {
		if cellStart && strings.ContainsRune(formulaStarts, r) {
			return "'" + v
		}
		cellStart = (cellStart && unicode.IsSpace(r)) || r == ';'
	}
	return v
}

// filterOf reads the orders list's filter and sort from a query string.
func filterOf(q url.Values) orderFilter {
	return orderFilter{Cursor: q.Get("cursor"), SummaryFilter: projections.SummaryFilter{
		Status: q.Get("status"), Query: q.Get("q"), Email: q.Get("email"), Sort: q.Get("sort"), Asc: q.Get("dir") == "asc"}}
}
