package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/eventstore"
)

// TimelineEntry is one row of orders.order_timeline: an order event in words.
type TimelineEntry struct {
	Position   int64
	Name       string
	Actor      string
	RecordedAt time.Time
	Summary    string
}

// Timeline reads an order's timeline, oldest first.
func Timeline(ctx context.Context, q eventstore.Querier, orderID string) ([]TimelineEntry, error) {
	rows, err := q.Query(ctx, `SELECT position, name, actor, recorded_at, summary
		FROM orders.order_timeline WHERE order_id = $1 ORDER BY position`, orderID)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[TimelineEntry])
}

// NewestTimelinePosition is the position of the newest event on an order's timeline; 0
// when it has none.
func NewestTimelinePosition(ctx context.Context, q eventstore.Querier, orderID string) (int64, error) {
	var newest int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM orders.order_timeline WHERE order_id = $1`, orderID).Scan(&newest)
	return newest, err
}
