package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/cmd/internal/runcheck"
	"github.com/ordermill/ordermill/domain/order"
)

// checker verifies, from the services' own database, that a run left the system exactly as
// the orders it placed should have: fast but wrong must not pass as a good benchmark.
// It assumes the run was the only traffic while it lasted.
type checker struct {
	conn   *pgx.Conn
	before map[string]runcheck.StockLevel
	// deadMark is the last dead letter stored before the run: only later ones count.
	deadMark int64
}

// Notification kinds a completed order must have exactly once each (sagas.KindOrderConfirmed
// and sagas.KindOrderCompleted), spelled out so loadgen links no server code.
const (
	kindConfirmed = "order_confirmed"
	kindCompleted = "order_completed"
)

// openChecker connects and snapshots the stock, which is what the after-run stock check
// compares against, so it must happen before the first order.
func openChecker(ctx context.Context, url string) (*checker, error) {
	// The services' URL may size their pools (pool_max_conns): read as the pool reads it,
	// so that setting is not sent to the server, which refuses it.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("-check: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("-check: connect to the database: %w (set -database-url, or -check=false)", err)
	}
	before, err := runcheck.ReadStock(ctx, conn)
	if err != nil {
		conn.Close(ctx)
		return nil, err
	}
	mark, err := runcheck.DeadLetterMark(ctx, conn)
	if err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return &checker{conn: conn, before: before, deadMark: mark}, nil
}

func (c *checker) close() { c.conn.Close(context.Background()) }

// verify returns one line per broken promise; none means the run was correct.
func (c *checker) verify(ctx context.Context, d *driver, trips []*trip) []string {
	placed, completed := orderIDs(trips)
	problems := unfinished(ctx, d, trips)
	c.settle(ctx, completed)
	checks := []struct {
		what string
		run  func() ([]string, error)
	}{
		{"dead letters", func() ([]string, error) { return runcheck.DeadLetters(ctx, c.conn, c.deadMark) }},
		{"stock", func() ([]string, error) { return c.stock(ctx, trips) }},
		{"reservations", func() ([]string, error) {
			return c.onePerOrder(ctx, "warehouse.reservations", "status = 'reserved'", "reservation", completed)
		}},
		{"payment sessions", func() ([]string, error) {
			return c.onePerOrder(ctx, "payments.sessions", "", "payment session", completed)
		}},
		{"shipments", func() ([]string, error) {
			return c.onePerOrder(ctx, "delivery.shipments", "", "shipment", completed)
		}},
		{"emails", func() ([]string, error) { return c.emails(ctx, completed) }},
		{"events", func() ([]string, error) { return runcheck.DuplicateEvents(ctx, c.conn, placed) }},
	}
	for _, ch := range checks {
		found, err := ch.run()
		if err != nil {
			found = []string{fmt.Sprintf("could not check %s: %v", ch.what, err)}
		}
		problems = append(problems, found...)
	}
	return problems
}

// orderIDs lists the orders the run placed and, among them, those it saw complete.
func orderIDs(trips []*trip) (placed, completed []string) {
	for _, t := range trips {
		if t.id == "" {
			continue
		}
		placed = append(placed, t.id)
		if t.err == nil {
			completed = append(completed, t.id)
		}
	}
	return placed, completed
}

// unfinished names the orders that did not complete, with the status the API reports for
// them now (a late order may have moved on since the driver gave up on it).
func unfinished(ctx context.Context, d *driver, trips []*trip) []string {
	var lines []string
	failed := 0
	for _, t := range trips {
		if t.err == nil {
			continue
		}
		failed++
		if len(lines) == runcheck.MaxLines {
			continue
		}
		if t.id == "" {
			lines = append(lines, fmt.Sprintf("order #%d was not placed: %v", t.seq, t.err))
			continue
		}
		o, err := d.state(ctx, t.id)
		status := string(o.Status)
		if err != nil {
			status = "unknown (" + err.Error() + ")"
		}
		lines = append(lines, fmt.Sprintf("order %s (#%d) did not complete, status now %s: %v", t.id, t.seq, status, t.err))
	}
	return runcheck.WithRest(lines, failed, "orders did not complete")
}

// settle waits (up to 15 s) until every completed order's completion email is recorded. The
// saga records it in reaction to order.completed, so it may trail the status the driver saw;
// it is the workflow's last write, so once it is there the other checks see the end state.
func (c *checker) settle(ctx context.Context, completed []string) {
	stop := time.Now().Add(15 * time.Second)
	for time.Now().Before(stop) {
		var n int
		err := c.conn.QueryRow(ctx, `SELECT count(*) FROM orders.notifications WHERE kind = $1 AND order_id = ANY($2)`,
			kindCompleted, completed).Scan(&n)
		if err != nil || n >= len(completed) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stock checks every SKU the run ordered: available must be down by exactly the units its
// completed orders bought, and reserved up by as many. A reservation moves units from
// available to reserved, and nothing later takes them out of reserved (shipping does not
// touch warehouse.stock; only a release moves them back), so a sold unit stays reserved.
func (c *checker) stock(ctx context.Context, trips []*trip) ([]string, error) {
	after, err := runcheck.ReadStock(ctx, c.conn)
	if err != nil {
		return nil, err
	}
	sold := map[string]int{}
	for _, t := range trips {
		if t.id == "" {
			continue
		}
		n := 0
		if t.err == nil {
			n = t.quantity
		}
		sold[t.sku] += n // every SKU ordered gets an entry, so one that sold nothing is checked too
	}
	var lines []string
	for _, sku := range slices.Sorted(maps.Keys(sold)) {
		b, a, n := c.before[sku], after[sku], sold[sku]
		if b.Available-a.Available == n && a.Reserved-b.Reserved == n {
			continue
		}
		lines = append(lines, fmt.Sprintf("stock %s: available %d → %d, reserved %d → %d; completed orders bought %d",
			sku, b.Available, a.Available, b.Reserved, a.Reserved, n))
	}
	return runcheck.WithRest(runcheck.FirstN(lines), len(lines), "SKUs with wrong stock"), nil
}

// onePerOrder checks that table holds exactly one row per order, and that it satisfies
// cond ("" for none). Unique constraints already forbid a second row; this also catches a
// missing one, and keeps holding if a constraint is ever dropped.
func (c *checker) onePerOrder(ctx context.Context, table, cond, what string, ids []string) ([]string, error) {
	filter := "true"
	if cond != "" {
		filter = cond
	}
	rows, err := c.conn.Query(ctx, fmt.Sprintf(`
		SELECT o.id, count(t.order_id), count(t.order_id) FILTER (WHERE %[1]s)
		FROM unnest($1::text[]) AS o(id) LEFT JOIN %[2]s t ON t.order_id = o.id
		GROUP BY o.id
		HAVING count(t.order_id) <> 1 OR count(t.order_id) FILTER (WHERE %[1]s) <> 1
		ORDER BY o.id`, filter, table), ids)
	if err != nil {
		return nil, err
	}
	var lines []string
	var id string
	var n, ok int
	_, err = pgx.ForEachRow(rows, []any{&id, &n, &ok}, func() error {
		line := fmt.Sprintf("order %s: %d %s rows in %s", id, n, what, table)
		if cond != "" {
			line += fmt.Sprintf(", %d with %s", ok, cond)
		}
		lines = append(lines, line+" (want exactly 1)")
		return nil
	})
	return runcheck.WithRest(runcheck.FirstN(lines), len(lines), "orders with a wrong "+what), err
}

// emails checks that each completed order has exactly its confirmation and completion
// email: one of each kind, and nothing else (a cancellation email would be a lie).
func (c *checker) emails(ctx context.Context, ids []string) ([]string, error) {
	rows, err := c.conn.Query(ctx, `
		SELECT o.id, count(n.id), count(n.id) FILTER (WHERE n.kind = $2), count(n.id) FILTER (WHERE n.kind = $3)
		FROM unnest($1::text[]) AS o(id) LEFT JOIN orders.notifications n ON n.order_id = o.id
		GROUP BY o.id
		HAVING count(n.id) <> 2 OR count(n.id) FILTER (WHERE n.kind = $2) <> 1 OR count(n.id) FILTER (WHERE n.kind = $3) <> 1
		ORDER BY o.id`, ids, kindConfirmed, kindCompleted)
	if err != nil {
		return nil, err
	}
	var lines []string
	var id string
	var all, confirmed, done int
	_, err = pgx.ForEachRow(rows, []any{&id, &all, &confirmed, &done}, func() error {
		lines = append(lines, fmt.Sprintf("order %s: %d emails, %d %s, %d %s (want one of each, nothing else)", id, all, confirmed, kindConfirmed, done, kindCompleted))
		return nil
	})
	return runcheck.WithRest(runcheck.FirstN(lines), len(lines), "orders with wrong emails"), err
}

// commitTimes ends each completed trip's measured steps at the commit of the transaction
// that recorded them: the order is at a step once that commits, and the event's
// recorded_at is when the transaction began, which left out the rest of the transaction,
// and the wait for its commit (a review). It needs the server to keep commit timestamps
// (track_commit_timestamp, a server setting); false when it does not, leaving recorded_at.
func (c *checker) commitTimes(ctx context.Context, trips []*trip) (bool, error) {
	var kept string
	if err := c.conn.QueryRow(ctx, `SHOW track_commit_timestamp`).Scan(&kept); err != nil || kept != "on" {
		return false, err
	}
	timed := map[string]*trip{}
	for _, t := range trips {
		if t.err == nil && t.timesErr == nil {
			timed[t.id] = t
		}
	}
	rows, err := c.conn.Query(ctx, `
		SELECT stream_id, event_name, pg_xact_commit_timestamp(xmin)
		FROM events WHERE stream_id = ANY($1) AND event_name = ANY($2)`,
		slices.Collect(maps.Keys(timed)), []string{order.NameInventoryReserved, order.NameShipmentCreated, order.NameOrderCompleted})
	if err != nil {
		return false, err
	}
	at := map[string]map[string]time.Time{}
	var id, name string
	var committed *time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &name, &committed}, func() error {
		if at[id] == nil {
			at[id] = map[string]time.Time{}
		}
		if committed != nil { // nil: committed before the server kept commit timestamps, or frozen since
			at[id][name] = *committed
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	for id, t := range timed {
		e := at[id]
		t.reserved, t.shipped, t.completed = e[order.NameInventoryReserved], e[order.NameShipmentCreated], e[order.NameOrderCompleted]
		if t.reserved.IsZero() || t.shipped.IsZero() || t.completed.IsZero() {
			t.timesErr = fmt.Errorf("order %s: the commit times of its steps are not kept", id)
		}
	}
	return true, nil
}
