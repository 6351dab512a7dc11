// Package eventstore is Ordermill's infrastructure: the Postgres event store, the Watermill
// log on the same database, and the wiring that lets a decision and its messages commit in
// one transaction.
package eventstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	migrations "github.com/ordermill/ordermill/sql"
)

// DefaultDatabaseURL is used when DATABASE_URL is unset: the machine's local Postgres.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/ordermill?sslmode=disable"

// DefaultMaxConns sizes a service's connection pool unless the database URL sets
// pool_max_conns. pgx's default (the CPU count, at least 4) is too small for a process
// whose consumers each hold a connection for a batch while HTTP requests want one too: on
// 2 cores the orders process's dozen consumers and its API queued for 4 connections, which
// serialised the whole workflow. More is not better either: every connection is a
// Postgres backend, and backends beyond the cores only queue for them, switching and
// contending on the way. At 64 customers on 2 cores, 8 per service (32 for the four)
// completed 95-101 orders/s against 85-90 with 16, with a third less execution time in
// Postgres and lower latencies at 100 orders/s (docs/BENCHMARKS.md). Idle consumers hold
// none; each process keeps one or two for LISTEN.
const DefaultMaxConns = 8

// IdleInTransactionTimeout ends a session of ours that sits in a transaction, waiting for
// its process, this long (Postgres's idle_in_transaction_session_timeout), unless the URL,
// the role, the database or the server's configuration sets it. A process paused, frozen
// or cut off mid-transaction otherwise held its transaction, and with it every log
// message published since (the visibility rule), for as long as it stayed so: a probe
// froze one orders replica and every order on every replica stopped. The longest wait a
// transaction of ours does on purpose is a Stripe call in the payments service's command
// (at most about 31 s: 10 s, retried twice); the session's keepalives (keepalives) end
// one whose network went away.
const IdleInTransactionTimeout = 45 * time.Second

// keepalives are the server's TCP keepalives on our sessions, unless the URL sets them: a
// client machine gone (a VM paused, a network cut) is found after about 25 s, not the
// system's two hours.
var keepalives = map[string]string{"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}

// PlanByKey, queued first in a transaction or a pipelined batch, has its statements
// planned once, as lookups by key: each runs on its cached generic plan, and that plan
// walks an index whatever the table's size.
//
//   - Generic plans. Postgres plans a prepared statement anew for every call (a custom
//     plan) when that looks cheaper than its generic plan, and for a statement over an
//     array of keys (`stream_id = ANY($1)`, `unnest($1::text[])`) it always does: the
//     custom plan knows the array's length, the generic one assumes 10 or 100 elements.
//     The consumers' and the status polls' keyed reads were planned at every call, and
//     the status read spent as long in the planner as in execution.
//   - No sequential scans. A generic plan is kept until the table's statistics change,
//     and one made on a new store's nearly empty table scans it (and went on scanning it
//     until KeepStatistics or autovacuum analyzed the table). A lookup by key must walk
//     its index at any size.
//
// Only for statements that find their rows by key, whose best plan does not depend on
// the values or the table's size. A query with optional filters (`status = $1` only when
// $1 is set) needs its custom plan, and a report may well want a sequential scan.
const PlanByKey = "SELECT " + planByKeySettings

// planByKeySettings are PlanByKey's settings, for a statement that sets more.
const planByKeySettings = "set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)"

// Maintenance reads databaseURL as a pool reads it and returns the database it names and
// the configuration of a connection to the server's maintenance database ("postgres"),
// with the same credentials, from which that database is created or dropped. The pool's
// own settings (pool_max_conns and the like) are left out: the server refuses them as
// run-time parameters. Connecting waits DefaultConnectTimeout at most unless the URL says
// otherwise: a server that takes the connection and never answers (a hung server, a proxy
// whose upstream is down) held every program's start-up forever, saying nothing.
func Maintenance(databaseURL string) (name string, admin *pgx.ConnConfig, err error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.ConnConfig.Database == "" {
		return "", nil, errors.New("database url names no database")
	}
	admin = cfg.ConnConfig.Copy()
	admin.Database = maintenanceDatabase
	if admin.ConnectTimeout == 0 { // the URL names no connect_timeout
		admin.ConnectTimeout = DefaultConnectTimeout
	}
	return cfg.ConnConfig.Database, admin, nil
}

// EnsureDatabase creates the database named in databaseURL when it does not exist yet, by
// connecting to the server's maintenance database with the same credentials. Another
// process creating it at the same time (the services started together on a fresh server)
// is success: the database exists either way. A database that exists is used without a
// look at the maintenance database (see reachable).
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	if there, err := reachable(ctx, databaseURL); there || err != nil {
		return err
	}
	return onMaintenance(ctx, databaseURL, func(conn *pgx.Conn, name string, exists bool) error {
		if exists {
			return nil
		}
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		if err != nil && !createdConcurrently(err) {
			return fmt.Errorf("create database %s: %w", name, err)
		}
		if err == nil {
			// A mistyped name in DATABASE_URL made a new, empty database, and the service
			// served from it without a word (a probe).
			slog.WarnContext(ctx, "created database "+name+", which did not exist: expected for a first start, else check DATABASE_URL", "database", name)
		}
		return nil
	})
}

// createdConcurrently tells whether CREATE DATABASE failed because another session created
// the database first. Postgres says so with duplicate_database (42P04) when the other's
// database was there at its existence check, and with a unique violation (23505) on
// pg_database's name index when both passed that check together and the other committed
// first: warehouse and delivery, started with the other services, exited on the latter.
func createdConcurrently(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "42P04" || pgErr.Code == "23505" && pgErr.ConstraintName == "pg_database_datname_index"
}

// ErrNoDatabase says that the database a URL names does not exist (MustExist).
var ErrNoDatabase = errors.New("database does not exist")

// MustExist fails with ErrNoDatabase when the database named in databaseURL does not
// exist. The operator's tools call it before Open: a misspelt name would otherwise be
// created, and a tool would report success on an empty database (a manager account
// created where no dashboard reads it, "every read model equal the log (0 events)").
func MustExist(ctx context.Context, databaseURL string) error {
	there, err := reachable(ctx, databaseURL)
	if err == nil && !there {
		name, _, _ := Maintenance(databaseURL)
		return fmt.Errorf("%w: %s (DATABASE_URL names it; the services create theirs when they start)", ErrNoDatabase, name)
	}
	return err
}

// maintenanceDatabase is the database from which another is created: Postgres's own.
var maintenanceDatabase = "postgres"

// reachable connects to the database databaseURL names and tells whether it exists: a
// connection refused with invalid_catalog_name (3D000) says it does not, any other
// failure is returned. Only a database that is not there is looked for on the
// maintenance database: a hosted or hardened server whose role may open its own
// database and no other (the maintenance database's CONNECT revoked, as on a one-database
// plan) failed every start and every tool before, though the database was there.
func reachable(ctx context.Context, databaseURL string) (bool, error) {
	name, admin, err := Maintenance(databaseURL)
	if err != nil {
		return false, err
	}
	own := admin.Copy()
	own.Database = name
	conn, err := pgx.ConnectConfig(ctx, own)
	if err == nil {
		return true, conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
		return false, nil
	}
	return false, fmt.Errorf("connect to database %s: %w", name, err)
}

// onMaintenance connects to the server's maintenance database (Maintenance) and calls f
// with the connection, the database databaseURL names, and whether it exists.
func onMaintenance(ctx context.Context, databaseURL string, f func(conn *pgx.Conn, name string, exists bool) error) error {
	name, admin, err := Maintenance(databaseURL)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to maintenance database: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database: %w", err)
	}
	return f(conn, name, exists)
}

// MigrationLockTimeout bounds how long a migration's statement waits for a lock. One that
// alters a table queues for its lock behind every open reader of it (a report, a pg_dump),
// and every statement on the table then queues behind the migration: a rolling-upgrade
// probe stalled the whole workflow for 38 s behind one read. A migration that waits this
// long gives up, lets the queue drain, and is tried again, longer apart each time.
const MigrationLockTimeout = 2 * time.Second

// Migrate applies every pending migration embedded in package sql, on sessions of their
// own whose statements wait at most MigrationLockTimeout for a lock; a migration that
// could not have its lock is tried again (logged on slog's default logger) until ctx ends.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	cfg := pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["lock_timeout"] = strconv.FormatInt(MigrationLockTimeout.Milliseconds(), 10)
	var opts []stdlib.OptionOpenDB
	if !setsIdleTimeout(cfg) {
		opts = append(opts, stdlib.OptionAfterConnect(idleTimeout))
	}
	db := stdlib.OpenDB(*cfg, opts...)
	defer db.Close()
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		err := migrateDB(ctx, db)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55P03" { // lock_not_available
			if err == nil {
				warnIfNewer(ctx, pool)
			}
			return err
		}
		slog.WarnContext(ctx, "a migration waits for a table another session holds; trying again",
			"retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("apply migrations: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

func migrateDB(ctx context.Context, db *sql.DB) error {
	// The session lock lets several services start at once without racing each other.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Migrations, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// warnIfNewer says so when the database's schema is newer than this binary's. That is what
// a rolling upgrade goes through (the new release migrated, the old one still runs), so
// it is served; but an old binary left running on it is a mistake nothing else shows.
func warnIfNewer(ctx context.Context, pool *pgxpool.Pool) {
	if current, want, err := SchemaVersion(ctx, pool); err == nil && current > want {
		slog.WarnContext(ctx, "the database's schema is newer than this binary's: a later release migrated it; replace this binary",
			"database_version", current, "binary_version", want)
	}
}

// SchemaVersion reports the database's migration version and the newest one embedded in
// this binary: the schema is what the binary expects when current is at least want.
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (current, want int64, err error) {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Migrations)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	return provider.GetVersions(ctx)
}

// Open creates the database if needed, connects a pool and applies migrations, unless the
// database holds another application's tables (RequireOwn): the one call every service
// makes at start-up, and the tools that give a database its start (bin/history, replay
// -migrate-only). Its connections carry app as their application_name
// (unless the URL names one), so pg_stat_activity and the server's log say which program
// holds a session or a transaction, and end a transaction left idle past
// IdleInTransactionTimeout.
func Open(ctx context.Context, databaseURL, app string) (*pgxpool.Pool, error) {
	if err := EnsureDatabase(ctx, databaseURL); err != nil {
		return nil, err
	}
	pool, err := Connect(ctx, databaseURL, app)
	if err != nil {
		return nil, err
	}
	if err := ready(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// openLock is the advisory lock under which Open checks and migrates a database, asked
// for every openLockPoll while another process holds it.
const (
	openLock     = 0x6f70656e // "open"
	openLockPoll = 100 * time.Millisecond
)

// ready checks that pool's database is Ordermill's (RequireOwn), migrates it and checks
// that the log's positions are this server's (CheckLogPositions), one process at a time,
// on a session of its own that holds openLock: several services started at once on a new
// database took one another's half-applied migrations for another application's tables,
// and a probe's start of all four lost one or two of them so.
func ready(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx)) // which ends the session and its lock
	// Asked again and again, not waited for in one statement: a statement waiting is a
	// transaction, and a migration that builds an index CONCURRENTLY waits for every
	// transaction to end, so the lock's holder would wait for its waiters.
	for {
		var taken bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, openLock).Scan(&taken); err != nil {
			return fmt.Errorf("wait for the other processes migrating database %s: %w", pool.Config().ConnConfig.Database, err)
		}
		if taken {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the other processes migrating database %s: %w", pool.Config().ConnConfig.Database, ctx.Err())
		case <-time.After(openLockPoll):
		}
	}
	if err := RequireOwn(ctx, pool); err != nil {
		return err
	}
	if err := Migrate(ctx, pool); err != nil {
		return err
	}
	return CheckLogPositions(ctx, pool)
}

// Connect connects a pool to the database databaseURL names, configured as Open's, and
// neither creates nor migrates it: what a tool that reads the services' database uses
// (with RequireSchema).
func Connect(ctx context.Context, databaseURL, app string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if !strings.Contains(databaseURL, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if !strings.Contains(databaseURL, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok && app != "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = AppName(app)
	}
	for k, v := range keepalives {
		if _, ok := cfg.ConnConfig.RuntimeParams[k]; !ok {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	// Every session in UTC, whatever the URL, PGTZ or the server's default say: the log's
	// created_at (watermill's) is a timestamp without time zone, written as the session's
	// local time, so sessions in different zones wrote times hours apart, and a zone with
	// summer time made the lag an hour off across each change (a review). Postgres takes
	// the name in any case (TimeZone=…): every spelling the URL used goes, or the one sent
	// last won.
	for k := range cfg.ConnConfig.RuntimeParams {
		if strings.EqualFold(k, "timezone") {
			delete(cfg.ConnConfig.RuntimeParams, k)
		}
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if !setsIdleTimeout(cfg.ConnConfig) {
		cfg.AfterConnect = idleTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return pool, nil
}

// setsIdleTimeout reports whether cfg (its URL) sets the idle-in-transaction timeout.
func setsIdleTimeout(cfg *pgx.ConnConfig) bool {
	_, ok := cfg.RuntimeParams["idle_in_transaction_session_timeout"]
	return ok
}

// idleTimeout sets IdleInTransactionTimeout on a new session where nothing set the
// server's idle-in-transaction timeout: sent at start-up, as a URL's is, it outranked a
// DBA's ALTER ROLE or ALTER DATABASE … SET (a probe's 5 s became 45 s) and the server's
// configuration. Every session of ours has it, the pool's and the migrations' alike.
func idleTimeout(ctx context.Context, c *pgx.Conn) error {
	_, err := c.Exec(ctx, `SELECT set_config(name, $1, false) FROM pg_settings
		WHERE name = 'idle_in_transaction_session_timeout' AND source = 'default'`,
		strconv.FormatInt(IdleInTransactionTimeout.Milliseconds(), 10))
	return err
}

// AppName is the application_name the connections of program app carry (Connect), unless
// their URL names one.
func AppName(app string) string { return "ordermill-" + app }

// Connected lists the programs among apps with a session on q's database other than q's
// own, by the application_name Connect gives them: a program whose URL names another is
// not seen.
func Connected(ctx context.Context, q Querier, apps ...string) ([]string, error) {
	names := make([]string, len(apps))
	for i, app := range apps {
		names[i] = AppName(app)
	}
	rows, err := q.Query(ctx, `SELECT DISTINCT application_name FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ANY($1) ORDER BY 1`, names)
	if err != nil {
		return nil, fmt.Errorf("list the sessions of database: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Tables counts the tables and views of q's database, an extension's own left out: those
// (pg_stat_statements', PostGIS's spatial_ref_sys, often in a server's template) are no
// application's, and counted, every database created on such a server was refused, the
// bench's among them. scripts/bench.sh asks the same in SQL of its own.
func Tables(ctx context.Context, q Querier) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm')
		AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`).Scan(&n)
	return n, err
}

// RequireOwn refuses a database that holds tables, none of them Ordermill's: what creates
// and migrates (Open: a service, bin/history, replay -migrate-only) gave another
// application's database Ordermill's schemas (found by a probe). An empty database, or
// Ordermill's own, passes.
func RequireOwn(ctx context.Context, pool *pgxpool.Pool) error {
	var ours bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('public.events') IS NOT NULL`).Scan(&ours); err != nil {
		return fmt.Errorf("look up the tables of database %s: %w", pool.Config().ConnConfig.Database, err)
	}
	if ours {
		return nil
	}
	tables, err := Tables(ctx, pool)
	if err != nil {
		return fmt.Errorf("look up the tables of database %s: %w", pool.Config().ConnConfig.Database, err)
	}
	if tables > 0 {
		return fmt.Errorf("database %s holds tables, none of them Ordermill's: DATABASE_URL must name Ordermill's database, or one that is new or empty", pool.Config().ConnConfig.Database)
	}
	return nil
}

// RequireSchema refuses a database whose schema is older than this binary's, or that holds
// none of Ordermill's: a tool that reads the services' database must not migrate it. Every
// replay command did, and a mistyped DATABASE_URL gave another application's database
// Ordermill's schemas, tables and extension (found by a probe); a newer tool would have
// migrated production ahead of its services.
func RequireSchema(ctx context.Context, pool *pgxpool.Pool) error {
	name := pool.Config().ConnConfig.Database
	// goose's table and the event log's: another application migrated with goose has the
	// first only (the review).
	var migrated bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('public.goose_db_version') IS NOT NULL AND to_regclass('public.events') IS NOT NULL
		AND to_regclass('public.dead_letters') IS NOT NULL`).Scan(&migrated); err != nil {
		return fmt.Errorf("look up the schema of database %s: %w", name, err)
	}
	if !migrated {
		return fmt.Errorf("database %s holds no Ordermill schema: DATABASE_URL must name the services' database (they create and migrate it when they start)", name)
	}
	current, want, err := SchemaVersion(ctx, pool)
	if err != nil {
		return err
	}
	if current < want {
		return fmt.Errorf("database %s is at migration %d, this binary needs %d: start the services of this release on it first (they migrate it), or run bin/replay -migrate-only", name, current, want)
	}
	return nil
}
