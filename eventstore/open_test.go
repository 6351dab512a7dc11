package eventstore_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A service's connections say which service they are, so pg_stat_activity shows who holds
// a transaction open; an application_name in the URL wins.
func TestOpenNamesTheConnectionsAfterTheProgram(t *testing.T) {
	ctx := context.Background()
	plain := pgtest.URL(t)
	named, err := url.Parse(plain)
	require.NoError(t, err)
	q := named.Query()
	q.Set("application_name", "ops-console")
	named.RawQuery = q.Encode()
	for _, c := range []struct{ url, want string }{
		{plain, "ordermill-payments"},
		{named.String(), "ops-console"},
	} {
		pool, err := eventstore.Open(ctx, c.url, "payments")
		require.NoError(t, err)
		var got string
		require.NoError(t, pool.QueryRow(ctx, `SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&got))
		pool.Close()
		assert.Equal(t, c.want, got)
	}
}

// The pool's own settings in the URL (pool_max_conns, which DefaultMaxConns names as the
// way to size a pool) are the pool's: a service started with one must not send it to
// the server, which refuses unknown parameters.
func TestOpenTakesThePoolsSettingsFromTheURL(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(pgtest.URL(t))
	require.NoError(t, err)
	q := u.Query()
	q.Set("pool_max_conns", "3")
	u.RawQuery = q.Encode()
	pool, err := eventstore.Open(ctx, u.String(), "orders")
	require.NoError(t, err)
	defer pool.Close()
	assert.Equal(t, int32(3), pool.Config().MaxConns)
	require.NoError(t, pool.Ping(ctx))
}

// A transaction of ours left waiting for its process (the process frozen, paused or cut
// off) is ended by the server after IdleInTransactionTimeout, or what the URL says: it
// held every log message back for as long as the process stayed so. The server's
// keepalives find a client machine gone.
func TestOpenEndsATransactionLeftIdle(t *testing.T) {
	ctx := context.Background()
	plain := pgtest.URL(t)
	pool, err := eventstore.Open(ctx, plain, "orders")
	require.NoError(t, err)
	var idle, keepIdle, keepCount string
	require.NoError(t, pool.QueryRow(ctx, `SELECT current_setting('idle_in_transaction_session_timeout'),
		current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_count')`).Scan(&idle, &keepIdle, &keepCount))
	pool.Close()
	assert.Equal(t, eventstore.IdleInTransactionTimeout.String(), idle)
	if keepIdle != "0" { // 0 on a Unix socket, which has no keepalives
		assert.Equal(t, "10", keepIdle)
		assert.Equal(t, "3", keepCount)
	}

	// A DBA's setting for the database (or the role) is theirs to make: a start-up
	// parameter of ours outranked it.
	admin, err := pgx.Connect(ctx, plain)
	require.NoError(t, err)
	_, err = admin.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_in_transaction_session_timeout = ''7s''', current_database()); END $$`)
	require.NoError(t, admin.Close(ctx))
	require.NoError(t, err)
	pool, err = eventstore.Open(ctx, plain, "orders")
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, `SELECT current_setting('idle_in_transaction_session_timeout')`).Scan(&idle))
	pool.Close()
	assert.Equal(t, "7s", idle)

	u, err := url.Parse(plain)
	require.NoError(t, err)
	q := u.Query()
	q.Set("idle_in_transaction_session_timeout", "200")
	u.RawQuery = q.Encode()
	pool, err = eventstore.Open(ctx, u.String(), "orders")
	require.NoError(t, err)
	defer pool.Close()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	var pid int
	require.NoError(t, tx.QueryRow(ctx, `SELECT pg_backend_pid() FROM (SELECT pg_current_xact_id()) AS x`).Scan(&pid))
	// The process now "freezes": the server ends the session on its own.
	require.Eventually(t, func() bool {
		var gone bool
		return pool.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&gone) == nil && gone
	}, 30*time.Second, 20*time.Millisecond)
	_, err = tx.Exec(ctx, `SELECT 1`)
	assert.Error(t, err, "the transaction was ended under it")
}

// The maintenance connection is the URL's server and credentials, on database
// "postgres", without the pool's settings.
func TestMaintenanceConnectsToThePostgresDatabase(t *testing.T) {
	t.Setenv("PGDATABASE", "") // pgx fills a database the URL leaves out from it
	name, admin, err := eventstore.Maintenance("postgres://app:secret@db.internal:6543/shop?sslmode=disable&pool_max_conns=8&application_name=x")
	require.NoError(t, err)
	assert.Equal(t, "shop", name)
	assert.Equal(t, "postgres", admin.Database)
	assert.Equal(t, "app", admin.User)
	assert.Equal(t, "secret", admin.Password)
	assert.Equal(t, "db.internal", admin.Host)
	assert.Equal(t, uint16(6543), admin.Port)
	assert.Equal(t, "x", admin.RuntimeParams["application_name"])
	assert.NotContains(t, admin.RuntimeParams, "pool_max_conns")

	_, _, err = eventstore.Maintenance("postgres://app@db.internal:6543/?sslmode=disable")
	assert.ErrorContains(t, err, "names no database")
}

// A server that takes the connection and never answers (a hung server, a proxy whose
// upstream is down) fails a start-up within DefaultConnectTimeout, with an error, instead
// of holding it forever without a word: creating the database connected without a bound.
func TestOpenGivesUpOnAServerThatNeverAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // open, never answered
		}
	}()
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = eventstore.Open(ctx, "postgres://postgres@"+ln.Addr().String()+"/shop?sslmode=disable", "payments")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connect to database shop")
	assert.Less(t, time.Since(start), 2*eventstore.DefaultConnectTimeout, "given up by the connect timeout, not by the caller's 30 s")
}

// A migration that alters a table another session reads waits at most
// MigrationLockTimeout at a time for it, so the table's other users do not queue behind
// it for the whole read (a probe's read of 40 s stalled every order), and it is applied
// once the read ends.
func TestAMigrationWaitingForALockLetsTheTablesUsersThrough(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	// The database as the release before migration 00084 left it (the later ones undone too).
	_, err := pool.Exec(ctx, `ALTER TABLE orders.notifications DROP COLUMN attempts, DROP COLUMN retry_at;
		DROP INDEX payments.sessions_payment_id; DROP INDEX orders.webhook_inbox_unknown_orders; DROP INDEX orders.idempotency_keys_created_at; DROP INDEX orders.notifications_claimed; DROP INDEX events_payment_id;
		DROP TABLE simulator_webhooks;
		DELETE FROM goose_db_version WHERE version_id >= 84`)
	require.NoError(t, err)

	reader := aLongRead(t, pool, pgx.ReadCommitted)
	migrated := migrating(ctx, pool)
	// The workflow keeps recording emails meanwhile: each waits at most about one lock
	// timeout behind the migration's try, never the whole read.
	for i := range 3 {
		start := time.Now()
		_, err := pool.Exec(ctx, `INSERT INTO orders.notifications (order_id, kind, recipient, subject, body)
			VALUES ($1, 'order_confirmed', 'a@example.com', 's', 'b')`, fmt.Sprintf("ord-%d", i))
		require.NoError(t, err)
		assert.Less(t, time.Since(start), eventstore.MigrationLockTimeout+time.Second, "insert %d", i)
		time.Sleep(time.Second) // the read goes on; not a synchronisation
	}
	select {
	case err := <-migrated:
		t.Fatalf("migrated under a read that holds the table: %v", err)
	default:
	}
	require.NoError(t, reader.Rollback(ctx))
	require.NoError(t, <-migrated)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders.notifications WHERE attempts = 0 AND retry_at IS NULL`).Scan(&n))
	assert.Equal(t, 3, n)
}

// A migration that builds an index CONCURRENTLY and is cut off (here by its lock timeout,
// waiting for a long read's snapshot; a crash or a cancel does the same) leaves the index
// behind, invalid. Its next try found the name taken, and the service could not start
// until an operator dropped it; it is built again.
func TestAnIndexBuildCutOffIsBuiltAgainOnTheNextTry(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	// The database as the release before migration 00089 left it (the later ones undone too).
	_, err := pool.Exec(ctx, `DROP INDEX events_payment_id; DROP TABLE simulator_webhooks;
		DROP INDEX watermill_order_deadlines_due_key_idx;
		DROP INDEX orders.orders_by_status_total, orders.orders_by_status_risk;
		ALTER TABLE orders.orders_by_status DROP COLUMN total_cents, DROP COLUMN risk_score;
		DELETE FROM goose_db_version WHERE version_id >= 89`)
	require.NoError(t, err)

	reader := aLongRead(t, pool, pgx.RepeatableRead) // which holds its snapshot
	migrated := migrating(ctx, pool)
	invalid := func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass('events_payment_id') AND NOT indisvalid`).Scan(&n))
		return n == 1
	}
	require.Eventually(t, invalid, 20*time.Second, 50*time.Millisecond, "the build waits for the read, and is cut off")
	// The next try, a second later, meets the invalid index left behind.
	require.NoError(t, reader.Rollback(ctx))
	select {
	case err := <-migrated:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("not migrated a minute after the read ended")
	}
	var valid bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_payment_id'::regclass`).Scan(&valid))
	assert.True(t, valid, "the index is built again, whole")
}

// aLongRead is a report's long read of orders.notifications at isolation level iso, open
// until the test rolls it back (or ends).
func aLongRead(t *testing.T, pool *pgxpool.Pool, iso pgx.TxIsoLevel) pgx.Tx {
	t.Helper()
	reader, err := pool.BeginTx(t.Context(), pgx.TxOptions{IsoLevel: iso})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reader.Rollback(context.Background()) })
	_, err = reader.Exec(t.Context(), `SELECT count(*) FROM orders.notifications`)
	require.NoError(t, err)
	return reader
}

// migrating applies the migrations in the background, and gives their outcome.
func migrating(ctx context.Context, pool *pgxpool.Pool) <-chan error {
	migrated := make(chan error, 1)
	go func() { migrated <- eventstore.Migrate(ctx, pool) }()
	return migrated
}

// Every session of ours is in UTC, whatever the URL or the database's setting say: the
// log's created_at is a timestamp without time zone written as the session's local time,
// so a session in Europe/Berlin wrote times an hour ahead of one in UTC, and the lag read
// an hour off across each summer-time change (a review).
func TestEverySessionIsInUTC(t *testing.T) {
	ctx := context.Background()
	plain := pgtest.URL(t)
	admin, err := pgx.Connect(ctx, plain)
	require.NoError(t, err)
	_, err = admin.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = ''America/New_York''', current_database()); END $$`)
	require.NoError(t, admin.Close(ctx))
	require.NoError(t, err)
	u, err := url.Parse(plain)
	require.NoError(t, err)
	q := u.Query()
	q.Set("timezone", "Europe/Berlin")
	u.RawQuery = q.Encode()
	spelled := *u
	q = spelled.Query()
	q.Del("timezone")
	q.Set("TimeZone", "Europe/Berlin") // as Postgres spells it: sent beside ours, the last won
	spelled.RawQuery = q.Encode()
	urls := []string{plain, u.String()}
	for range 10 { // the two names went in random order: one try in two was Berlin's
		urls = append(urls, spelled.String())
	}
	for _, databaseURL := range urls {
		pool, err := eventstore.Connect(ctx, databaseURL, "orders")
		require.NoError(t, err)
		var zone string
		require.NoError(t, pool.QueryRow(ctx, `SELECT current_setting('TimeZone')`).Scan(&zone))
		pool.Close()
		assert.Equal(t, "UTC", zone, databaseURL)
	}
}
