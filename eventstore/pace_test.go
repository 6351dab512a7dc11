package eventstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A paced consumer (the projections) takes what the log gathered while it waited for its
// next round in one batch: after a batch of one, twenty messages published one by one,
// each woken, come in one batch (two, should publishing them outlast the pace), where an
// unpaced consumer takes a batch at each wake-up. A batch that comes back
// full is not paced: the backlog behind it is taken at once (here a pace of an hour would
// otherwise outlast the test).
func TestPacedConsumerGathersWhatArrivesMeanwhileAndSkipsThePaceBehindAFullBatch(t *testing.T) {
	t.Run("gathers", func(t *testing.T) {
		const n, pace = 20, 2 * time.Second
		pool, log, topic, ids := pacedLog(t, n+1, eventstore.LogConfig{})
		batches := consumePaced(t, log, topic, pace)
		publishWoken(t.Context(), t, log, pool, ids[0])
		require.Equal(t, 1, receiveBatch(t, batches))
		// The paced round began before its batch reached the handler.
		first := time.Now()
		for _, id := range ids[1:] { // each its own transaction and wake-up, within the pace
			publishWoken(t.Context(), t, log, pool, id)
		}
		sizes := []int{receiveBatch(t, batches)}
		next := time.Since(first)
		for got := sizes[0]; got < n; got += sizes[len(sizes)-1] {
			sizes = append(sizes, receiveBatch(t, batches))
		}
		require.GreaterOrEqual(t, next, pace/2, "the next round waited for the pace")
		require.LessOrEqual(t, len(sizes), 2, "batches %v: %d messages published one by one during the pace", sizes, n)
	})
	t.Run("a full batch is not paced", func(t *testing.T) {
		pool, log, topic, ids := pacedLog(t, 3, eventstore.LogConfig{BatchSize: 2})
		for _, id := range ids {
			require.NoError(t, appendOne(t.Context(), pool, eventstore.Stream{Type: "order", ID: id}, 0, 0))
		}
		allVisible(t, pool, topic, len(ids))
		batches := consumePaced(t, log, topic, time.Hour)
		require.Equal(t, 2, receiveBatch(t, batches))
		require.Equal(t, 1, receiveBatch(t, batches), "the rest, at once behind the full batch")
	})
}

// pacedLog is a log on a fresh database and n order ids on one partition topic.
func pacedLog(t *testing.T, n int, cfg eventstore.LogConfig) (*pgxpool.Pool, *eventstore.Log, string, []string) {
	pool := pgtest.Pool(t)
	topic := eventstore.PartitionFor("order_events", "o-0")
	var ids []string
	for i := 0; len(ids) < n; i++ {
		if id := fmt.Sprintf("o-%d", i); eventstore.PartitionFor("order_events", id) == topic {
			ids = append(ids, id)
		}
	}
	return pool, eventstore.NewLog(pool, watermill.NopLogger{}, cfg), topic, ids
}

// allVisible waits until the n messages of topic are all visible to the log's select. Its
// rule (a transaction id below the oldest one still running anywhere in the cluster) lets a
// transaction of another package's test, open at the same time on the same server, hold
// back messages committed here: the first batch would then be short of full and paced.
func allVisible(t *testing.T, pool *pgxpool.Pool, topic string, n int) {
	t.Helper()
	q := `SELECT count(*) FROM ` + pgx.Identifier{"watermill_" + topic}.Sanitize() +
		` WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())`
	require.Eventually(t, func() bool {
		var got int
		return pool.QueryRow(t.Context(), q).Scan(&got) == nil && got == n
	}, 30*time.Second, 5*time.Millisecond, "the %d messages of %s never all became visible", n, topic)
}

// consumePaced consumes topic with the given pace and reports each batch's size.
func consumePaced(t *testing.T, log *eventstore.Log, topic string, pace time.Duration) <-chan int {
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	batches := make(chan int, 16)
	require.NoError(t, log.ConsumeBatches(router, "paced", []string{topic}, func(_ context.Context, _ pgx.Tx, msgs []*message.Message) error {
		batches <- len(msgs)
		return nil
	}, eventstore.Pace(pace)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		_ = log.Listen(ctx) // the wake-ups
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		_ = router.Run(ctx)
	}()
	<-router.Running()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	return batches
}

func receiveBatch(t *testing.T, batches <-chan int) int {
	t.Helper()
	select {
	case n := <-batches:
		return n
	case <-time.After(30 * time.Second):
		t.Fatal("no batch within 30 s")
		return 0
	}
}
