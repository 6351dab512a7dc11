package mailer

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notification is one recorded email and what became of it (Status).
type Notification struct {
	OrderID   string     `json:"orderId"`
	Kind      string     `json:"kind"`
	Recipient string     `json:"recipient"`
	Subject   string     `json:"subject"`
	CreatedAt time.Time  `json:"createdAt"`
	Status    string     `json:"status"`
	SentAt    *time.Time `json:"sentAt,omitempty"` // when it was sent, or settled unsent (no address)
	Error     *string    `json:"error,omitempty"`
	Attempts  int        `json:"attempts"`
	RetryAt   *time.Time `json:"retryAt,omitempty"`
}

// What became of an email (Notification.Status).
const (
	StatusQueued   = "queued"   // waiting for its first try, or being sent
	StatusDeferred = "deferred" // the server did not take it; tried again at RetryAt
	StatusSent     = "sent"     // handed to the mail server, or logged when none is configured
	StatusNotSent  = "not_sent" // the order has no email address: recorded, never sent
	StatusFailed   = "failed"   // refused for good (Error)
)

// status is what became of n, from its row.
func (n Notification) status() string {
	switch {
	case n.SentAt != nil && n.Recipient == "":
		return StatusNotSent
	case n.SentAt != nil:
		return StatusSent
	case n.RetryAt != nil:
		return StatusDeferred
	case n.Error != nil:
		return StatusFailed
	}
	return StatusQueued
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
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notification, error) {
		var n Notification
		err := row.Scan(&n.OrderID, &n.Kind, &n.Recipient, &n.Subject, &n.CreatedAt, &n.SentAt, &n.Error, &n.Attempts, &n.RetryAt)
		n.Status = n.status()
		return n, err
	})
}
