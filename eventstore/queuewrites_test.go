package eventstore_test

import (
	"context"
	"fmt"
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

// A QueueWrites handler's writes are queued and go to Postgres with the offset and the
// COMMIT: they commit with the batch, and a queued write that fails (found only at the
// commit) fails the batch, whose messages are then retried one by one, so the messages
// around the failing one still commit, each exactly once, and the failing one ends in the
// dead letters with nothing of it written.
func TestQueuedWritesCommitWithTheBatchAndAFailingOneIsIsolated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE effects (stream_id TEXT PRIMARY KEY CHECK (stream_id <> 'poison'))`)
	require.NoError(t, err)
	topic := eventstore.PartitionFor("order_events", "poison")
	var ids []string
	for i := 0; len(ids) < 4; i++ {
		if id := fmt.Sprintf("o-%d", i); eventstore.PartitionFor("order_events", id) == topic {
			ids = append(ids, id)
		}
	}
	ids = append(ids[:2], append([]string{"poison"}, ids[2:]...)...) // poison in the middle
	for _, id := range ids {
		require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: id}, 0, 0))
	}

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	pipelined := make(chan bool, 100)
	require.NoError(t, log.ConsumeBatches(router, "queued", []string{topic}, func(ctx context.Context, tx pgx.Tx, msgs []*message.Message) error {
		_, ok := tx.(*eventstore.Pipeline)
		pipelined <- ok
		for _, msg := range msgs {
			r, err := eventstore.DecodeRecorded(msg)
			if err != nil {
				return err
			}
			// The poison row breaks the table's check: only Postgres knows, at the flush.
			if _, err := tx.Exec(ctx, `INSERT INTO effects VALUES ($1)`, r.StreamID); err != nil {
				return err
			}
		}
		return nil
	}, eventstore.QueueWrites()))
	go func() { _ = router.Run(ctx) }()
	defer router.Close()

	require.Eventually(t, func() bool {
		var dead int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters WHERE consumer_group = 'queued'`).Scan(&dead)
		return err == nil && dead == 1
	}, 30*time.Second, 20*time.Millisecond, "the failing message never reached the dead letters")
	require.NoError(t, router.Close())

	assert.True(t, <-pipelined, "a QueueWrites handler gets a Pipeline")
	rows, err := pool.Query(ctx, `SELECT stream_id FROM effects ORDER BY stream_id`)
	require.NoError(t, err)
	effects, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	want := append([]string{ids[0], ids[1]}, ids[3:]...)
	assert.ElementsMatch(t, want, effects, "every healthy message's write commits once; the failing one's never")
	var errText string
	require.NoError(t, pool.QueryRow(ctx, `SELECT error FROM dead_letters WHERE consumer_group = 'queued'`).Scan(&errText))
	assert.Contains(t, errText, "effects_stream_id_check")
}
