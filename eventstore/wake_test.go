package eventstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// Once a transaction that published to topics commits, every process listening to those
// topics is told, one NOTIFY per topic on the topic's own channel; a process listening to
// other topics hears nothing of it.
func TestCommittedPublishNotifiesOtherProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	listen := func(channels ...string) *pgxpool.Conn {
		conn, err := pool.Acquire(ctx)
		require.NoError(t, err)
		t.Cleanup(conn.Release)
		for _, ch := range channels {
			_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize())
			require.NoError(t, err)
		}
		return conn
	}
	other := listen("watermill:warehouse_commands", "watermill:payments_commands")
	bystander := listen("watermill:delivery_commands")

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	topics := []string{"warehouse_commands", "payments_commands"}
	sendTo(ctx, t, log, pool, topics...)
	var got []string
	for range topics {
		n, err := other.Conn().WaitForNotification(ctx)
		require.NoError(t, err)
		topic, _, _ := strings.Cut(n.Payload, "|") // topic|group|sender
		assert.Equal(t, "watermill:"+topic, n.Channel)
		got = append(got, topic)
	}
	assert.ElementsMatch(t, topics, got)

	// The bystander's first notification is one sent after those wake-ups: it heard none.
	_, err := pool.Exec(ctx, `SELECT pg_notify('watermill:delivery_commands', 'marker')`)
	require.NoError(t, err)
	n, err := bystander.Conn().WaitForNotification(ctx)
	require.NoError(t, err)
	assert.Equal(t, "marker", n.Payload)
}

// A consumer that starts after the listener is woken by other processes' wake-ups as well:
// the listener adds the channel of every topic registered later.
func TestAConsumerRegisteredAfterListenIsWokenByOtherProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	// Only wake-ups make the consumers look: no poll during the test.
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{MaxPollInterval: 10 * time.Minute})
	go func() { _ = log.Listen(ctx) }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(log.Collectors()...)
	sender := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{}) // another process
	go func() { _ = sender.Listen(ctx) }()                                           // it sends the wake-ups

	handled := make(chan string, 4)
	start := func(topic string) {
		router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
		require.NoError(t, err)
		require.NoError(t, log.Consume(router, "late", topic, func(context.Context, pgx.Tx, *message.Message) error {
			handled <- topic
			return nil
		}))
		go func() { _ = router.Run(ctx) }()
		t.Cleanup(func() { _ = router.Close() })
		<-router.Running()
	}
	start("warehouse_commands")
	sendTo(ctx, t, sender, pool, "warehouse_commands")
	require.Equal(t, "warehouse_commands", received(ctx, t, handled), "the listener hears the first consumer's topic")

	start("payments_commands")
	require.Eventually(t, func() bool {
		return gathered(t, reg, "ordermill_log_peeks_total", "late", "payments_commands", "nothing") >= 1
	}, 10*time.Second, 5*time.Millisecond, "the new consumer has looked and found nothing")
	sendTo(ctx, t, sender, pool, "payments_commands")
	assert.Equal(t, "payments_commands", received(ctx, t, handled), "woken by the other process's NOTIFY")
}

// sendTo commits one message to each of topics through log, which then sends the wake-ups.
func sendTo(ctx context.Context, t *testing.T, log *eventstore.Log, pool *pgxpool.Pool, topics ...string) {
	t.Helper()
	wctx, flush := log.CollectWakeups(ctx)
	require.NoError(t, pgx.BeginFunc(wctx, pool, func(tx pgx.Tx) error {
		for _, topic := range topics {
			if err := eventstore.Send(wctx, tx, topic, eventstore.Metadata{}, eventstore.Message{Name: "test.wake.v1", Data: map[string]int{"n": 1}}); err != nil {
				return err
			}
		}
		return nil
	}))
	flush()
}

// received is the next value on ch; the test fails if ctx ends first.
func received[T any](ctx context.Context, t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatal("nothing received")
		var zero T
		return zero
	}
}
