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
