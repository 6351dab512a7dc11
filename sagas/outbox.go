package sagas

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Outbox records the emails the workflow decides to send, in the transaction of the step
// that decides them, for a sender to deliver later (services/orders/mailer).
type Outbox interface {
	Record(ctx context.Context, tx pgx.Tx, orderID string, n Notify) error
}

// WithOutbox makes the runner record its Notify effects in outbox. A runner without one
// records no emails (the saga's own tests and benchmarks, which do not send any).
func (r *Runner) WithOutbox(outbox Outbox) *Runner {
	r.outbox = outbox
	return r
}
