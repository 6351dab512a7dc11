// Package runcheck holds the database checks that loadgen (after a benchmark) and chaos
// (after a crash test) both make: what a run may never leave behind, whatever its orders
// were meant to do. Each check returns one line per problem, bounded to MaxLines with a
// count of the rest, so a broken run prints a readable report.
package runcheck

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
)

// MaxLines bounds the lines one check reports; the count of the rest follows.
const MaxLines = 10

// Querier is what the checks need of a connection or a pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// StockLevel is one SKU's row of warehouse.stock.
type StockLevel struct{ Available, Reserved int }

// ReadStock reads every SKU's stock.
func ReadStock(ctx context.Context, q Querier) (map[string]StockLevel, error) {
	rows, err := q.Query(ctx, `SELECT sku, available, reserved FROM warehouse.stock`)
	if err != nil {
		return nil, fmt.Errorf("read warehouse.stock: %w", err)
	}
	stock := map[string]StockLevel{}
	var sku string
	var l StockLevel
	_, err = pgx.ForEachRow(rows, []any{&sku, &l.Available, &l.Reserved}, func() error {
		stock[sku] = l
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read warehouse.stock: %w", err)
	}
	return stock, nil
}

// DeadLetterMark is the id of the last dead letter stored so far (0 for none): a run
// that reads it first counts only the dead letters stored after it (DeadLetters).
func DeadLetterMark(ctx context.Context, q Querier) (int64, error) {
	rows, err := q.Query(ctx, `SELECT coalesce(max(id), 0) FROM dead_letters`)
	if err != nil {
		return 0, fmt.Errorf("read dead_letters: %w", err)
	}
	mark, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("read dead_letters: %w", err)
	}
	return mark, nil
}

// DeadLetters: a dead letter is a message some consumer gave up on, whatever the orders
// show. Only those stored after mark (DeadLetterMark) count: a run on a database used
// before is not blamed for the letters of the runs before it.
func DeadLetters(ctx context.Context, q Querier, mark int64) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT topic, consumer_group, error, count(*) OVER () FROM dead_letters WHERE id > $1 ORDER BY id LIMIT 3`, mark)
	if err != nil {
		return nil, err
	}
	var lines []string
	total := 0
	var topic, group, msg string
	_, err = pgx.ForEachRow(rows, []any{&topic, &group, &msg, &total}, func() error {
		lines = append(lines, fmt.Sprintf("dead letter on %s (%s): %.200s", topic, group, msg))
		return nil
	})
	return WithRest(lines, total, "dead letters"), err
}

// DuplicateEvents looks for an event recorded twice in the streams of the given orders
// (order, reservation, payment session and shipment streams): the sign of a redelivered
// message handled twice. Two events may legitimately repeat on an order: a courier status
// update (in transit, then delivered) and a support ticket, once per kind.
func DuplicateEvents(ctx context.Context, q Querier, orderIDs []string) ([]string, error) {
	streams := make([]string, 0, 4*len(orderIDs))
	for _, id := range orderIDs {
		streams = append(streams, id, inventory.StreamID(id), payment.StreamID(id), shipping.StreamID(id))
	}
	rows, err := q.Query(ctx, `
		SELECT stream_id, event_name, count(*)
		FROM events
		WHERE stream_id = ANY($1) AND event_name <> $2
		GROUP BY stream_id, event_name, CASE WHEN event_name = $3 THEN payload->>'kind' END
		HAVING count(*) > 1
		ORDER BY stream_id, event_name`, streams, order.NameDeliveryStatusUpdated, order.NameSupportTicketOpened)
	if err != nil {
		return nil, err
	}
	var lines []string
	var stream, name string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&stream, &name, &n}, func() error {
		lines = append(lines, fmt.Sprintf("stream %s: %s recorded %d times", stream, name, n))
		return nil
	})
	return WithRest(FirstN(lines), len(lines), "duplicated events"), err
}

// FirstN keeps the first MaxLines lines.
func FirstN(lines []string) []string { return lines[:min(len(lines), MaxLines)] }

// WithRest appends "… and N more" when shown holds fewer than total problems.
func WithRest(shown []string, total int, what string) []string {
	if rest := total - len(shown); rest > 0 {
		shown = append(shown, fmt.Sprintf("… and %d more %s (%d in all)", rest, what, total))
	}
	return shown
}
