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
