package sagas_test

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/sagas"
)

// emails is the saga tests' outbox: it keeps every email the runner records, by order
// and kind. The real one (services/orders/mailer) keeps one row per order and kind in the
// step's transaction; its own test checks that.
type emails struct {
	mu       sync.Mutex
	recorded map[[2]string][]sagas.Notify
}

func (e *emails) Record(_ context.Context, _ pgx.Tx, orderID string, n sagas.Notify) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.recorded == nil {
		e.recorded = map[[2]string][]sagas.Notify{}
	}
	key := [2]string{orderID, n.Kind}
	e.recorded[key] = append(e.recorded[key], n)
	return nil
}

// kinds lists the kinds of email recorded for orderID, each once.
func (e *emails) kinds(orderID string) map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]bool{}
	for key := range e.recorded {
		if key[0] == orderID {
			out[key[1]] = true
		}
	}
	return out
}
