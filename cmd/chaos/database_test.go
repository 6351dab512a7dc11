package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A run drops only a database of its own: a probe gave bin/chaos the development
// database, with four services connected, and it dropped it WITH (FORCE). One that holds
// tables and that no run made is refused, and left as it was; one a run made (or new, or
// empty) is made afresh.
func TestARunDropsOnlyADatabaseOfItsOwn(t *testing.T) {
	ctx := t.Context()
	database := func() (string, string) {
		name := "ordermill_chaosdb_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
		u, err := url.Parse(pgtest.BaseURL())
		require.NoError(t, err)
		u.Path = "/" + name
		t.Cleanup(func() {
			ctx := context.Background() // the test's has ended
			_, admin, err := eventstore.Maintenance(u.String())
			require.NoError(t, err)
			conn, err := pgx.ConnectConfig(ctx, admin)
			require.NoError(t, err)
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			require.NoError(t, err)
		})
		return name, u.String()
	}
	tables := func(raw string) int {
		conn, err := pgx.Connect(ctx, raw)
		require.NoError(t, err)
		defer conn.Close(ctx)
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n))
		return n
	}

	name, someones := database()
	require.NoError(t, eventstore.EnsureDatabase(ctx, someones))
	conn, err := pgx.Connect(ctx, someones)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE customers (id int)`)
	require.NoError(t, err)
	conn.Close(ctx)
	err = freshDatabase(ctx, someones)
	require.ErrorContains(t, err, "-database-url names database "+name+", which holds 1 tables and was not made by bin/chaos")
	assert.Equal(t, 1, tables(someones), "left as it was")

	_, ours := database()
	require.NoError(t, freshDatabase(ctx, ours), "a new one")
	conn, err = pgx.Connect(ctx, ours)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE events_of_the_last_run (id int)`)
	require.NoError(t, err)
	conn.Close(ctx)
	require.NoError(t, freshDatabase(ctx, ours), "one a run made")
	assert.Zero(t, tables(ours), "made afresh")

	_, empty := database()
	require.NoError(t, eventstore.EnsureDatabase(ctx, empty))
	u, err := url.Parse(empty)
	require.NoError(t, err)
	q := u.Query()
	q.Set("pool_max_conns", "8") // pgx's own setting, which a server refuses as a parameter
	u.RawQuery = q.Encode()
	require.NoError(t, freshDatabase(ctx, u.String()), "an empty one")
}
