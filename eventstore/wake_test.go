package eventstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// Once a transaction that published to topics commits, every process listening is told
// which topics have news, one NOTIFY per topic.
func TestCommittedPublishNotifiesOtherProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	other, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer other.Release()
	_, err = other.Exec(ctx, "LISTEN watermill")
	require.NoError(t, err)

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	wctx, flush := log.CollectWakeups(ctx)
	topics := []string{"warehouse_commands", "payments_commands"}
	require.NoError(t, pgx.BeginFunc(wctx, pool, func(tx pgx.Tx) error {
		for _, topic := range topics {
			if err := eventstore.Send(wctx, tx, topic, eventstore.Metadata{}, eventstore.Message{Name: "test.wake.v1", Data: map[string]int{"n": 1}}); err != nil {
				return err
			}
		}
		return nil
	}))
	flush()
	var got []string
	for range topics {
		n, err := other.Conn().WaitForNotification(ctx)
		require.NoError(t, err)
		topic, _, _ := strings.Cut(n.Payload, "|") // topic|group|sender
		got = append(got, topic)
	}
	assert.ElementsMatch(t, topics, got)
}
