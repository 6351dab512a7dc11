package orders

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
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
	args := []any{pgx.QueryExecModeExec}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args)-1)
	}
	where, err := filterSQL(f, arg)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	sql := `SELECT order_id, status, customer_id, customer_email, total_cents, currency, item_count,
			coalesce(risk_score::text, ''), cancel_reason, created_at, updated_at
		FROM orders.order_summaries`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += f.orderBy()
	// The export may outlast the server's write timeout for ordinary pages.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	rows, err := s.pool.Query(r.Context(), sql, args...)
	if err != nil {
		s.failPage(w, r, apperr.Errorf(apperr.CodeInternal, "export: %v", err))
		return
	}
	defer rows.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="orders.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"order_id", "status", "customer_id", "customer_email", "total", "currency", "items", "risk_score", "cancel_reason", "created_at", "updated_at"})
	n := 0
	for rows.Next() {
		var id, status, customerID, email, currency, risk, cancel string
		var total int64
		var items int
		var created, updated time.Time
		if err := rows.Scan(&id, &status, &customerID, &email, &total, &currency, &items, &risk, &cancel, &created, &updated); err != nil {
			s.logger.ErrorContext(r.Context(), "order export", "err", err)
			return
		}
		if err := cw.Write([]string{id, status, csvSafe(customerID), csvSafe(email), decimal(order.Cents(total)), currency, strconv.Itoa(items),
			risk, cancel, created.UTC().Format(time.RFC3339), updated.UTC().Format(time.RFC3339)}); err != nil {
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
	if err := rows.Err(); err != nil {
		// The header is sent; all that can be done is to stop short and log why.
		s.logger.ErrorContext(r.Context(), "order export", "err", err)
	}
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
	return orderFilter{Status: q.Get("status"), Query: q.Get("q"), Cursor: q.Get("cursor"), Sort: q.Get("sort"), Asc: q.Get("dir") == "asc"}
}
