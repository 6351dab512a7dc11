package pgtest

import (
	"context"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
)

// FirstEvent runs the consumers register adds to a log over pool (a service's
// RegisterConsumers) until an event named name arrives on topic, stops them and returns
// that event. t fails if ctx ends first. ctx must end before the pool's cleanup closes the
// pool, which waits for the log's listener connection.
func FirstEvent(t testing.TB, ctx context.Context, pool *pgxpool.Pool, register func(*eventstore.Log, *message.Router) error, topic, name string) eventstore.Recorded {
	t.Helper()
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	if err := register(log, router); err != nil {
		t.Fatalf("register consumers: %v", err)
	}
	announced := make(chan struct{})
	var (
		once sync.Once
		got  eventstore.Recorded
	)
	err = log.Consume(router, "test", topic, func(_ context.Context, _ pgx.Tx, msg *message.Message) error {
		if msg.Metadata.Get("name") != name {
			return nil
		}
		r, err := eventstore.DecodeRecorded(msg)
		if err != nil {
			return err
		}
		once.Do(func() { got = r; close(announced) })
		return nil
	})
	if err != nil {
		t.Fatalf("consume %s: %v", topic, err)
	}
	go func() { _ = router.Run(ctx) }()
	select {
	case <-announced:
	case <-ctx.Done():
		t.Fatalf("%s never arrived on %s", name, topic)
	}
	if err := router.Close(); err != nil {
		t.Fatalf("stop consumers: %v", err)
	}
	return got
}
