package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
)

// OrderSummaries keeps orders.order_summaries: one row per order for lists and filters.
var OrderSummaries = Projection{
	Name:        "projection.order_summaries",
	StreamTypes: []string{orderstream.StreamType},
	Tables:      []string{"orders.order_summaries"},
	Apply:       updateOrderSummary,
}

// updateOrderSummary upserts the order's row from its current state (its snapshot: the
// aggregate's own Apply decided the status, so no status logic is repeated here). The
// state may already be newer than r: the row then records the newest event it reflects,
// so the events in between, when they arrive, change nothing, and a row never goes back
// to an older state.
func updateOrderSummary(ctx context.Context, tx pgx.Tx, r eventstore.Recorded) error {
	o, position, err := orderstream.LoadWithPosition(ctx, tx, r.StreamID)
	if err != nil {
		return err
	}
	items := 0
	for _, it := range o.Items {
		items += it.Quantity
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO orders.order_summaries (order_id, status, customer_id, customer_email, new_customer,
			total_cents, currency, item_count, risk_score, cancel_reason, created_at, updated_at, last_position)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (order_id) DO UPDATE SET
			status = excluded.status, risk_score = excluded.risk_score, cancel_reason = excluded.cancel_reason,
			updated_at = excluded.updated_at, last_position = excluded.last_position
		WHERE orders.order_summaries.last_position < excluded.last_position`,
		o.ID, string(o.Status), o.CustomerID, o.CustomerEmail, o.NewCustomer, int64(o.Total), o.Currency,
		items, o.RiskScore, string(o.CancelReason), o.PlacedAt, o.UpdatedAt, position)
	if err != nil {
		return fmt.Errorf("upsert order summary %s: %w", o.ID, err)
	}
	return nil
}
