package projections

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// OrderSummaries keeps orders.order_summaries, one row per order for lists and filters;
// orders.orders_by_status, the index of the orders by status (sql/00074: a step then
// rewrites a summary row without touching its indexes); and orders.order_counts, the
// overview's counters of those rows (kept by a trigger on order_summaries; a rebuild
// counts once, at the end).
var OrderSummaries = Projection{
	Name:        "projection.order_summaries",
	StreamTypes: []string{orderstream.StreamType},
	Tables: []Table{{Name: "order_summaries", Position: "last_position"}, {Name: "orders_by_status"},
		{Name: "order_counts", Void: "n = 0"}},
	ApplyBatch: updateOrderSummaries,
	rows:       func() rows { return &summaryRows{latest: map[string]*OrderAt{}} },
	needsState: true,
	finish:     countOrderSummaries,
}

// updateOrderSummaries upserts the row of every order the events touch from its current
// state (its snapshot: the aggregate's own Apply decided the status, so no status logic is
// repeated here), all in one statement. The state may already be newer than the events:
// the row then records the newest event it reflects, so the events in between, when they
// arrive, change nothing, and a row never goes back to an older state. An order the
// command path refuses (orderstream.LoadEach: a newer release's event, and its snapshot in
// a layout this release does not read) is folded from its stream without that event, as a
// rebuild folds it: its row shows it as far as this release knows it, from the history
// LoadEach read to refuse it, which is not read again. Refused, it failed the batch, taken
// again for ever, and every read model stood still behind it.
func updateOrderSummaries(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error {
	ids := make([]string, len(events))
	for i, r := range events {
		ids[i] = r.StreamID
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	current, refused, err := orderstream.LoadEach(ctx, tx, ids)
	if err != nil {
		return err
	}
	for id, r := range refused {
		current[id] = r.History.Current()
	}
	out := &summaryRows{latest: map[string]*OrderAt{}}
	for id, c := range current {
		out.latest[id] = &OrderAt{Order: *c.Order, Position: c.Position}
	}
	return out.write(ctx, tx, Schema, false)
}

// summaryRows collects the newest state of every order met, one row each.
type summaryRows struct {
	latest map[string]*OrderAt
}

func (s *summaryRows) add(_ eventstore.Recorded, _ order.Event, o *OrderAt) {
	s.latest[o.ID] = o
}

// write upserts the rows in order id order, so a rebuild's writer and the live consumer
// cannot deadlock on them, and, in the same statement, the orders_by_status row of every
// summary written whose status, total, risk or customer is new there; in the live schema, after
// locking the counters.
func (s *summaryRows) write(ctx context.Context, tx pgx.Tx, schema string, _ bool) error {
	var c summaryColumns
	for _, id := range slices.Sorted(maps.Keys(s.latest)) {
		// An order placed by an event this release does not know (a newer release's) is
		// folded without an id: nothing of it is known to list.
		if o := s.latest[id]; o.ID != "" {
			c.add(o)
		}
	}
	clear(s.latest)
	if len(c.id) == 0 {
		return nil
	}
	if schema == Schema {
		// The live table's trigger counts the rows in orders.order_counts: an upsert fires
		// the UPDATE trigger, then the INSERT trigger, each locking its counters in key
		// order, but not the two together, and two replicas' batches deadlocked (a probe).
		// Every counter the triggers may touch is locked first, in key order, in one
		// statement (ON CONFLICT DO UPDATE locks the row even when its WHERE is false, and
		// makes one missing at 0): locks taken in one order cannot deadlock, and the
		// triggers then wait for nothing. Queued, as every write of the projections
		// (QueueWrites), it goes with the batch's commit.
		dims, buckets := countersTouched(&c)
		if _, err := tx.Exec(ctx, `
			INSERT INTO orders.order_counts AS c (dimension, bucket, n)
			SELECT * , 0 FROM unnest($1::text[], $2::text[]) ORDER BY 1, 2
			ON CONFLICT (dimension, bucket) DO UPDATE SET n = c.n WHERE false`, dims, buckets); err != nil {
			return fmt.Errorf("lock the order counts: %w", err)
		}
	}
	_, err := tx.Exec(ctx, `
		WITH written AS (
			INSERT INTO `+table(schema, "order_summaries")+` AS s (order_id, status, customer_id, customer_email, new_customer,
				total_cents, currency, item_count, risk_score, cancel_reason, created_at, updated_at, last_position)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bigint[], $7::text[],
				$8::int[], $9::int[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::bigint[])
			ON CONFLICT (order_id) DO UPDATE SET
				status = excluded.status, risk_score = excluded.risk_score, cancel_reason = excluded.cancel_reason,
				updated_at = excluded.updated_at, last_position = excluded.last_position
			WHERE s.last_position < excluded.last_position
			RETURNING order_id, status, created_at, total_cents, risk_score, customer_id
		)
		INSERT INTO `+table(schema, "orders_by_status")+` AS b (order_id, status, created_at, total_cents, risk_score, customer_id)
		SELECT order_id, status, created_at, total_cents, risk_score, customer_id FROM written ORDER BY order_id
		ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, total_cents = excluded.total_cents, risk_score = excluded.risk_score,
			customer_id = excluded.customer_id
		WHERE (b.status, b.total_cents, b.risk_score, b.customer_id) IS DISTINCT FROM
			(excluded.status, excluded.total_cents, excluded.risk_score, excluded.customer_id)`,
		c.id, c.status, c.customerID, c.email, c.newCustomer, c.total, c.currency,
		c.items, c.risk, c.cancelReason, c.created, c.updated, c.position)
	if err != nil {
		return fmt.Errorf("upsert order summaries: %w", err)
	}
	return nil
}

// countersTouched names every counter writing rows c may change (orders.order_count_buckets
// of each row before and after): every status, since the row's status before is not read
// (reading it cost more than locking them all, 4 % of the CPU an order), every risk band
// (a risk score is set once, from none), and the hours the rows were placed in, which an
// update keeps.
func countersTouched(c *summaryColumns) (dims, buckets []string) {
	for _, st := range order.Statuses() {
		dims, buckets = append(dims, "status"), append(buckets, string(st))
	}
	for band := range 10 {
		dims, buckets = append(dims, "risk"), append(buckets, strconv.Itoa(band))
	}
	hours := map[string]bool{}
	for _, at := range c.created {
		hours[at.UTC().Format(HourBucket)] = true
	}
	for _, h := range slices.Sorted(maps.Keys(hours)) {
		dims, buckets = append(dims, "hour"), append(buckets, h)
	}
	return dims, buckets
}

// countOrderSummaries fills the counters of a rebuilt order_summaries, once, through the
// buckets its trigger uses (orders.order_count_buckets).
func countOrderSummaries(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO `+table(schema, "order_counts")+` (dimension, bucket, n)
		SELECT b.dimension, b.bucket, count(*) FROM `+table(schema, "order_summaries")+` s,
			orders.order_count_buckets(s.status, s.risk_score, s.created_at) b
		GROUP BY 1, 2`)
	if err != nil {
		return fmt.Errorf("count order summaries: %w", err)
	}
	return nil
}

// summaryColumns holds order_summaries rows column by column, as unnest takes them.
type summaryColumns struct {
	id, status, customerID, email, currency, cancelReason []string
	newCustomer                                           []bool
	total, position                                       []int64
	items                                                 []int
	risk                                                  []*int
	created, updated                                      []time.Time
}

func (r *summaryColumns) add(o *OrderAt) {
	r.id, r.status = append(r.id, o.ID), append(r.status, string(o.Status))
	r.customerID, r.email = append(r.customerID, o.CustomerID), append(r.email, o.CustomerEmail)
	r.newCustomer, r.total = append(r.newCustomer, o.NewCustomer), append(r.total, int64(o.Total))
	r.currency, r.items = append(r.currency, o.Currency), append(r.items, itemCount(o.Items))
	r.risk, r.cancelReason = append(r.risk, o.RiskScore), append(r.cancelReason, string(o.CancelReason))
	r.created, r.updated = append(r.created, o.PlacedAt), append(r.updated, o.UpdatedAt)
	r.position = append(r.position, o.Position)
}
