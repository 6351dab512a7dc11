package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"io/fs"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	migrations "github.com/ordermill/ordermill/sql"
)

// newDatabaseURL names a database that does not exist yet on the test server; it is
// dropped when t ends, whether or not it was ever created.
func newDatabaseURL(t *testing.T) (dbURL, adminURL, name string) {
	t.Helper()
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(t, err)
	name = "ordermill_replay_" + hex.EncodeToString(b)
	u, err := url.Parse(pgtest.BaseURL())
	require.NoError(t, err)
	u.Path = "/" + name
	dbURL = u.String()
	u.Path = "/postgres"
	adminURL = u.String()

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	require.False(t, databaseExists(t, adminURL, name), "database %s exists before the test", name)
	return dbURL, adminURL, name
}

func databaseExists(t *testing.T, adminURL, name string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var exists bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists))
	return exists
}

func env(databaseURL string) func(string) string {
	return func(k string) string {
		if k == "DATABASE_URL" {
			return databaseURL
		}
		return ""
	}
}

func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(migrations.Migrations, "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return len(files)
}

// -migrate-only creates a database that does not exist yet and applies every migration;
// a plain run then rebuilds the read models from the events stored there.
func TestMigrateOnlyCreatesDatabaseThenRebuild(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL, adminURL, name := newDatabaseURL(t)

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"-migrate-only"}, env(dbURL), &out, io.Discard))
	assert.Contains(t, out.String(), "migrations applied")
	assert.NotContains(t, out.String(), "rebuilt", "-migrate-only must not rebuild")
	require.True(t, databaseExists(t, adminURL, name))

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, table := range []string{"events", `"watermill_order_events.0"`, `"watermill_order_events.3"`, "snapshots", "dead_letters", "orders.order_summaries", "orders.idempotency_keys"} {
		var found *string
		require.NoError(t, conn.QueryRow(ctx, `SELECT to_regclass($1)::text`, table).Scan(&found))
		assert.NotNil(t, found, "table %s missing", table)
	}
	var applied int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0 AND is_applied`).Scan(&applied))
	assert.Equal(t, migrationCount(t), applied)

	// Starting again on the ready database is harmless.
	out.Reset()
	require.NoError(t, run(ctx, []string{"-migrate-only"}, env(dbURL), &out, io.Discard))
	assert.Contains(t, out.String(), "migrations applied")

	// A database a later release migrated is not said to be migrated here.
	_, err = conn.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)`)
	require.NoError(t, err)
	out.Reset()
	require.NoError(t, run(ctx, []string{"-migrate-only"}, env(dbURL), &out, io.Discard))
	assert.Contains(t, out.String(), "its schema (version 99999) is newer than this binary's")
	assert.NotContains(t, out.String(), "migrations applied")
	// Its read models are not rebuilt by this release (a probe's kept a newer column at its
	// default); what a reading command says comes with a warning.
	err = run(ctx, []string{"projections"}, env(dbURL), io.Discard, io.Discard)
	require.ErrorContains(t, err, "the database's schema (version 99999) is newer than this binary's")
	assert.ErrorContains(t, err, "rebuild its read models with that release's bin/replay")
	var warned bytes.Buffer
	require.NoError(t, run(ctx, []string{"status"}, env(dbURL), io.Discard, &warned))
	assert.Contains(t, warned.String(), "newer than this binary's")
	_, err = conn.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = 99999`)
	require.NoError(t, err)

	// Store one order, then rebuild: its summary appears.
	pool, err := eventstore.Open(ctx, dbURL, "replay-test")
	require.NoError(t, err)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		o := &order.Order{}
		events, err := o.Place(order.PlaceOrder{OrderID: "ord-1", Items: []order.Item{{SKU: "SKU-001", Quantity: 2}}, Total: 10000, At: time.Now()})
		if err != nil {
			return err
		}
		o.ID = "ord-1"
		return orderstream.Append(ctx, tx, o, eventstore.Metadata{}, events...)
	})
	pool.Close()
	require.NoError(t, err)

	out.Reset()
	require.NoError(t, run(ctx, []string{"projections"}, env(dbURL), &out, io.Discard))
	assert.Contains(t, out.String(), "rebuilt every read model from 1 events")
	var status string
	var total int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT status, total_cents FROM orders.order_summaries WHERE order_id = 'ord-1'`).Scan(&status, &total))
	assert.Equal(t, string(order.StatusPlaced), status)
	assert.EqualValues(t, 10000, total)
}

// Every command but -migrate-only reads the services' database: a misspelt DATABASE_URL
// is an error, not a new empty database that "verify" found equal to its empty log.
func TestCommandsRefuseADatabaseThatDoesNotExist(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL, adminURL, name := newDatabaseURL(t)
	for _, args := range [][]string{{"verify"}, {"status"}, {"projections"}} {
		var out bytes.Buffer
		err := run(ctx, args, env(dbURL), &out, io.Discard)
		require.ErrorIs(t, err, eventstore.ErrNoDatabase, "%v", args)
		assert.Contains(t, err.Error(), name)
	}
	assert.False(t, databaseExists(t, adminURL, name), "nothing was created")
}

// Nor does any command but -migrate-only migrate a database: every one did, and a
// DATABASE_URL naming another application's database gave it Ordermill's schemas,
// tables and extension (found by a probe). One a release behind is refused too: its
// services migrate it when they start.
func TestCommandsMigrateNoDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL, adminURL, name := newDatabaseURL(t)
	admin, err := pgx.Connect(ctx, adminURL)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
	for _, args := range [][]string{{"verify"}, {"status"}, {"projections"}, {"deadletters", "list"}, {"order", "ord-1"}} {
		err := run(ctx, args, env(dbURL), io.Discard, io.Discard)
		require.Error(t, err, "%v", args)
		assert.Contains(t, err.Error(), "database "+name+" holds no Ordermill schema", "%v", args)
	}
	other, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer other.Close(ctx)
	var tables int
	require.NoError(t, other.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables))
	assert.Zero(t, tables, "nothing was created in it")
	// Another application migrated with goose has goose's table, not Ordermill's (the review).
	_, err = other.Exec(ctx, `CREATE TABLE goose_db_version (id serial, version_id bigint, is_applied bool, tstamp timestamp)`)
	require.NoError(t, err)
	_, err = other.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (20990101000000, true)`)
	require.NoError(t, err)
	err = run(ctx, []string{"status"}, env(dbURL), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "holds no Ordermill schema")
	_, err = other.Exec(ctx, `DROP TABLE goose_db_version`)
	require.NoError(t, err)

	// Nor does -migrate-only (what make run runs first) migrate another application's
	// database: a probe's bin/history, which opens as it does, did.
	_, err = other.Exec(ctx, `CREATE TABLE customers (id int)`)
	require.NoError(t, err)
	err = run(ctx, []string{"-migrate-only"}, env(dbURL), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "holds tables, none of them Ordermill's")
	require.NoError(t, other.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables))
	assert.Equal(t, 1, tables, "only its own table")
	_, err = other.Exec(ctx, `DROP TABLE customers`)
	require.NoError(t, err)

	// Migrated, then one migration taken back: a release behind this binary.
	require.NoError(t, run(ctx, []string{"-migrate-only"}, env(dbURL), io.Discard, io.Discard))
	_, err = other.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`)
	require.NoError(t, err)
	err = run(ctx, []string{"status"}, env(dbURL), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "start the services of this release on it first")
}

// A bad flag is reported before any database is touched.
func TestUnknownFlagFails(t *testing.T) {
	t.Parallel()
	dbURL, adminURL, name := newDatabaseURL(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{"-no-such-flag"}, env(dbURL), &out, io.Discard)
	require.Error(t, err)
	assert.Empty(t, out.String())
	assert.False(t, databaseExists(t, adminURL, name))
}

// make run's check for a second run: -migrate-only -alone refuses, before it migrates, a
// database another system's services are connected to, and takes one nobody uses or that
// does not exist yet. The check was psql's in run.sh, which could not read many a
// DATABASE_URL pgx reads and then passed silently (the review).
func TestMigrateOnlyAloneRefusesADatabaseInUse(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbURL, _, _ := newDatabaseURL(t)
	require.NoError(t, run(ctx, []string{"-migrate-only", "-alone"}, env(dbURL), io.Discard, io.Discard), "a database not there yet")

	orders, err := eventstore.Connect(ctx, dbURL, "orders")
	require.NoError(t, err)
	require.NoError(t, orders.Ping(ctx))
	err = run(ctx, []string{"-migrate-only", "-alone"}, env(dbURL+"&pool_max_conns=2&pool_min_conns=1"), io.Discard, io.Discard)
	require.ErrorContains(t, err, "services use database")
	assert.ErrorContains(t, err, "(ordermill-orders)")
	require.NoError(t, run(ctx, []string{"-migrate-only"}, env(dbURL), io.Discard, io.Discard), "without -alone, as a rolling upgrade runs it")
	orders.Close()
	require.NoError(t, run(ctx, []string{"-migrate-only", "-alone"}, env(dbURL), io.Discard, io.Discard))
	err = run(ctx, []string{"-alone", "status"}, env(dbURL), io.Discard, io.Discard)
	assert.ErrorContains(t, err, "-alone goes with -migrate-only")
}

// On a copy restored on another server (its log's transaction ids ahead of the server's),
// every command but rebase-log and status is refused as the services are: a probe's
// `projections order_summaries` read none of the log and swapped an empty table in, and
// verify waited for ever. status says so first; rebase-log mends it.
func TestCommandsRefuseALogRestoredFromAServerAheadUntilItIsRebased(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL, _, _ := newDatabaseURL(t)
	require.NoError(t, run(ctx, []string{"-migrate-only"}, env(dbURL), io.Discard, io.Discard))
	db, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer db.Close(ctx)
	// A message the projections have handled, as restored from a server far ahead.
	for _, stmt := range []string{
		`INSERT INTO "watermill_webhook_events" (uuid, payload, transaction_id) VALUES (gen_random_uuid()::text, '{}', '10000000000')`,
		`INSERT INTO "watermill_offsets_webhook_events" (consumer_group, offset_acked, last_processed_transaction_id)
			SELECT 'sagas', "offset", transaction_id FROM "watermill_webhook_events"`,
	} {
		_, err := db.Exec(ctx, stmt)
		require.NoError(t, err)
	}
	for _, args := range [][]string{{"verify"}, {"projections"}, {"projections", "order_summaries"}, {"deadletters", "list"}, {"-migrate-only"}} {
		err := run(ctx, args, env(dbURL), io.Discard, io.Discard)
		require.ErrorIs(t, err, eventstore.ErrLogAhead, "%v", args)
	}
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"status"}, env(dbURL), &out, io.Discard))
	assert.Contains(t, out.String(), "run `replay rebase-log` once")

	out.Reset()
	require.NoError(t, run(ctx, []string{"rebase-log"}, env(dbURL), &out, io.Discard))
	assert.Contains(t, out.String(), "rebased")
	require.NoError(t, run(ctx, []string{"verify"}, env(dbURL), io.Discard, io.Discard))
}
