// Package retention deletes the rows of a table once they are past their time: oldest
// first, a batch at a time, through an index on their time, so that a table a service
// needs only for a while holds that while, not its whole history. Its Metrics count
// every periodic delete of a process on /metrics, by table, these sweeps and the others.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermill/ordermill/eventstore/metrics"
)

// Every is how often Keep sweeps, and Batch how many rows a statement deletes at most, so
// that the first sweep of a large table (a release that starts sweeping one kept for
// ever) holds no long transaction and no long lock.
const (
	Every = time.Minute
	Batch = 1000
)

// Table is a table whose rows expire: Name (schema-qualified), its key column Key (ctid
// for a table keyed by several columns, which "(a, b) = ANY" finds by reading the whole
// table: each row is then deleted where the batch found it, by a TID scan), and Time, the
// column its rows are dated by, which an index of the table must lead with, or each
// sweep reads the whole table.
type Table struct {
	Name, Key, Time string
}

// Statement is the delete of one batch: at most $2 rows older than $1 seconds on the
// database's clock (one clock for every replica), oldest first. The batch's keys are
// gathered first (ARRAY) and each row deleted by its key: as "key IN (batch)", the planner
// joined the batch with a read of the whole table once it had a few thousand rows. The
// plan tests EXPLAIN it.
//
// The batch is locked as it is gathered, and a row another transaction holds is left to
// the next sweep (SKIP LOCKED): an update may date a row anew (a key spent again, an
// expired idempotency key taken over, a sign-in throttle charged again), and the delete
// found such a row by its key, as the sweep's snapshot had it, and deleted it young. A
// row updated and committed since the sweep began is locked as it now is, and gathered
// only if it is still old (keyed by ctid, it is gathered by its new version's ctid,
// which the delete's snapshot does not see: it stays, for the next sweep). The delete
// checks no time itself: the planner then walked the index on the time with the batch as
// a filter, every row past its time, wherever it judged few were. And a sweep never
// waits for a placement or a sign-in, nor for a replica's sweep, which takes the next
// rows.
func (t Table) Statement() string {
	return `DELETE FROM ` + t.Name + ` WHERE ` + t.Key + ` = ANY (ARRAY(
		SELECT ` + t.Key + ` FROM ` + t.Name + ` WHERE ` + t.Time + ` < now() - make_interval(secs => $1)
		ORDER BY ` + t.Time + ` LIMIT $2 FOR UPDATE SKIP LOCKED))`
}

// Sweep deletes the rows of t older than ttl, a batch at a time, and returns how many it
// deleted. Replicas may sweep at once: each deletes the rows the others do not hold.
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
// and tried again at the next. m counts what each sweep did.
func (t Table) Keep(ctx context.Context, pool *pgxpool.Pool, ttl time.Duration, logger *slog.Logger, m *Metrics) {
	sweeps := m.Of(t.Name)
	tick := time.NewTicker(Every)
	defer tick.Stop()
	for {
		n, err := t.Sweep(ctx, pool, ttl)
		sweeps.Record(ctx, n, err)
		if err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "expired rows not swept; tried again in a minute", "table", t.Name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Metrics count what the sweeps of one process do, by table (its Name): without them a
// sweep that stopped working showed only as a WARN line a minute, and a table growing
// again, weeks later.
type Metrics struct {
	swept, failed *prometheus.CounterVec
	lastSwept     *prometheus.GaugeVec
}

// NewMetrics returns the sweeps' metrics, for a service to hand to Keep (or to record with
// Of) and to the host (Collectors).
func NewMetrics() *Metrics {
	return &Metrics{
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "retention_rows_swept_total",
			Help: "Rows deleted by this process's sweeps, by table: past their time, or done with.",
		}, []string{"table"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "retention_sweep_errors_total",
			Help: "Sweeps that failed, by table; each is tried again at the next.",
		}, []string{"table"}),
		lastSwept: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Name: "retention_last_sweep_timestamp_seconds",
			Help: "When this process last swept the table through, in Unix seconds; absent until a sweep has worked.",
		}, []string{"table"}),
	}
}

// Sweeps counts the sweeps of one table in Metrics: Keep's, or those of a worker that
// deletes the rows it is done with itself (the simulators' outbox), so that every
// periodic delete shows alike.
type Sweeps struct {
	table         string
	swept, failed prometheus.Counter
	lastSwept     *prometheus.GaugeVec
}

// Of returns the sweeps of table, their counters at 0 from now: a series made by its
// first count starts at 1, and increase() over it is 0, so an alert on failed sweeps
// would miss the first.
func (m *Metrics) Of(table string) Sweeps {
	return Sweeps{table: table, swept: m.swept.WithLabelValues(table), failed: m.failed.WithLabelValues(table), lastSwept: m.lastSwept}
}

// Record counts one sweep that deleted n rows and ended with err: one that worked is the
// table's last sweep, one that failed while ctx was live a failure; one cut off by ctx's
// end is neither.
func (s Sweeps) Record(ctx context.Context, n int64, err error) {
	s.swept.Add(float64(n))
	switch {
	case err == nil:
		s.lastSwept.WithLabelValues(s.table).SetToCurrentTime()
	case ctx.Err() == nil:
		s.failed.Inc()
	}
}

// Collectors are the sweeps' metrics, for the host's registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.swept, m.failed, m.lastSwept}
}
