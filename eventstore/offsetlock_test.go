package eventstore_test

import (
	"context"
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

// Two replicas of a consumer group take turns at a topic: while one handles a batch, the
// other waits for the group's lock, and each message is handled once. The batch takes no
// transaction id before it writes: a row lock on the offset would take one, and hold back
// every topic's new messages (the log's visibility horizon) for the whole batch.
func TestReplicasTakeTurnsAndABatchTakesNoTransactionIDBeforeItsWrites(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic, messages = "warehouse_commands", 3
	sender := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	for range messages {
		sendTo(ctx, t, sender, pool, topic)
	}

	type seen struct {
		uuid  string
		noXID bool
	}
	handled := make(chan seen, 2*messages)
	hold := make(chan struct{})
	var routers []*message.Router
	for range 2 {
		// Each replica polls often; no wake-ups are sent.
		log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{MaxPollInterval: 20 * time.Millisecond})
		router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
		require.NoError(t, err)
		require.NoError(t, log.Consume(router, "turns", topic, func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
			var noXID bool
			if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id_if_assigned() IS NULL`).Scan(&noXID); err != nil {
				return err
			}
			handled <- seen{msg.UUID, noXID}
			select {
			case <-hold:
				return nil
			case <-ctx.Done(): // the test failed
				return ctx.Err()
			}
		}))
		go func() { _ = router.Run(ctx) }()
		<-router.Running()
		routers = append(routers, router)
	}

	first := <-handled
	assert.True(t, first.noXID, "a batch holds no transaction id while its handler runs")
	require.Eventually(t, func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)`).Scan(&waiting)
		return err == nil && waiting
	}, 30*time.Second, 10*time.Millisecond, "the other replica waits for the group's lock")
	close(hold)

	uuids := map[string]bool{first.uuid: true}
	for len(uuids) < messages {
		select {
		case s := <-handled:
			assert.False(t, uuids[s.uuid], "message %s handled twice", s.uuid)
			uuids[s.uuid] = true
		case <-ctx.Done():
			t.Fatalf("%d of %d messages handled", len(uuids), messages)
		}
	}
	for _, r := range routers {
		require.NoError(t, r.Close())
	}
	assert.Empty(t, handled, "no message handled twice")
}
