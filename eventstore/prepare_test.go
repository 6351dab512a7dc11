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
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A consumer that starts while the database cannot be reached (restarting, say) keeps
// trying, and consumes once it can: it does not stop for good, leaving its process never
// ready.
func TestConsumerStartsOnceTheDatabaseAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	healthy := pgtest.Pool(t)
	cfg := healthy.Config().Copy()
	var refused atomic.Int32
	cfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error {
		if refused.Add(1) <= 3 {
			return errors.New("the database is starting up")
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	topic := eventstore.PartitionFor("order_events", "o-1")
	handled := make(chan string, 1)
	require.NoError(t, log.ConsumeBatches(router, "late", []string{topic}, func(_ context.Context, _ pgx.Tx, msgs []*message.Message) error {
		for _, msg := range msgs {
			r, err := eventstore.DecodeRecorded(msg)
			if err != nil {
				return err
			}
			handled <- r.StreamID
		}
		return nil
	}))
	go func() { _ = router.Run(ctx) }()
	defer router.Close()

	require.NoError(t, appendOne(ctx, healthy, eventstore.Stream{Type: "order", ID: "o-1"}, 0, 0))
	select {
	case id := <-handled:
		require.Equal(t, "o-1", id)
	case <-ctx.Done():
		t.Fatal("the consumer never consumed")
	}
	require.Greater(t, refused.Load(), int32(3), "the first connections were refused")
}
