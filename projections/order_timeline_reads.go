package projections

import (
	"context"
	"time"

	"github.com/ordermill/ordermill/eventstore"
)

// TimelineEntry is an order event in words, as a row of orders.order_timeline holds it.
type TimelineEntry struct {
	Position   int64
	Name       string
	Actor      string
	RecordedAt time.Time
	Summary    string
}

// NewestTimelinePosition is the position of the newest event on an order's timeline; 0
// when it has none.
func NewestTimelinePosition(ctx context.Context, q eventstore.Querier, orderID string) (int64, error) {
	var newest int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM orders.order_timeline WHERE order_id = $1`, orderID).Scan(&newest)
	return newest, err
}
