package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore/logging"
)

// Postgres plans a prepared statement from the table statistics of the moment, and pgx
// prepares every statement once per connection and keeps it. On a new store the first
// plans are made while the tables are nearly empty, where a sequential scan is the
// cheapest plan there is, and they stay until the next ANALYZE of the table. Autovacuum
// gets to that only after a minute or more (it wakes once a minute, and first analyzes a
// table after 10% of it has changed), and meanwhile the read of every order's snapshot,
// among others, scans the whole table: the first minute of a new store ran at half speed.
// An ANALYZE invalidates the plans made from the old statistics, so KeepStatistics runs
// one as soon as a table has outgrown statistics taken while it was small. Once is
// enough: a plan that walks an index at a thousand rows still does at a million, and
// autovacuum keeps the statistics current from then on. (Analyzing again at each doubling
// was tried: it cost the first minutes of a store about as much as it saved.)

// StatisticsMinRows is the fewest rows for which KeepStatistics analyzes a table: below
// it a sequential scan costs little whatever the plan.
const StatisticsMinRows = 1000

// statisticsSmall is what statistics describe below which they are a small table's: the
// snapshot read's cached plan turns from a sequential scan to the primary key between 250
// and 500 rows.
const statisticsSmall = 500

// analyzeLock is the advisory lock under which a process analyzes, so that the
// processes sharing a database take turns instead of analyzing the same table at once.
const analyzeLock = 7_311_040_001

// AnalyzeGrownTables analyzes every table of the database that holds at least
// StatisticsMinRows rows while its statistics describe fewer than statisticsSmall (a
// table never analyzed describes none), among those the user may analyze (its own), and
// returns their names. Another process analyzing at the same time makes it return
// none. Each table is analyzed in a transaction of its own: ANALYZE takes a transaction id
// to write the statistics, and a transaction holding one holds the log back
// (OldestHoldback) until it ends.
func AnalyzeGrownTables(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	// Nearly every round finds nothing: it asks once, without a lock.
	if tables, err := grownTables(ctx, pool); err != nil || len(tables) == 0 {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("analyze grown tables: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(analyzeLock)).Scan(&locked); err != nil || !locked {
		return nil, err
	}
	defer func() {
		unlock, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlock, `SELECT pg_advisory_unlock($1)`, int64(analyzeLock)); err != nil {
			// The lock is the session's: a connection that may still hold it is closed.
			_ = conn.Hijack().Close(unlock)
		}
	}()
	// Again under the lock: another process may have analyzed them meanwhile.
	tables, err := grownTables(ctx, conn)
	if err != nil {
		return nil, err
	}
	var analyzed []string
	for _, t := range tables {
		_, err := conn.Exec(ctx, `ANALYZE `+t)
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "42P01":
			// Dropped since it was listed, as a rebuild's build tables are.
		case err != nil:
			return analyzed, fmt.Errorf("analyze %s: %w", t, err)
		default:
			analyzed = append(analyzed, t)
		}
	}
	return analyzed, nil
}

// grownTables lists, schema-qualified, the tables AnalyzeGrownTables is to analyze.
// pg_stat_user_tables would read a dozen counters of every table; only one is needed.
func grownTables(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.Query(ctx, `
		SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		CROSS JOIN LATERAL pg_stat_get_live_tuples(c.oid) AS live
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
			AND live >= $1 AND c.reltuples < $2 AND pg_has_role(c.relowner, 'USAGE')
		ORDER BY 1`, StatisticsMinRows, statisticsSmall)
	if err != nil {
		return nil, fmt.Errorf("grown tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("grown tables: %w", err)
	}
	return tables, nil
}

// KeepStatistics runs AnalyzeGrownTables every interval until ctx ends, logging what it
// analyzed and what failed; a failure waits for the next round.
func KeepStatistics(ctx context.Context, pool *pgxpool.Pool, every time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	failing := logging.NewRepeats() // a database outage is a line a minute, not one a round
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tables, err := AnalyzeGrownTables(ctx, pool)
		switch {
		case err != nil && ctx.Err() == nil:
			if due, missed := failing.Due(""); due {
				logger.Warn("table statistics not refreshed", "err", err, "repeated_since_last_line", missed)
			}
		case len(tables) > 0:
			logger.Info("table statistics refreshed: the tables outgrew them", "tables", tables)
		}
	}
}
