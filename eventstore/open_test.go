package eventstore_test

import (
	"context"
	"net/url"
	"testing"

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
