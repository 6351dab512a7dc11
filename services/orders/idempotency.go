package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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

// sweepKeysEvery is how often the worker deletes expired keys, and sweepKeysBatch how
// many a statement deletes at most, so a first sweep of a large table holds no long
// transaction.
const (
	sweepKeysEvery = time.Minute
	sweepKeysBatch = 1000
)

// sweepIdempotencyKeys deletes the keys older than ttl, a batch at a time, and returns how
// many it deleted. A key past its time already places a new order (place takes its row
// over); deleting it only keeps the table to a day of keys instead of every key ever sent.
// Replicas may sweep at once: a row deleted twice is deleted once.
func sweepIdempotencyKeys(ctx context.Context, pool *pgxpool.Pool, ttl time.Duration) (int64, error) {
	var swept int64
	for {
		tag, err := pool.Exec(ctx, `
			DELETE FROM orders.idempotency_keys WHERE key IN (
				SELECT key FROM orders.idempotency_keys WHERE created_at < now() - make_interval(secs => $1)
				ORDER BY created_at LIMIT $2)`, ttl.Seconds(), sweepKeysBatch)
		if err != nil {
			return swept, fmt.Errorf("sweep idempotency keys: %w", err)
		}
		swept += tag.RowsAffected()
		if tag.RowsAffected() < sweepKeysBatch {
			return swept, nil
		}
	}
}

// sweepKeys runs sweepIdempotencyKeys every sweepKeysEvery until ctx ends; a failed sweep
// is logged and tried again at the next.
func (s *Service) sweepKeys(ctx context.Context) {
	tick := time.NewTicker(sweepKeysEvery)
	defer tick.Stop()
	for {
		if _, err := sweepIdempotencyKeys(ctx, s.pool, s.idempotencyKeyTTL()); err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "idempotency keys not swept; tried again in a minute", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
