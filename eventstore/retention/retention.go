// Package retention deletes the rows of a table once they are past their time: oldest
// first, a batch at a time, through an index on their time, so that a table a service
// needs only for a while holds that while, not its whole history.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Every is how often Keep sweeps, and Batch how many rows a statement deletes at most, so
// that the first sweep of a large table (a release that starts sweeping one kept for
// ever) holds no long transaction and no long lock.
const (
	Every = time.Minute
	Batch = 1000
)

// Table is a table whose rows expire: Name (schema-qualified), its key column Key, and
// Time, the column its rows are dated by, which an index of the table must lead with, or
// each sweep reads the whole table.
type Table struct {
	Name, Key, Time string
}

// Statement is the delete of one batch: at most $2 rows older than $1 seconds on the
// database's clock (one clock for every replica), oldest first. The batch's keys are
// gathered first (ARRAY) and each row deleted by its key: as "key IN (batch)", the planner
// joined the batch with a read of the whole table once it had a few thousand rows. The
// plan tests EXPLAIN it.
func (t Table) Statement() string {
	return `DELETE FROM ` + t.Name + ` WHERE ` + t.Key + ` = ANY (ARRAY(
		SELECT ` + t.Key + ` FROM ` + t.Name + ` WHERE ` + t.Time + ` < now() - make_interval(secs => $1)
		ORDER BY ` + t.Time + ` LIMIT $2))`
}

// Sweep deletes the rows of t older than ttl, a batch at a time, and returns how many it
// deleted. Replicas may sweep at once: a row deleted twice is deleted once.
func (t Table) Sweep(ctx context.Context, pool *pgxpool.Pool, ttl time.Duration) (int64, error) {
	var swept int64
	for {
		tag, err := pool.Exec(ctx, t.Statement(), ttl.Seconds(), Batch)
		if err != nil {
			return swept, fmt.Errorf("sweep %s: %w", t.Name, err)
		}
		swept += tag.RowsAffected()
		if tag.RowsAffected() < Batch {
			return swept, nil
		}
	}
}

// Keep runs Sweep at once and then every Every until ctx ends; a failed sweep is logged
// and tried again at the next.
func (t Table) Keep(ctx context.Context, pool *pgxpool.Pool, ttl time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(Every)
	defer tick.Stop()
	for {
		if _, err := t.Sweep(ctx, pool, ttl); err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "expired rows not swept; tried again in a minute", "table", t.Name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
