package main

import (
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// deadletters redrive sends a dead letter back to its topic for its group, once; list
// shows who did it.
func TestDeadLettersListAndRedrive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	var id int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
		VALUES ('order_events.1', 'projections', 'msg-1', '{"n": 1}', '{"name": "test.counted.v1", "_ordermill_topic": "order_events.1"}', 'boom')
		RETURNING id`).Scan(&id))

	out, err := replay(t, url, "deadletters", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "msg-1")
	assert.Contains(t, out, "boom")

	_, err = replay(t, url, "deadletters", "redrive")
	assert.ErrorContains(t, err, "needs -id N or -topic T")
	out, err = replay(t, url, "deadletters", "redrive", "-topic", "order_events.1", "-by", "tester")
	require.NoError(t, err)
	assert.Contains(t, out, "re-drove dead letter")
	out, err = replay(t, url, "deadletters", "redrive", "-id", strconv.FormatInt(id, 10), "-by", "tester")
	require.NoError(t, err)
	assert.Contains(t, out, "re-driven already")
	_, err = replay(t, url, "deadletters", "redrive", "-id", strconv.FormatInt(id+1000, 10))
	assert.ErrorContains(t, err, "there is no dead letter", "a number that names none is an error, not a no-op")
	out, err = replay(t, url, "deadletters", "redrive", "-topic", "order_events.1", "-by", "tester")
	require.NoError(t, err)
	assert.Contains(t, out, "nothing to re-drive: topic order_events.1 has no open dead letter")
	_, err = replay(t, url, "deadletters", "redrive", "-topic", "nosuchtopic", "-by", "tester")
	assert.ErrorContains(t, err, "there is no topic nosuchtopic", "a typo is an error, not a no-op (found by a probe)")
	_, err = replay(t, url, "deadletters", "list", "-topic", "nosuchtopic")
	assert.ErrorContains(t, err, "there is no topic nosuchtopic", "a list of a typo is an error too, not \"none\"")
	out, err = replay(t, url, "deadletters", "list", "-topic", "payment_events")
	require.NoError(t, err, "a topic of the log without letters")
	assert.Contains(t, out, "none")

	// Filters that miss are errors, not "done" (a probe's script took them for done).
	var other int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
		VALUES ('reservation_events', 'saga.process_order', 'msg-2', '{"n": 2}', '{"name": "test.counted.v1"}', 'boom')
		RETURNING id`).Scan(&other))
	_, err = replay(t, url, "deadletters", "redrive", "-id", strconv.FormatInt(other, 10), "-topic", "order_events", "-by", "tester")
	assert.ErrorContains(t, err, "is of topic reservation_events and consumer group saga.process_order, which -topic or -group leave out")
	_, err = replay(t, url, "deadletters", "redrive", "-topic", "reservation_events", "-group", "nosuchgroup", "-by", "tester")
	assert.ErrorContains(t, err, "no consumer group nosuchgroup reads topic reservation_events")
	// A group with letters on another topic only does not read this one either (the review).
	_, err = replay(t, url, "deadletters", "redrive", "-topic", "order_events", "-group", "saga.process_order", "-by", "tester")
	assert.ErrorContains(t, err, "no consumer group saga.process_order reads topic order_events")
	_, err = replay(t, url, "deadletters", "list", "-id", "2")
	assert.ErrorContains(t, err, "-id goes with deadletters redrive, not list")
	_, err = replay(t, url, "deadletters", "list", "-by", "x")
	assert.ErrorContains(t, err, "-by goes with deadletters redrive, not list")
	_, err = replay(t, url, "deadletters", "redrive", "-all", "-topic", "order_events")
	assert.ErrorContains(t, err, "-all goes with deadletters list, not redrive")

	// A list cut at its limit says so: the oldest letters were hidden without a word.
	_, err = pool.Exec(ctx, `INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, metadata, error)
		SELECT 'reservation_events', 'saga.process_order', 'bulk-' || n, '{}', '{}', 'boom' FROM generate_series(1, 500) n`)
	require.NoError(t, err)
	out, err = replay(t, url, "deadletters", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "the newest 500 of 501 shown")
	_, err = pool.Exec(ctx, `DELETE FROM dead_letters WHERE message_uuid LIKE 'bulk-%'`)
	require.NoError(t, err)

	var payload, group string
	require.NoError(t, pool.QueryRow(ctx, `SELECT payload::text, metadata->>'_ordermill_redrive_for' FROM "watermill_order_events.1" WHERE uuid = 'msg-1'`).Scan(&payload, &group))
	assert.JSONEq(t, `{"n": 1}`, payload)
	assert.Equal(t, "projections", group)

	out, err = replay(t, url, "deadletters", "list")
	require.NoError(t, err)
	assert.NotContains(t, out, "msg-1", "re-driven letters are not open")
	out, err = replay(t, url, "deadletters", "list", "-all")
	require.NoError(t, err)
	assert.Contains(t, out, "by tester")
}
