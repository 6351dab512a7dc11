package sagas

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Outbox records the emails the workflow decides to send, in the transaction of the step
// that decides them, for a sender to deliver later (services/orders/mailer). A message
// handled twice records the same email twice: Record keeps one per order and kind.
type Outbox interface {
	Record(ctx context.Context, tx pgx.Tx, orderID string, n Notify) error
}
