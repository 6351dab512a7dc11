package eventstore_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// The four services started at once on a fresh server each create the database: every
// one of them must start, whichever creates it. Postgres answers the losers of the race
// with duplicate_database, or with a unique violation on pg_database's name index when
// they pass its existence check together; warehouse and delivery exited on the latter.
func TestEnsureDatabaseToleratesConcurrentCreators(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres: skipped with -short (make unit)")
	}
	ctx := context.Background()
	for range 3 { // a fresh database each round: one round met the race in every run, three make sure
		name := "ordermill_ensure_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
		u, err := url.Parse(pgtest.BaseURL())
		require.NoError(t, err)
		u.Path = "/" + name
		t.Cleanup(func() { dropDatabase(t, name) })

		const creators = 8
		start := make(chan struct{})
		errs := make(chan error, creators)
		var wg sync.WaitGroup
		for range creators {
			wg.Go(func() {
				<-start
				errs <- eventstore.EnsureDatabase(ctx, u.String())
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.NoError(t, eventstore.MustExist(ctx, u.String()))
	}
}

// A hosted or hardened server may let the role open its own database and no other (a
// one-database plan; the maintenance database's CONNECT revoked): every service's start
// and every tool failed there, looking the database up on the maintenance database though
// it was there. Here the maintenance database is one that does not exist, which refuses
// the connection as such a server does. Not parallel: it sets the package's maintenance
// database.
func TestAnExistingDatabaseNeedsNoMaintenanceDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres: skipped with -short (make unit)")
	}
	ctx := t.Context()
	own := pgtest.URL(t)
	u, err := url.Parse(own)
	require.NoError(t, err)
	u.Path = "/ordermill_no_such_database_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	missing := u.String()
	defer eventstore.SetMaintenanceDatabase("ordermill_no_maintenance_database")()

	require.NoError(t, eventstore.EnsureDatabase(ctx, own))
	require.NoError(t, eventstore.MustExist(ctx, own))
	pool, err := eventstore.Open(ctx, own, "test")
	require.NoError(t, err)
	pool.Close()
	require.ErrorIs(t, eventstore.MustExist(ctx, missing), eventstore.ErrNoDatabase, "a missing database is told without the maintenance database")
	require.ErrorContains(t, eventstore.EnsureDatabase(ctx, missing), "maintenance database", "creating one needs it, and says so")
}

// newDatabase creates a database of its own, named prefix and a random suffix, dropped when
// the test ends, and returns its URL.
func newDatabase(t *testing.T, prefix string) string {
	t.Helper()
	name := prefix + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	u, err := url.Parse(pgtest.BaseURL())
	require.NoError(t, err)
	u.Path = "/" + name
	require.NoError(t, eventstore.EnsureDatabase(t.Context(), u.String()))
	t.Cleanup(func() { dropDatabase(t, name) })
	return u.String()
}

func dropDatabase(t *testing.T, name string) {
	_, admin, err := eventstore.Maintenance(pgtest.BaseURL())
	require.NoError(t, err)
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
}

// An extension's own tables and views (pg_stat_statements', often in a server's template)
// are no other application's: Open refused every database created on such a server, the
// benchmark's among them, as "holds tables, none of them Ordermill's". A table of an
// application still is refused.
func TestADatabaseWithAnExtensionIsNotAnotherApplications(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres: skipped with -short (make unit)")
	}
	ctx := t.Context()
	fresh := func(setup string) string {
		u := newDatabase(t, "ordermill_ext_")
		conn, err := pgx.Connect(ctx, u)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, setup)
		require.NoError(t, err)
		return u
	}
	pool, err := eventstore.Open(ctx, fresh(`CREATE EXTENSION pg_stat_statements`), "test")
	require.NoError(t, err, "the extension's views are not an application's tables")
	pool.Close()
	_, err = eventstore.Open(ctx, fresh(`CREATE EXTENSION pg_stat_statements; CREATE TABLE customers (id int)`), "test")
	require.ErrorContains(t, err, "holds tables, none of them Ordermill's")
}

// Services started at once on a new database check and migrate it one at a time: one saw
// another's half-applied migrations as another application's tables and refused to start
// (a probe: 2 starts of 4 lost a service so). Open waits while another holds the lock,
// and finds the database Ordermill's once that one has migrated it.
func TestOpenWaitsForAnotherProcessMigrating(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres: skipped with -short (make unit)")
	}
	ctx := t.Context()
	db := newDatabase(t, "ordermill_open_")
	other, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer other.Close(ctx)
	// The other process, mid-way: its lock taken, a first table of its migrations made.
	_, err = other.Exec(ctx, `SELECT pg_advisory_lock($1)`, eventstore.OpenLock)
	require.NoError(t, err)
	_, err = other.Exec(ctx, `CREATE TABLE half_migrated (id int)`)
	require.NoError(t, err)

	opened := make(chan error, 1)
	go func() {
		pool, err := eventstore.Open(ctx, db, "test")
		if err == nil {
			pool.Close()
		}
		opened <- err
	}()
	watcher, err := pgxpool.New(ctx, db)
	require.NoError(t, err)
	defer watcher.Close()
	require.Eventually(t, func() bool { // Open, asking for the lock
		var asked bool
		err := watcher.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
			AND application_name = 'ordermill-test' AND query LIKE '%pg_try_advisory_lock%')`).Scan(&asked)
		return err == nil && asked
	}, 10*time.Second, 5*time.Millisecond)

	migrated, err := pgxpool.New(ctx, db)
	require.NoError(t, err)
	require.NoError(t, eventstore.Migrate(ctx, migrated))
	migrated.Close()
	_, err = other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, eventstore.OpenLock)
	require.NoError(t, err)
	require.NoError(t, <-opened, "the database is Ordermill's once migrated")
}
