package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A message whose handler fails until a flag flips is retried with growing waits, then
// dead-lettered; re-driven once the flag has flipped, it is handled exactly once by the
// group that failed it and by no other group, however often and however concurrently the
// re-drive is asked for, and the dead letter stays, marked re-driven.
func TestRedriveHandsADeadLetterBackToItsGroupOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE effects (consumer_group TEXT, stream_id TEXT, at TIMESTAMPTZ DEFAULT clock_timestamp())`)
	require.NoError(t, err)

	const backoff = 20 * time.Millisecond
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{RetryBackoff: backoff, MaxRetryBackoff: time.Second})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	var fixed atomic.Bool
	other := otherPartition(t, "poison")
	awaitOther := func() {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			var n int
			if pool.QueryRow(ctx, `SELECT count(*) FROM effects WHERE consumer_group = 'flaky' AND stream_id = $1`, other).Scan(&n) == nil && n > 0 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var mu sync.Mutex
	var attemptsAt []time.Time
	effect := func(group string) eventstore.Handler {
		return func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
			r, err := eventstore.DecodeRecorded(msg)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO effects (consumer_group, stream_id) VALUES ($1, $2)`, group, r.StreamID); err != nil {
				return err
			}
			if group == "flaky" && r.StreamID == "poison" && !fixed.Load() {
				mu.Lock()
				attemptsAt = append(attemptsAt, time.Now())
				last := len(attemptsAt) == eventstore.DefaultMaxAttempts+1
				mu.Unlock()
				if last {
					// The last attempt holds the poison message until the other partition's
					// order is handled, so that a loaded machine cannot outrun the backoff;
					// were partitions handled one after another, this would never happen.
					awaitOther()
				}
				return errors.New("not yet")
			}
			return nil
		}
	}
	require.NoError(t, log.Consume(router, "flaky", "order_events", effect("flaky")))
	require.NoError(t, log.Consume(router, "steady", "order_events", effect("steady")))
	go func() { _ = router.Run(ctx) }()
	<-router.Running()

	// Another order keeps flowing through the failing group while it backs off. Both are
	// appended in one transaction: appended later, under load, the other order's message
	// could commit after the held last attempt began, and stay invisible behind it (the
	// log shows a message only once every older transaction has ended).
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, id := range []string{"poison", other} {
			if _, err := eventstore.Append(ctx, tx, eventstore.Stream{Type: "order", ID: id}, 0, eventstore.Metadata{},
				eventstore.Event{Name: "test.counted.v1", Data: counted{N: 0}}); err != nil {
				return err
			}
		}
		return nil
	}))
	waitFor(t, pool, `SELECT count(*) FROM dead_letters`, 1)
	waitFor(t, pool, `SELECT count(*) FROM effects WHERE consumer_group = 'flaky' AND stream_id = '`+other+`'`, 1)

	mu.Lock()
	times := attemptsAt
	mu.Unlock()
	require.Len(t, times, eventstore.DefaultMaxAttempts+1, "the batch meets it first as a whole (no count), then each attempt on its own")
	for i := 2; i < len(times); i++ {
		// Attempt i+1 waits backoff·2^(i-1) after attempt i (the first retry is immediate:
		// the failing batch goes again one message at a time).
		want := backoff << (i - 2)
		assert.GreaterOrEqual(t, times[i].Sub(times[i-1]), want, "attempt %d came too soon", i+1)
	}
	waitFor(t, pool, `SELECT count(*) FROM effects WHERE consumer_group = 'steady'`, 2)
	var flowed bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT at FROM effects WHERE consumer_group = 'flaky' AND stream_id = $1)
		< (SELECT failed_at FROM dead_letters)`, other).Scan(&flowed))
	assert.True(t, flowed, "the other partition's order was handled while the poison message was backing off")

	var id int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM dead_letters`).Scan(&id))
	fixed.Store(true)

	// Two re-drives at once, one of the letter and one of its whole topic: one wins.
	var wg sync.WaitGroup
	results := make([][]eventstore.Redriven, 2)
	errs := make([]error, 2)
	var topic string
	require.NoError(t, pool.QueryRow(ctx, `SELECT topic FROM dead_letters`).Scan(&topic))
	for i, f := range []eventstore.RedriveFilter{{ID: id, By: "alice"}, {Topic: topic, By: "bob"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = eventstore.Redrive(ctx, pool, f)
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	assert.Equal(t, 1, len(results[0])+len(results[1]), "exactly one of the concurrent re-drives takes the letter")
	again, err := eventstore.Redrive(ctx, pool, eventstore.RedriveFilter{ID: id, By: "carol"})
	require.NoError(t, err)
	assert.Empty(t, again, "a re-driven letter is not re-driven twice")

	// A later message on the same partition, handled by both groups, marks that the
	// re-driven one is behind every consumer.
	next := samePartition(t, "poison")
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: next}, 0, 0))
	waitFor(t, pool, `SELECT count(*) FROM effects WHERE stream_id = '`+next+`'`, 2)
	require.NoError(t, router.Close())

	counts := map[string]int{}
	rows, err := pool.Query(ctx, `SELECT consumer_group, count(*) FROM effects WHERE stream_id = 'poison' GROUP BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var g string
		var n int
		require.NoError(t, rows.Scan(&g, &n))
		counts[g] = n
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, map[string]int{"flaky": 1, "steady": 1}, counts,
		"handled once by the group that failed it, not again by the other; failed attempts left nothing")

	var by string
	var at *time.Time
	var open int
	require.NoError(t, pool.QueryRow(ctx, `SELECT redriven_by, redriven_at, (SELECT count(*) FROM dead_letters WHERE redriven_at IS NULL)
		FROM dead_letters WHERE id = $1`, id).Scan(&by, &at, &open))
	assert.Contains(t, []string{"alice", "bob"}, by)
	assert.NotNil(t, at)
	assert.Zero(t, open)
}

// A re-driven message that fails again becomes a new dead letter; the first stays as it
// was, marked re-driven.
func TestRedrivenMessageThatFailsAgainIsDeadLetteredAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{RetryBackoff: time.Millisecond})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	require.NoError(t, log.Consume(router, "broken", "order_events", func(context.Context, pgx.Tx, *message.Message) error {
		return errors.New("still broken")
	}))
	go func() { _ = router.Run(ctx) }()
	defer func() { _ = router.Close() }()
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: "o-1"}, 0, 0))
	waitFor(t, pool, `SELECT count(*) FROM dead_letters`, 1)
	var topic string
	require.NoError(t, pool.QueryRow(ctx, `SELECT topic FROM dead_letters`).Scan(&topic))
	done, err := eventstore.Redrive(ctx, pool, eventstore.RedriveFilter{Topic: topic, By: "ops"})
	require.NoError(t, err)
	require.Len(t, done, 1)
	waitFor(t, pool, `SELECT count(*) FROM dead_letters`, 2)
	letters, err := eventstore.DeadLetters(ctx, pool, "", false, 10)
	require.NoError(t, err)
	require.Len(t, letters, 2)
	assert.Nil(t, letters[0].RedrivenAt, "the new failure is open")
	assert.NotNil(t, letters[1].RedrivenAt, "the first stays, marked re-driven")
	assert.Equal(t, letters[0].MessageUUID, letters[1].MessageUUID)
	// A reader of the log's history (a rebuild) sees the copy as nothing but a place.
	var payloads []bool
	_, err = eventstore.ReadLog(ctx, pool, topic, eventstore.Offset{}, eventstore.Offset{}, 10, func(_ eventstore.Offset, payload []byte) error {
		payloads = append(payloads, payload != nil)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false}, payloads)
	_, err = eventstore.Redrive(ctx, pool, eventstore.RedriveFilter{By: "ops"})
	assert.Error(t, err, "a re-drive names a letter or a topic")
}

// waitFor polls query (a count) until it returns want, failing the test after 30 s.
func waitFor(t *testing.T, pool *pgxpool.Pool, query string, want int) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var n int
		require.NoError(c, pool.QueryRow(context.Background(), query).Scan(&n))
		assert.Equal(c, want, n, query)
	}, 30*time.Second, 10*time.Millisecond)
}

// otherPartition finds an order id whose events go to another partition than id's.
func otherPartition(t *testing.T, id string) string {
	t.Helper()
	for i := 0; ; i++ {
		c := id + "-other-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if eventstore.PartitionFor("order_events", c) != eventstore.PartitionFor("order_events", id) {
			return c
		}
	}
}

// samePartition finds another order id whose events go to id's partition.
func samePartition(t *testing.T, id string) string {
	t.Helper()
	for i := 0; ; i++ {
		c := id + "-same-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if eventstore.PartitionFor("order_events", c) == eventstore.PartitionFor("order_events", id) {
			return c
		}
	}
}

// Found by a probe: an operator asking for the dead letters of order_events, the topic
// everyone names, was told it had none open, while its partitions' letters were open. A
// partitioned topic's name covers its partitions, listed and re-driven; a partition's
// name covers that partition only.
func TestAPartitionedTopicsDeadLettersAreItsPartitions(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	events := eventstore.EventsTopic("order")
	parts := eventstore.Partitions(events)
	_, err := pool.Exec(ctx, `INSERT INTO dead_letters (topic, consumer_group, message_uuid, payload, error)
		VALUES ($1, 'projections', 'm-1', '{}', 'x'), ($2, 'projections', 'm-2', '{}', 'x'), ('payments_commands', 'payments', 'm-3', '{}', 'x')`,
		parts[1], parts[3])
	require.NoError(t, err)

	listed := func(topic string) []string {
		ds, err := eventstore.DeadLetters(ctx, pool, topic, true, 10)
		require.NoError(t, err)
		var uuids []string
		for _, d := range ds {
			uuids = append(uuids, d.MessageUUID)
		}
		return uuids
	}
	assert.ElementsMatch(t, []string{"m-1", "m-2"}, listed(events))
	assert.Equal(t, []string{"m-2"}, listed(parts[3]))
	assert.Len(t, listed(""), 3)

	done, err := eventstore.Redrive(ctx, pool, eventstore.RedriveFilter{Topic: events, By: "test"})
	require.NoError(t, err)
	var topics []string
	for _, d := range done {
		topics = append(topics, d.Topic)
	}
	assert.ElementsMatch(t, []string{parts[1], parts[3]}, topics, "re-driven to the partitions they came from")
	assert.Empty(t, listed(events))
	assert.Equal(t, []string{"m-3"}, listed("payments_commands"))
}

// A message whose payload holds \u0000 (the log's json column keeps it, jsonb refuses it)
// failing with an error that quotes a NUL byte and invalid UTF-8 is still dead-lettered,
// at once, and re-driven as it was sent. The dead letter could not be stored: its commit
// failed, and the message was tried again and again, its topic stalled (a review).
func TestAMessageWithNULIsDeadLetteredAndRedrivenAsItWas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{RetryBackoff: time.Millisecond})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	seen := make(chan string, 16)
	var calls atomic.Int32
	require.NoError(t, log.ConsumeBatches(router, "strict", []string{"payments_commands"}, eventstore.PerMessage("strict", func(_ context.Context, _ pgx.Tx, msg *message.Message) error {
		calls.Add(1)
		seen <- string(msg.Payload)
		return eventstore.Permanent(fmt.Errorf("refused %q: \x00 and \xff", msg.Payload))
	}), eventstore.QueueWrites()))
	go func() { _ = router.Run(ctx) }()
	defer func() { _ = router.Close() }()
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return eventstore.Send(ctx, tx, "payments_commands", eventstore.Metadata{}, eventstore.Message{Name: "test.nul.v1", Data: map[string]string{"name": "a\x00b"}})
	}))
	waitFor(t, pool, `SELECT count(*) FROM dead_letters`, 1)
	first := <-seen
	require.Contains(t, first, `\u0000`)
	var errText string
	require.NoError(t, pool.QueryRow(ctx, `SELECT error FROM dead_letters`).Scan(&errText))
	assert.Contains(t, errText, `\0 and `+"\uFFFD", "NUL and invalid UTF-8 made storable")
	assert.LessOrEqual(t, calls.Load(), int32(2), "dead-lettered at once (one try in its batch, one alone)")

	_, err = eventstore.Redrive(ctx, pool, eventstore.RedriveFilter{Topic: "payments_commands", By: "ops"})
	require.NoError(t, err)
	waitFor(t, pool, `SELECT count(*) FROM dead_letters`, 2)
	for again := range seen {
		assert.Equal(t, first, again, "re-driven as it was sent")
		break
	}
}
