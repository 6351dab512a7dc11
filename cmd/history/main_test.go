package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections/ordergen"
)

// The history is written, passed over by the saga and the read models (nothing is behind,
// so a service started afterwards does not act on it), and held by the rebuilt read models.
func TestHistoryIsConsumedAndInTheReadModels(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var out bytes.Buffer
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": url}[k] }
	require.NoError(t, run(context.Background(), []string{"-events", "3000", "-seed", "4"}, getenv, &out, &out))
	assert.Regexp(t, `^wrote \d+ events of \d+ orders in .*\nrebuilt the read models from \d+ events and vacuumed in `, out.String())

	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	var events, streams, summaries int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT stream_id) FROM events`).Scan(&events, &streams))
	// Order ids are spread as the orders service's random ones are.
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders.order_summaries
		WHERE order_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'`).Scan(&summaries))
	assert.GreaterOrEqual(t, events, 3000)
	assert.Equal(t, streams, summaries, "every order of the history is in the summaries")

	// Each order has its snapshot, as the services' appends leave one, and it is the
	// state its events fold to.
	ids, err := pgx.CollectRows(must(pool.Query(ctx, `SELECT stream_id FROM events GROUP BY stream_id`)), pgx.RowTo[string])
	require.NoError(t, err)
	var snapshots int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM snapshots`).Scan(&snapshots))
	assert.Equal(t, streams, snapshots)
	for _, id := range ids {
		fromSnapshot, err := orderstream.Load(ctx, pool, id)
		require.NoError(t, err)
		fromEvents, err := orderstream.LoadHistory(ctx, pool, id)
		require.NoError(t, err)
		require.Equal(t, fromEvents.Order, fromSnapshot, id)
	}

	lags, err := eventstore.GroupLags(ctx, pool)
	require.NoError(t, err)
	groups := map[string]int{}
	for _, l := range lags {
		groups[l.Group]++
		assert.Zero(t, l.Behind, "%s on %s", l.Group, l.Topic)
	}
	assert.Equal(t, map[string]int{"saga.process_order": 4, "projections": 4}, groups)
}

// Pasts of two seeds add up on one database, the same seed twice is refused with a word
// on what to do (it failed on a duplicate key, whatever the seed), and no order of a past
// waits: one left waiting for its payment had no deadline armed, never ended, and kept the
// dashboards' "stuck" alerts firing.
func TestHistoriesOfTwoSeedsAddUpAndEveryOrderEnded(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": url}[k] }
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-events", "2000", "-seed", "1"}, getenv, &out, &out))
	require.NoError(t, run(context.Background(), []string{"-events", "2000", "-seed", "2"}, getenv, &out, &out), out.String())
	err := run(context.Background(), []string{"-events", "2000", "-seed", "2"}, getenv, &out, &out)
	require.EqualError(t, err, "the database already holds orders of -seed 2 (nothing written): give another -seed, or a fresh database")

	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	var events int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events))
	assert.GreaterOrEqual(t, events, 4000, "both pasts")
	rows, err := pool.Query(ctx, `SELECT DISTINCT status FROM orders.order_summaries`)
	require.NoError(t, err)
	statuses, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"completed", "cancelled", "rejected", "delivery_failed"}, statuses, "every order ended")
}

// Order events the services have not read yet (a system stopped with work in flight)
// were moved past with the history's, as consumed: those orders never went on. A past is
// now refused while any consumer is behind, and nothing is written.
func TestHistoryRefusesWhileTheConsumersAreBehind(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": url}[k] }
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-events", "2000", "-seed", "1"}, getenv, &out, &out))
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	_, err = ordergen.Generate(ctx, pool, ordergen.Options{Events: 20, InFlight: 2, Seed: 3, UUIDs: true, Snapshots: true})
	require.NoError(t, err, "events no consumer has read")
	var before int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&before))

	err = run(ctx, []string{"-events", "2000", "-seed", "2"}, getenv, &out, &out)
	require.ErrorIs(t, err, ordergen.ErrBehind)
	assert.ErrorContains(t, err, "nothing written")
	var after int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&after))
	assert.Equal(t, before, after)
	lags, err := eventstore.GroupLags(ctx, pool)
	require.NoError(t, err)
	var behind int64
	for _, l := range lags {
		behind += l.Behind
	}
	assert.Positive(t, behind, "the events not read are still to be read")
}

// A past is refused, before anything is written, while a service is connected: the
// help says to run it with none running, and a probe ran it beside idle services, whose
// order events appended meanwhile would have been passed over as read.
func TestHistoryRefusesWhileAServiceIsConnected(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	orders, err := eventstore.Connect(ctx, url, "orders")
	require.NoError(t, err)
	defer orders.Close()
	require.NoError(t, orders.Ping(ctx))
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": url}[k] }
	var out bytes.Buffer
	err = run(ctx, []string{"-events", "2000", "-seed", "1"}, getenv, &out, &out)
	require.ErrorContains(t, err, "services use database")
	assert.ErrorContains(t, err, "(ordermill-orders): stop them first")
	var events int
	require.NoError(t, orders.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events))
	assert.Zero(t, events, "nothing written")
}

func TestHistoryRefusesABadCount(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-events", "0"}, func(string) string { return "postgres://nowhere.invalid/none" }, &out, &out)
	assert.ErrorContains(t, err, "-events must be positive")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
