package eventstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A message whose handler meets an outside service's outage (eventstore.Outage) is tried
// past DefaultMaxAttempts, as long as the outage lasts within OutageRetryFor, and is
// handled once the service is back: a provider down for longer than the usual ~3 s of
// retries loses no refund to the dead letters.
func TestAnOutageIsWaitedOutNotDeadLettered(t *testing.T) {
	down := int32(3 * eventstore.DefaultMaxAttempts) // failed attempts before the service is back
	attempts, letters := runOutage(t, eventstore.LogConfig{RetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond}, down)
	assert.Equal(t, down+1, attempts, "tried until the service came back, then handled once")
	assert.Zero(t, letters)
}

// An outage that outlasts OutageRetryFor dead-letters the message, as any failure does
// after its attempts: it waits for a person, and its topic flows again.
func TestAnOutageOutlastingItsBudgetIsDeadLettered(t *testing.T) {
	cfg := eventstore.LogConfig{RetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond, OutageRetryFor: 100 * time.Millisecond}
	attempts, letters := runOutage(t, cfg, 1<<30)
	assert.Greater(t, attempts, int32(eventstore.DefaultMaxAttempts), "tried for the budget's time, not DefaultMaxAttempts times")
	assert.Equal(t, 1, letters)
}

// runOutage publishes one message about stream "outage" and one about a stream behind
// it on the same partition, and consumes them with a handler that fails the first with
// an Outage its first down attempts. It returns once the second is handled: how often the
// first was tried, and how many dead letters there are.
func runOutage(t *testing.T, cfg eventstore.LogConfig, down int32) (int32, int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	behind := samePartition(t, "outage")
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: "outage"}, 0, 0))
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: behind}, 0, 0))

	log := eventstore.NewLog(pool, watermill.NopLogger{}, cfg)
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	listener, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer listener.Release()
	_, err = listener.Exec(ctx, "LISTEN handled")
	require.NoError(t, err)
	var attempts atomic.Int32
	consumeThen(t, log, router, "outage-check", func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
		r, err := eventstore.DecodeRecorded(msg)
		if err != nil {
			return err
		}
		if r.StreamID == "outage" && attempts.Add(1) <= down {
			return eventstore.Outage(errors.New("the provider answered 503"))
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify('handled', $1)`, r.StreamID)
		return err
	}, func(*message.Message) {})
	go func() { _ = router.Run(ctx) }()
	var handled []string
	for len(handled) == 0 || handled[len(handled)-1] != behind {
		n, err := listener.Conn().WaitForNotification(ctx)
		require.NoError(t, err, "the message behind the outage was never handled")
		handled = append(handled, n.Payload)
	}
	require.NoError(t, router.Close())
	var letters int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&letters))
	if letters == 0 {
		assert.Equal(t, []string{"outage", behind}, handled, "the topic's order is kept")
	}
	return attempts.Load(), letters
}
