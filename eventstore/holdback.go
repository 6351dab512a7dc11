package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermill/ordermill/eventstore/metrics"
)

// Holdback is the oldest open transaction of the whole Postgres cluster that holds a
// transaction id. A log message becomes visible to consumers only once every transaction
// with an older id has ended (its transaction_id must be below the snapshot's xmin,
// pg_snapshot_xmin(pg_current_snapshot())), and that xmin is cluster-wide: a write
// transaction left open in any database of the server, by any program, holds back every
// message published after it began. Read-only transactions take no id and hold nothing
// back (they do hold back vacuum). A prepared transaction counts as open.
type Holdback struct {
	Age      time.Duration // since the transaction began; 0 when none is open
	Database string
	State    string // pg_stat_activity's state ("idle in transaction", "active", …) or "prepared"
	PID      int    // 0 for a prepared transaction
}

// holdbackQuery finds the oldest transaction holding an id, in the sessions and among
// the prepared transactions. Other users' sessions show their xact_start only to a role
// with pg_read_all_stats (pg_monitor); without it they are not seen.
const holdbackQuery = `
	SELECT extract(epoch FROM clock_timestamp() - xact_start)::float8, coalesce(datname, ''), coalesce(state, ''), pid
	FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND xact_start IS NOT NULL
	UNION ALL
	SELECT extract(epoch FROM clock_timestamp() - prepared)::float8, database, 'prepared', 0 FROM pg_prepared_xacts
	ORDER BY 1 DESC LIMIT 1`

// OldestHoldback reads the transaction holding the log back the longest; a zero Holdback
// when no transaction holds an id.
func OldestHoldback(ctx context.Context, q Querier) (Holdback, error) {
	var h Holdback
	var age float64
	err := q.QueryRow(ctx, holdbackQuery).Scan(&age, &h.Database, &h.State, &h.PID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Holdback{}, nil
	}
	if err != nil {
		return Holdback{}, fmt.Errorf("oldest transaction: %w", err)
	}
	h.Age = time.Duration(max(age, 0) * float64(time.Second))
	return h, nil
}

var holdbackSeconds = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "log", "holdback_seconds"),
	"Age of the oldest open transaction holding a transaction id anywhere in the Postgres cluster (any database): no log message published after it began reaches a consumer until it ends. 0 when none is open.",
	nil, nil)

// holdbackCollector reports OldestHoldback at scrape time.
func (l *Log) holdbackCollector() prometheus.Collector {
	return metrics.FromQuery("log_holdback", []*prometheus.Desc{holdbackSeconds}, func(ctx context.Context, ch chan<- prometheus.Metric) error {
		h, err := OldestHoldback(ctx, l.pool)
		if err != nil {
			return err
		}
		ch <- prometheus.MustNewConstMetric(holdbackSeconds, prometheus.GaugeValue, h.Age.Seconds())
		return nil
	})
}
