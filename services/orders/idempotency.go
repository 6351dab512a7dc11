package orders

import (
	"time"

	"github.com/ordermill/ordermill/eventstore/retention"
)

// DefaultIdempotencyKeyTTL is how long an Idempotency-Key names its order
// (IDEMPOTENCY_KEY_TTL), as long as Stripe keeps one: a client's retries come within
// minutes, and a day later the same key places a new order.
const DefaultIdempotencyKeyTTL = 24 * time.Hour

// idempotencyKeyTTL is how long a key names its order.
func (s *Service) idempotencyKeyTTL() time.Duration {
	if s.cfg.IdempotencyKeyTTL > 0 {
		return s.cfg.IdempotencyKeyTTL
	}
	return DefaultIdempotencyKeyTTL
}

// idempotencyKeys expire IDEMPOTENCY_KEY_TTL after their placement (sql/00087). A key
// past its time already places a new order (place takes its row over); deleting it only
// keeps the table to a day of keys instead of every key ever sent. A key taken over while
// the sweep runs is kept, dated by its new placement: deleted, the retry of that placement
// placed a second order (TestAKeyTakenOverWhileSweptNamesItsOrder).
var idempotencyKeys = retention.Table{Name: "orders.idempotency_keys", Key: "key", Time: "created_at"}
