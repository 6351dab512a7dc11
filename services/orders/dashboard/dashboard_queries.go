package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/risk"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/ui"
)

// The dashboard's read side: each function reads the read models (or, for one order, its
// events) and returns the small view models package ui renders.

// pendingPageSize bounds the pending list: a reviewer works from the oldest, and the page
// must render in milliseconds however many orders wait.
const pendingPageSize = 100

// hourBucket is how order_counts names an hour (UTC), as the trigger writes it.
const hourBucket = "2006-01-02T15"

// ordersPageSize is the all-orders list's page size.
const ordersPageSize = 50

// pendingList reads the oldest orders waiting for a decision and how many wait in all,
// with the evidence a reviewer decides on: product names, addresses, customer history.
func (s *Service) pendingList(ctx context.Context, limit int) (ui.PendingList, error) {
	now := s.now()
	rows, err := s.pool.Query(ctx, `
		SELECT order_id, customer_id, customer_email, new_customer, total_cents, currency, items,
			risk_score, risk_threshold, risk_factors, held_since, approval_deadline, shipping_address, billing_address,
			claimed_by, coalesce(claimed_at, 'epoch'), coalesce(claimed_until, 'epoch')
		FROM orders.pending_approvals WHERE status = $1
		ORDER BY held_since, order_id LIMIT $2`, projections.ApprovalWaiting, limit)
	if err != nil {
		return ui.PendingList{}, fmt.Errorf("pending approvals: %w", err)
	}
	type held struct {
		o     *order.Order
		since time.Time
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (held, error) {
		var (
			id, customerID, email, currency string
			newCustomer                     bool
			total                           int64
			itemsJSON, factorsJSON          []byte
			score, threshold                int
			since, deadline                 time.Time
			shipping, billing               *order.Address
			claimedBy                       string
			claimedAt, claimedUntil         time.Time
		)
		if err := row.Scan(&id, &customerID, &email, &newCustomer, &total, &currency, &itemsJSON,
			&score, &threshold, &factorsJSON, &since, &deadline, &shipping, &billing,
			&claimedBy, &claimedAt, &claimedUntil); err != nil {
			return held{}, err
		}
		var items []order.Item
		var factors []order.RiskFactor
		if err := json.Unmarshal(itemsJSON, &items); err != nil {
			return held{}, fmt.Errorf("items of %s: %w", id, err)
		}
		if err := json.Unmarshal(factorsJSON, &factors); err != nil {
			return held{}, fmt.Errorf("risk factors of %s: %w", id, err)
		}
		return held{o: &order.Order{
			ID: id, CustomerID: customerID, CustomerEmail: email, NewCustomer: newCustomer,
			Total: order.Cents(total), Currency: currency, Items: items, RiskScore: &score,
			RiskThreshold: threshold, RiskFactors: factors, ApprovalDeadline: deadline,
			ShippingAddress: shipping, BillingAddress: billing,
			ClaimedBy: claimedBy, ClaimedAt: claimedAt, ClaimedUntil: claimedUntil,
		}, since: since}, nil
	})
	if err != nil {
		return ui.PendingList{}, err
	}
	orders := make([]*order.Order, len(list))
	for i, h := range list {
		orders[i] = h.o
	}
	names := s.catalog.names(ctx, skusOf(orders...))
	histories, err := s.histories(ctx, orders...)
	if err != nil {
		return ui.PendingList{}, err
	}
	out := ui.PendingList{Total: len(list)}
	for _, h := range list {
		v := s.pendingView(now, h.o, h.since, names)
		v.History = histories[h.o.ID]
		out.Orders = append(out.Orders, v)
	}
	if len(list) == limit {
		if out.Total, err = s.pendingCount(ctx); err != nil {
			return ui.PendingList{}, err
		}
	}
	return out, nil
}

// viewedBy marks the claims manager me holds among the orders shown.
func viewedBy(me string, orders ...*ui.PendingOrder) {
	for _, o := range orders {
		if o != nil && o.Claim.By != "" {
			o.Claim.Mine = o.Claim.By == me
		}
	}
}

// listViewedBy marks the claims manager me holds in the list.
func listViewedBy(me string, l *ui.PendingList) {
	for i := range l.Orders {
		viewedBy(me, &l.Orders[i])
	}
}

// pendingCount counts the orders waiting for a decision (an index-only count).
func (s *Service) pendingCount(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM orders.pending_approvals WHERE status = $1`, projections.ApprovalWaiting).Scan(&n)
	return n, err
}

// pendingView is what a reviewer sees of an order held since held; names are the
// catalog's product names.
func (s *Service) pendingView(now time.Time, o *order.Order, held time.Time, names map[string]string) ui.PendingOrder {
	v := ui.PendingOrder{
		OrderID: o.ID, Customer: customerLabel(o.CustomerEmail, o.CustomerID), NewCustomer: o.NewCustomer,
		Total: formatMoney(o.Total, o.Currency), Items: itemLines(o.Items, names), Threshold: o.RiskThreshold,
		HeldSince: held, Deadline: o.ApprovalDeadline,
		Waiting: ui.HumanDuration(now.Sub(held)), TimeLeft: ui.TimeLeft(now, o.ApprovalDeadline),
		Urgent:   o.ApprovalDeadline.Sub(now) < time.Hour,
		Shipping: addressView(o.ShippingAddress), Billing: addressView(o.BillingAddress),
		Claim: claimView(o.ID, o.ClaimedBy, o.ClaimedAt, o.ClaimedUntil, now, ""),
	}
	if o.RiskScore != nil {
		v.Score = *o.RiskScore
		v.ScoreExplained = scoreExplained(o)
	}
	if s.needsConfirmation(o) {
		v.ConfirmPhrase = ui.ShortID(o.ID)
	}
	for _, f := range o.RiskFactors {
		v.Factors = append(v.Factors, ui.RiskFactor{Description: f.Description, Points: f.Points})
	}
	return v
}

// needsConfirmation says whether approving o on the dashboard needs its short id typed.
func (s *Service) needsConfirmation(o *order.Order) bool {
	return s.cfg.ConfirmApprovalAbove > 0 && o.Total > s.cfg.ConfirmApprovalAbove
}

// scoreExplained is the score's arithmetic with the threshold it was held against.
func scoreExplained(o *order.Order) string {
	return fmt.Sprintf("%s (threshold %d)", risk.Explain(*o.RiskScore, o.RiskFactors), o.RiskThreshold)
}

func addressView(a *order.Address) *ui.Address {
	if a == nil {
		return nil
	}
	var lines []string
	for _, l := range []string{a.Line1, a.Line2, strings.TrimSpace(a.PostalCode + " " + a.City)} {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return &ui.Address{Name: a.Name, Lines: strings.Join(lines, ", "), Country: a.Country}
}

// skusOf lists the SKUs of orders, each once.
func skusOf(orders ...*order.Order) []string {
	var out []string
	for _, o := range orders {
		for _, it := range o.Items {
			if !slices.Contains(out, it.SKU) {
				out = append(out, it.SKU)
			}
		}
	}
	return out
}

func customerLabel(email, id string) string {
	switch {
	case email != "":
		return email
	case id != "":
		return "customer " + id
	default:
		return "guest"
	}
}

// itemLines writes each line as "2 × Wireless mouse (SKU-031)", or with the SKU alone
// when the catalog gave no name.
func itemLines(items []order.Item, names map[string]string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		if name := names[it.SKU]; name != "" {
			out[i] = fmt.Sprintf("%d × %s (%s)", it.Quantity, name, it.SKU)
		} else {
			out[i] = fmt.Sprintf("%d × %s", it.Quantity, it.SKU)
		}
	}
	return out
}

// formatMoney writes cents for people: "50,000.00 USD".
func formatMoney(c order.Cents, currency string) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	units := fmt.Sprint(int64(c / 100))
	var b strings.Builder
	for i, d := range units {
		if i > 0 && (len(units)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return fmt.Sprintf("%s%s.%02d %s", sign, b.String(), int64(c%100), currency)
}

// orderFilter is the all-orders list's query string.
type orderFilter struct {
	Status string
	Query  string
	Cursor string
	// Sort is the column the list is ordered by ("placed", "total", "risk"; "" is
	// "placed") and Asc its direction (newest, largest, riskiest first by default).
	Sort string
	Asc  bool
}

// sortKeys are the orders list's sortable columns and the SQL of each; every one has an
// index with order_id (sql/00002, sql/00044), the tie-breaker that keeps keyset pages stable.
var sortKeys = map[string]string{"placed": "created_at", "total": "total_cents", "risk": "coalesce(risk_score, -1)"}

// key is the filter's sort column, defaulting to placed.
func (f orderFilter) key() string {
	if _, ok := sortKeys[f.Sort]; ok {
		return f.Sort
	}
	return "placed"
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
	if f.key() != "placed" {
		v.Set("sort", f.key())
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

// orderBy is the filter's ORDER BY clause.
func (f orderFilter) orderBy() string {
	dir := " DESC"
	if f.Asc {
		dir = " ASC"
	}
	return " ORDER BY " + sortKeys[f.key()] + dir + ", order_id" + dir
}

func statusNames() []string {
	var out []string
	for _, st := range order.Statuses() {
		out = append(out, string(st))
	}
	return out
}

// likeAnywhere turns user input into a LIKE pattern matching it anywhere, escaping
// LIKE's wildcards.
func likeAnywhere(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// searchedText is what the orders list searches: the expression of the trigram index
// order_summaries_search (sql/00044), written the same way so the planner can use it.
const searchedText = `(order_id || ' ' || customer_id || ' ' || customer_email)`

// filterSQL is the WHERE clause of the orders list's filter (status, search), adding
// its values through arg.
func filterSQL(f orderFilter, arg func(any) string) ([]string, error) {
	var where []string
	if f.Status != "" {
		if _, err := order.ParseStatus(f.Status); err != nil {
			return nil, err
		}
		where = append(where, "status = "+arg(f.Status))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		where = append(where, searchedText+" ILIKE "+arg(likeAnywhere(q)))
	}
	return where, nil
}

// orderList reads one page of order_summaries, newest first. Only the predicates in use
// are sent, and each query is planned with its actual values (QueryExecModeExec), so a
// status filter, a search (trigram index) and the keyset cursor each walk an index.
func (s *Service) orderList(ctx context.Context, f orderFilter) (ui.OrderList, error) {
	out := ui.OrderList{Status: f.Status, Query: f.Query, Statuses: statusNames(), Threshold: s.riskThreshold(),
		ExportURL: exportURL(f)}
	args := []any{pgx.QueryExecModeExec}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args)-1)
	}
	where, err := filterSQL(f, arg)
	if err != nil {
		return out, err
	}
	out.Sort, out.Asc = f.key(), f.Asc
	for _, k := range []string{"placed", "total", "risk"} {
		// A column's link sorts by it, its natural way first; a second click turns it round.
		g := f
		g.Sort, g.Asc, g.Cursor = k, k == f.key() && !f.Asc, ""
		if out.SortURLs == nil {
			out.SortURLs = map[string]string{}
		}
		out.SortURLs[k] = g.url("")
	}
	if f.Cursor != "" {
		cmp := "<"
		if f.Asc {
			cmp = ">"
		}
		if f.key() == "placed" {
			c, err := decodeCursor(f.Cursor)
			if err != nil {
				return out, err
			}
			where = append(where, fmt.Sprintf("(created_at, order_id) %s (%s, %s)", cmp, arg(*c.createdAt), arg(c.id)))
		} else {
			v, id, err := decodeKeyCursor(f.Cursor)
			if err != nil {
				return out, err
			}
			where = append(where, fmt.Sprintf("(%s, order_id) %s (%s, %s)", sortKeys[f.key()], cmp, arg(v), arg(id)))
		}
		g := f
		g.Cursor = ""
		out.FirstURL = g.url("")
	}
	sql := `SELECT order_id, status, customer_id, customer_email, total_cents, currency, item_count, risk_score, created_at, cancel_reason
		FROM orders.order_summaries`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += f.orderBy() + " LIMIT " + arg(ordersPageSize+1)
	totals := map[string]int64{}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return out, fmt.Errorf("order list: %w", err)
	}
	out.Rows, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ui.OrderRow, error) {
		var r ui.OrderRow
		var customerID, email, currency, cancel string
		var total int64
		err := row.Scan(&r.OrderID, &r.Status, &customerID, &email, &total, &currency, &r.Items, &r.RiskScore, &r.CreatedAt, &cancel)
		r.Customer = customerLabel(email, customerID)
		r.Total = formatMoney(order.Cents(total), currency)
		totals[r.OrderID] = total
		if r.Status == string(order.StatusCancelled) && cancel != "" {
			r.Why = cancelWhy(order.CancelReason(cancel))
		}
		return r, err
	})
	if err != nil {
		return out, err
	}
	if len(out.Rows) > ordersPageSize {
		out.Rows = out.Rows[:ordersPageSize]
		last := out.Rows[len(out.Rows)-1]
		switch f.key() {
		case "placed":
			out.NextURL = f.url(encodeCursor(cursor{createdAt: &last.CreatedAt, id: last.OrderID}))
		case "total":
			out.NextURL = f.url(encodeKeyCursor(totals[last.OrderID], last.OrderID))
		case "risk":
			risk := int64(-1)
			if last.RiskScore != nil {
				risk = int64(*last.RiskScore)
			}
			out.NextURL = f.url(encodeKeyCursor(risk, last.OrderID))
		}
	}
	return out, nil
}

// riskThreshold is the score at or above which orders wait for a manager.
func (s *Service) riskThreshold() int {
	if s.cfg.Workflow.RiskThreshold > 0 {
		return s.cfg.Workflow.RiskThreshold
	}
	return sagas.DefaultConfig().RiskThreshold
}

// cancelWhy says in words why an order was cancelled.
func cancelWhy(r order.CancelReason) string {
	switch r {
	case order.ReasonTimedOut:
		return "timed out: its approval or payment deadline passed"
	case order.ReasonRejected:
		return "rejected by a manager"
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

func ordersURL(status, q, cursor string) string {
	v := url.Values{}
	if status != "" {
		v.Set("status", status)
	}
	if q != "" {
		v.Set("q", q)
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if len(v) == 0 {
		return "/dashboard/orders"
	}
	return "/dashboard/orders?" + v.Encode()
}

// orderDetail reads one order: the aggregate from its events (never stale) and the rest
// from the timeline projection and the workflow's tables.
func (s *Service) orderDetail(ctx context.Context, id string, devMode bool) (ui.OrderDetail, error) {
	// The timeline first: its newest position is the page's version, and the live stream
	// sends the page again once the timeline has anything newer. Read after the
	// aggregate, it could hold an event the aggregate missed, and the page would stay
	// behind for good.
	timeline, err := s.timeline(ctx, id)
	if err != nil {
		return ui.OrderDetail{}, err
	}
	o, position, err := orderstream.LoadWithPosition(ctx, s.pool, id)
	if err != nil {
		return ui.OrderDetail{}, err
	}
	now := s.now()
	names := s.catalog.names(ctx, skusOf(o))
	d := ui.OrderDetail{Timeline: timeline,
		OrderID: o.ID, Status: string(o.Status), Customer: customerLabel(o.CustomerEmail, o.CustomerID),
		Total: formatMoney(o.Total, o.Currency), Items: itemLines(o.Items, names), RiskScore: o.RiskScore,
		Threshold: o.RiskThreshold, CreatedAt: o.PlacedAt, UpdatedAt: o.UpdatedAt, Steps: workflowSteps(o),
		Shipping: addressView(o.ShippingAddress), Billing: addressView(o.BillingAddress),
	}
	if o.RiskScore != nil {
		d.ScoreExplained = scoreExplained(o)
	}
	histories, err := s.histories(ctx, o)
	if err != nil {
		return d, err
	}
	d.History = histories[o.ID]
	for _, f := range o.RiskFactors {
		d.Factors = append(d.Factors, ui.RiskFactor{Description: f.Description, Points: f.Points})
	}
	d.Decision = nonEmpty(
		ui.Field{Label: "Decided by", Value: o.DecidedBy},
		ui.Field{Label: "Reason", Value: o.DecisionReason},
		ui.Field{Label: "Approval deadline", Value: stampIf(o.ApprovalDeadline)},
		ui.Field{Label: "Cancelled", Value: strings.TrimSpace(strings.ReplaceAll(string(o.CancelReason), "_", " ") + " " + o.CancelDetail)},
	)
	d.Payment = nonEmpty(
		ui.Field{Label: "Session", Value: o.PaymentSessionID},
		ui.Field{Label: "Checkout", Value: o.PaymentURL},
		ui.Field{Label: "Due", Value: stampIf(o.PaymentDeadline)},
		ui.Field{Label: "Payment", Value: o.PaymentID},
		ui.Field{Label: "Failure", Value: o.PaymentFailReason},
	)
	d.Shipment = nonEmpty(
		ui.Field{Label: "Reservation", Value: o.ReservationID},
		ui.Field{Label: "Reservation failed", Value: o.ReservationFailed},
		ui.Field{Label: "Shipment", Value: o.ShipmentID},
		ui.Field{Label: "Carrier", Value: o.Carrier},
		ui.Field{Label: "Tracking", Value: o.TrackingNumber},
		ui.Field{Label: "Courier status", Value: o.DeliveryStatus},
		ui.Field{Label: "Delivery failure", Value: o.DeliveryFailureReason},
	)
	if o.Status == order.StatusAwaitingApproval {
		// Held since the hold's event: notes and claims since then move UpdatedAt on.
		held := o.UpdatedAt
		for _, e := range timeline {
			if e.Name == order.NameHeldForApproval {
				held = e.RecordedAt
			}
		}
		p := s.pendingView(now, o, held, names)
		p.OnOrderPage = true
		p.History = d.History
		d.Pending = &p
	}
	if devMode {
		d.Simulators = simulatorsFor(o.Status)
		d.Mailbox = s.cfg.DevMailboxURL
	}
	// The page reflects the order as of its newest event, even while the timeline's
	// projection lags behind it: the live stream then sends the page again only when
	// there is something newer than what it shows, not to repeat it (a repeat replaced
	// the form a manager was typing in).
	d.Version = position
	if n := len(d.Timeline); n > 0 {
		d.Version = max(d.Version, d.Timeline[n-1].Position)
	}
	if d.Notices, err = s.notifications(ctx, id); err != nil {
		return d, err
	}
	d.Tickets, err = s.tickets(ctx, id, 50)
	return d, err
}

func stampIf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func nonEmpty(fs ...ui.Field) []ui.Field {
	var out []ui.Field
	for _, f := range fs {
		if f.Value != "" {
			out = append(out, f)
		}
	}
	return out
}

func (s *Service) timeline(ctx context.Context, orderID string) ([]ui.TimelineEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT position, name, actor, recorded_at, summary
		FROM orders.order_timeline WHERE order_id = $1 ORDER BY position`, orderID)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[ui.TimelineEntry])
}

func (s *Service) notifications(ctx context.Context, orderID string) ([]ui.Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, recipient, subject, created_at, sent_at IS NOT NULL, coalesce(error, '')
		FROM orders.notifications WHERE order_id = $1 ORDER BY id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[ui.Notification])
}

// tickets reads support tickets, newest first: one order's, or everyone's when orderID is "".
func (s *Service) tickets(ctx context.Context, orderID string, limit int) ([]ui.Ticket, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, order_id, kind, reason, status, created_at
		FROM orders.support_tickets WHERE ($1 = '' OR order_id = $1)
		ORDER BY created_at DESC, id DESC LIMIT $2`, orderID, limit)
	if err != nil {
		return nil, fmt.Errorf("tickets: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[ui.Ticket])
}

// overview counts orders by status and draws the charts' data, all from
// orders.order_counts (kept by triggers on order_summaries): a few dozen rows, whatever
// the number of orders.
func (s *Service) overview(ctx context.Context) (ui.Overview, error) {
	now := s.now()
	v := ui.Overview{GeneratedAt: now, ChartsWindow: "all orders"}
	end := now.Truncate(time.Hour).Add(time.Hour)
	start := end.Add(-24 * time.Hour)
	byStatus := map[string]int{}
	buckets := make([]int, 10)
	perHour := make([]int, 24)
	rows, err := s.pool.Query(ctx, `SELECT dimension, bucket, n FROM orders.order_counts
		WHERE n <> 0 AND (dimension <> 'hour' OR bucket >= $1)`, start.Format(hourBucket))
	if err != nil {
		return v, fmt.Errorf("overview counts: %w", err)
	}
	var dimension, bucket string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&dimension, &bucket, &n}, func() error {
		switch dimension {
		case "status":
			byStatus[bucket] = n
			v.Total += n
		case "risk":
			if i, err := strconv.Atoi(bucket); err == nil && i >= 0 && i < len(buckets) {
				buckets[i] = n
			}
		case "hour":
			if h, err := time.Parse(hourBucket, bucket); err == nil {
				if i := int(h.Sub(start) / time.Hour); i >= 0 && i < len(perHour) {
					perHour[i] = n
				}
			}
		}
		return nil
	}); err != nil {
		return v, fmt.Errorf("overview counts: %w", err)
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
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM orders.support_tickets WHERE status = 'open'),
		(SELECT count(*) FROM dead_letters WHERE redriven_at IS NULL)`).Scan(&v.OpenTickets, &v.DeadLetters)
	if err != nil {
		return v, fmt.Errorf("overview tickets: %w", err)
	}
	return v, nil
}
