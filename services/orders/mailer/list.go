package mailer

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notification is one recorded email and what became of it: sent, failed (Error, and no
// RetryAt), or waiting (for its first try, or with RetryAt for the next one after Error).
type Notification struct {
	OrderID   string     `json:"orderId"`
	Kind      string     `json:"kind"`
	Recipient string     `json:"recipient"`
	Subject   string     `json:"subject"`
	CreatedAt time.Time  `json:"createdAt"`
	SentAt    *time.Time `json:"sentAt,omitempty"`
	Error     *string    `json:"error,omitempty"`
	Attempts  int        `json:"attempts"`
	RetryAt   *time.Time `json:"retryAt,omitempty"`
}

// ForOrder reads the emails recorded for an order, oldest first.
func (s *Outbox) ForOrder(ctx context.Context, orderID string) ([]Notification, error) {
	// Only an email back in the queue waits for its retry_at: a release before retries
	// (during a rolling upgrade) claims and settles emails without clearing it.
	rows, err := s.pool.Query(ctx, `SELECT order_id, kind, recipient, subject, created_at, sent_at, error, attempts,
			CASE WHEN claimed_at IS NULL THEN retry_at END
		FROM orders.notifications WHERE order_id = $1 ORDER BY id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Notification])
}
