package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/cmd/internal/runcheck"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/sagas"
)

// effects is what one order must have left in the services' tables, by the status its
// script ends in.
type effects struct {
	reservation string   // warehouse.reservations status, "" for no row
	session     bool     // a row in payments.sessions
	shipment    bool     // a row in delivery.shipments
	emails      []string // orders.notifications kinds, sorted
	tickets     []string // support ticket kinds on the order
	sold        bool     // its units stay reserved in warehouse.stock
}

func expected(s order.Status) effects {
	switch s {
	case order.StatusRejected:
		return effects{emails: []string{sagas.KindOrderRejected}}
	case order.StatusCancelled:
		return effects{reservation: "released", session: true, emails: sorted(sagas.KindOrderConfirmed, sagas.KindOrderCancelled)}
	case order.StatusDeliveryFailed:
		return effects{reservation: "reserved", session: true, shipment: true, emails: []string{sagas.KindOrderConfirmed},
			tickets: []string{sagas.TicketDeliveryFailed}, sold: true}
	default:
		return effects{reservation: "reserved", session: true, shipment: true, emails: sorted(sagas.KindOrderConfirmed, sagas.KindOrderCompleted), sold: true}
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// found is what an order did leave.
type found struct {
	reservations []string
	sessions     int
	shipments    int
	emails       []string
}

// check returns one line per violation, printing them as it goes.
func check(ctx context.Context, db *pgxpool.Pool, trips []*trip, before map[string]runcheck.StockLevel, out io.Writer) []string {
	var problems []string
	add := func(lines ...string) {
		for _, l := range lines {
			fmt.Fprintln(out, "check failed:", l)
		}
		problems = append(problems, lines...)
	}
	var ids []string
	byID := map[string]*trip{}
	failed := 0
	for _, t := range trips {
		if t.err != nil {
			if failed++; failed <= runcheck.MaxLines {
				add(fmt.Sprintf("order #%d %s (%s): %v", t.seq, t.id, t.script, t.err))
			}
		}
		if t.id != "" {
			ids = append(ids, t.id)
			byID[t.id] = t
		}
	}
	if failed > runcheck.MaxLines {
		add(fmt.Sprintf("… and %d more orders did not end as their script said (%d in all)", failed-runcheck.MaxLines, failed))
	}
	settle(ctx, db, trips)

	// Each order placed once: a retried create whose first attempt went through must
	// answer with that order (Idempotency-Key), not place a second one.
	var extra []string
	if err := db.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT stream_id), '{}') FROM events
		WHERE stream_type = 'order' AND NOT stream_id = ANY($1)`, ids).Scan(&extra); err != nil {
		add("could not count the orders: " + err.Error())
	} else if len(extra) > 0 {
		add(fmt.Sprintf("%d orders in the log that no client placed (a retried create placed twice?): %v", len(extra), runcheck.FirstN(extra)))
	}

	// Every stream is a legal path and ends where its script said.
	histories, err := loadHistories(ctx, db, ids)
	if err != nil {
		add("could not read the order streams: " + err.Error())
		return problems
	}
	var wrong []string
	for _, id := range ids {
		t := byID[id]
		events := histories[id]
		if err := order.CheckHistory(events); err != nil {
			wrong = append(wrong, fmt.Sprintf("order %s (%s): not a legal history: %v", id, t.script, err))
			continue
		}
		o := order.Rehydrate(events)
		if o.Status != t.script.want() {
			wrong = append(wrong, fmt.Sprintf("order %s (%s): ended %s, want %s", id, t.script, o.Status, t.script.want()))
		}
		if w := expected(t.script.want()).tickets; !slices.Equal(sorted(o.SupportTickets...), w) {
			wrong = append(wrong, fmt.Sprintf("order %s (%s): support tickets %v, want %v", id, t.script, o.SupportTickets, w))
		}
	}
	add(runcheck.WithRest(runcheck.FirstN(wrong), len(wrong), "orders with a wrong history")...)

	// Each effect exactly once, or not at all.
	left, err := effectsOf(ctx, db, ids)
	if err != nil {
		add("could not read the effects: " + err.Error())
		return problems
	}
	wrong = nil
	for _, id := range ids {
		t := byID[id]
		want, got := expected(t.script.want()), left[id]
		wantRes := []string{}
		if want.reservation != "" {
			wantRes = []string{want.reservation}
		}
		if !slices.Equal(got.reservations, wantRes) {
			wrong = append(wrong, fmt.Sprintf("order %s (%s): reservations %v, want %v", id, t.script, got.reservations, wantRes))
		}
		if got.sessions != b2i(want.session) {
			wrong = append(wrong, fmt.Sprintf("order %s (%s): %d payment sessions, want %d", id, t.script, got.sessions, b2i(want.session)))
		}
		if got.shipments != b2i(want.shipment) {
			wrong = append(wrong, fmt.Sprintf("order %s (%s): %d shipments, want %d", id, t.script, got.shipments, b2i(want.shipment)))
		}
		if !slices.Equal(got.emails, want.emails) {
			wrong = append(wrong, fmt.Sprintf("order %s (%s): emails %v, want %v", id, t.script, got.emails, want.emails))
		}
	}
	add(runcheck.WithRest(runcheck.FirstN(wrong), len(wrong), "orders with wrong effects")...)

	// Stock: down by exactly what was sold, whatever was reserved and released on the way.
	after, err := runcheck.ReadStock(ctx, db)
	if err != nil {
		add(err.Error())
	} else {
		sold := map[string]int{}
		for _, t := range trips {
			if t.id == "" {
				continue
			}
			n := 0
			if expected(t.script.want()).sold {
				n = t.quantity
			}
			sold[t.sku] += n
		}
		wrong = nil
		for _, sku := range slices.Sorted(maps.Keys(sold)) {
			b, a, n := before[sku], after[sku], sold[sku]
			if b.Available-a.Available != n || a.Reserved-b.Reserved != n {
				wrong = append(wrong, fmt.Sprintf("stock %s: available %d → %d, reserved %d → %d; sold %d", sku, b.Available, a.Available, b.Reserved, a.Reserved, n))
			}
		}
		add(runcheck.WithRest(runcheck.FirstN(wrong), len(wrong), "SKUs with wrong stock")...)
	}

	for what, f := range map[string]func() ([]string, error){
		"dead letters":      func() ([]string, error) { return runcheck.DeadLetters(ctx, db, 0) },
		"duplicated events": func() ([]string, error) { return runcheck.DuplicateEvents(ctx, db, ids) },
	} {
		lines, err := f()
		if err != nil {
			lines = append(lines, fmt.Sprintf("could not check %s: %v", what, err))
		}
		add(lines...)
	}
	return problems
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// settle waits (up to a minute) for the workflow's trailing effects: an order's last
// email and a cancelled order's release follow the status the client saw, a few hops on.
func settle(ctx context.Context, db *pgxpool.Pool, trips []*trip) {
	var ids []string
	emails, releases := 0, 0
	for _, t := range trips {
		if t.id == "" {
			continue
		}
		ids = append(ids, t.id)
		e := expected(t.script.want())
		emails += len(e.emails)
		if e.reservation == "released" {
			releases++
		}
	}
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		var n, r int
		err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders.notifications WHERE order_id = ANY($1)),
			(SELECT count(*) FROM warehouse.reservations WHERE order_id = ANY($1) AND status = 'released')`, ids).Scan(&n, &r)
		if err == nil && n >= emails && r >= releases {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// loadHistories reads and decodes every order stream, checking that versions run 1, 2, 3….
func loadHistories(ctx context.Context, db *pgxpool.Pool, ids []string) (map[string][]order.Event, error) {
	rows, err := db.Query(ctx, `SELECT stream_id, stream_version, event_name, payload FROM events
		WHERE stream_id = ANY($1) ORDER BY stream_id, stream_version`, ids)
	if err != nil {
		return nil, err
	}
	out := map[string][]order.Event{}
	var id, name string
	var version int
	var payload []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &version, &name, &payload}, func() error {
		if version != len(out[id])+1 {
			return fmt.Errorf("stream %s: version %d after %d events", id, version, len(out[id]))
		}
		e, err := order.Decode(name, payload)
		if err != nil {
			return fmt.Errorf("stream %s version %d: %w", id, version, err)
		}
		out[id] = append(out[id], e)
		return nil
	})
	return out, err
}

// effectsOf reads every order's rows in the services' tables.
func effectsOf(ctx context.Context, db *pgxpool.Pool, ids []string) (map[string]found, error) {
	rows, err := db.Query(ctx, `
		SELECT o.id,
			coalesce((SELECT array_agg(status ORDER BY status) FROM warehouse.reservations r WHERE r.order_id = o.id), '{}'),
			(SELECT count(*) FROM payments.sessions s WHERE s.order_id = o.id),
			(SELECT count(*) FROM delivery.shipments s WHERE s.order_id = o.id),
			coalesce((SELECT array_agg(kind ORDER BY kind) FROM orders.notifications n WHERE n.order_id = o.id), '{}')
		FROM unnest($1::text[]) AS o(id)`, ids)
	if err != nil {
		return nil, err
	}
	out := map[string]found{}
	var id string
	var f found
	_, err = pgx.ForEachRow(rows, []any{&id, &f.reservations, &f.sessions, &f.shipments, &f.emails}, func() error {
		out[id] = found{reservations: slices.Clone(f.reservations), sessions: f.sessions, shipments: f.shipments, emails: slices.Clone(f.emails)}
		return nil
	})
	return out, err
}

// emailsInDoubt counts the run's emails claimed by a sender that never recorded what
// became of them.
func emailsInDoubt(ctx context.Context, db *pgxpool.Pool, trips []*trip) (int, error) {
	var ids []string
	for _, t := range trips {
		if t.id != "" {
			ids = append(ids, t.id)
		}
	}
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM orders.notifications
		WHERE order_id = ANY($1) AND claimed_at IS NOT NULL AND sent_at IS NULL AND error IS NULL`, ids).Scan(&n)
	return n, err
}
