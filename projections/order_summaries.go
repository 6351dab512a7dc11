package projections

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// OrderSummaries keeps orders.order_summaries: one row per order for lists and filters.
var OrderSummaries = Projection{
	Name:        "projection.order_summaries",
	StreamTypes: []string{orderstream.StreamType},
	Tables:      []string{"orders.order_summaries"},
	ApplyBatch:  updateOrderSummaries,
}

// updateOrderSummaries upserts the row of every order the events touch from its current
// state (its snapshot: the aggregate's own Apply decided the status, so no status logic is
// repeated here), all in one statement. The state may already be newer than the events:
// the row then records the newest event it reflects, so the events in between, when they
// arrive, change nothing, and a row never goes back to an older state. Rows are written
// in order id order, so a rebuild running beside the live consumer cannot deadlock with it.
func updateOrderSummaries(ctx context.Context, tx pgx.Tx, events []eventstore.Recorded) error {
	ids := make([]string, len(events))
	for i, r := range events {
		ids[i] = r.StreamID
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	current, err := orderstream.LoadMany(ctx, tx, ids)
	if err != nil {
		return err
	}
	var rows summaryRows
	for _, id := range ids {
		if c, ok := current[id]; ok {
			rows.add(c.Order, c.Position)
		}
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO orders.order_summaries (order_id, status, customer_id, customer_email, new_customer,
			total_cents, currency, item_count, risk_score, cancel_reason, created_at, updated_at, last_position)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bigint[], $7::text[],
			$8::int[], $9::int[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::bigint[])
		ON CONFLICT (order_id) DO UPDATE SET
			status = excluded.status, risk_score = excluded.risk_score, cancel_reason = excluded.cancel_reason,
			updated_at = excluded.updated_at, last_position = excluded.last_position
		WHERE orders.order_summaries.last_position < excluded.last_position`,
		rows.id, rows.status, rows.customerID, rows.email, rows.newCustomer, rows.total, rows.currency,
		rows.items, rows.risk, rows.cancelReason, rows.created, rows.updated, rows.position)
	if err != nil {
		return fmt.Errorf("upsert order summaries: %w", err)
	}
	return nil
}

// summaryRows holds order_summaries rows column by column, as unnest takes them.
type summaryRows struct {
	id, status, customerID, email, currency, cancelReason []string
	newCustomer                                           []bool
	total, position                                       []int64
	items                                                 []int
	risk                                                  []*int
	created, updated                                      []time.Time
}

func (r *summaryRows) add(o *order.Order, position int64) {
	r.id, r.status = append(r.id, o.ID), append(r.status, string(o.Status))
	r.customerID, r.email = append(r.customerID, o.CustomerID), append(r.email, o.CustomerEmail)
	r.newCustomer, r.total = append(r.newCustomer, o.NewCustomer), append(r.total, int64(o.Total))
	r.currency, r.items = append(r.currency, o.Currency), append(r.items, itemCount(o.Items))
	r.risk, r.cancelReason = append(r.risk, o.RiskScore), append(r.cancelReason, string(o.CancelReason))
	r.created, r.updated = append(r.created, o.PlacedAt), append(r.updated, o.UpdatedAt)
	r.position = append(r.position, position)
}
