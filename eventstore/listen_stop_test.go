package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A listener whose database stops answering (a hung network, not a refused one) lets its
// process stop when asked: a probe froze a proxy in front of Postgres and the delivery
// service, told to stop, took 40 s past its 10 s SHUTDOWN_TIMEOUT, waiting for the answer
// to the listener's UNLISTEN on the frozen connection.
func TestListenStopsWhenTheDatabaseHangs(t *testing.T) {
	proxy := pgtest.NewFreezingProxy(t, pgtest.URL(t))
	pool, err := pgxpool.New(context.Background(), proxy.URL)
	require.NoError(t, err)
	defer pool.Close()
	defer proxy.Close() // first: pgx says goodbye to a connection it gave up on for 15 s

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- log.Listen(ctx) }()
	require.Eventually(t, func() bool { return pool.Stat().AcquiredConns() == 1 }, 10*time.Second, 5*time.Millisecond,
		"the listener holds its connection")

	proxy.Freeze()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		proxy.Close() // or closing the pool waits for the listener's connection too
		t.Fatal("Listen still waits on the hung database after its context ended")
	}
}
