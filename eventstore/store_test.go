package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

type counted struct {
	N int `json:"n"`
}

func appendOne(ctx context.Context, pool *pgxpool.Pool, stream eventstore.Stream, expected int, n int) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := eventstore.Append(ctx, tx, stream, expected, eventstore.Metadata{}, eventstore.Event{Name: "test.counted.v1", Data: counted{N: n}})
		return err
	})
}

// publishWoken appends one event to order id and, once it has committed, wakes the
// topic's consumers, as the host does for a request.
func publishWoken(ctx context.Context, t *testing.T, log *eventstore.Log, pool *pgxpool.Pool, id string) {
	t.Helper()
	wctx, flush := log.CollectWakeups(ctx)
	require.NoError(t, appendOne(wctx, pool, eventstore.Stream{Type: "order", ID: id}, 0, 0))
	flush()
}

func TestAppendConcurrentWritersAtSameVersionOnlyOneWins(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	stream := eventstore.Stream{Type: "order", ID: "o-1"}
	require.NoError(t, appendOne(ctx, pool, stream, 0, 0))

	const writers = 2
	errs := make(chan error, writers)
	start := make(chan struct{})
	for i := range writers {
		go func() {
			<-start
			errs <- appendOne(ctx, pool, stream, 1, i+1)
		}()
	}
	close(start)
	var ok, conflicts int
	for range writers {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case apperr.ErrorCode(err) == apperr.CodeConflict:
			conflicts++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	assert.Equal(t, 1, ok)
	assert.Equal(t, 1, conflicts)

	events, err := eventstore.Load(ctx, pool, stream.ID)
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, 2, events[1].Version)
}

func TestAppendRejectsStaleExpectedVersion(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	stream := eventstore.Stream{Type: "order", ID: "o-2"}
	require.NoError(t, appendOne(ctx, pool, stream, 0, 0))
	require.NoError(t, appendOne(ctx, pool, stream, 1, 1))

	err := appendOne(ctx, pool, stream, 1, 2)
	assert.Equal(t, apperr.CodeConflict, apperr.ErrorCode(err))
	err = appendOne(ctx, pool, stream, 5, 2)
	assert.Equal(t, apperr.CodeConflict, apperr.ErrorCode(err), "a version ahead of the stream is refused too")
}

// An append at a version the stream has not reached is refused by Postgres itself, not
// only noticed by the client afterwards: queued with other writes and the COMMIT in one
// round trip, it fails the commit, and nothing of the transaction is kept.
func TestAppendAheadOfTheStreamFailsAPipelinedCommit(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	behind := eventstore.Stream{Type: "order", ID: "o-behind"}
	require.NoError(t, appendOne(ctx, pool, behind, 0, 0))
	other := eventstore.Stream{Type: "order", ID: "o-other"}

	err := eventstore.BeginPipelinedFunc(ctx, pool, func(p *eventstore.Pipeline) error {
		if _, err := eventstore.Append(ctx, p, other, 0, eventstore.Metadata{}, eventstore.Event{Name: "test.counted.v1", Data: counted{}}); err != nil {
			return err
		}
		_, err := eventstore.Append(ctx, p, behind, 5, eventstore.Metadata{}, eventstore.Event{Name: "test.counted.v1", Data: counted{N: 1}})
		return err
	})
	require.True(t, eventstore.IsVersionConflict(err), "%v", err)
	var pgErr *pgconn.PgError
	assert.ErrorAs(t, err, &pgErr, "Postgres refused it")
	for id, want := range map[string]int{other.ID: 0, behind.ID: 1} {
		events, err := eventstore.Load(ctx, pool, id)
		require.NoError(t, err)
		assert.Len(t, events, want, "stream %s", id)
	}
}

func TestRolledBackAppendStoresAndPublishesNothing(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	stream := eventstore.Stream{Type: "order", ID: "o-3"}
	boom := errors.New("decided to roll back")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := eventstore.Append(ctx, tx, stream, 0, eventstore.Metadata{}, eventstore.Event{Name: "test.counted.v1", Data: counted{}})
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)

	var events, messages int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events))
	for _, topic := range eventstore.Partitions("order_events") {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{"watermill_" + topic}.Sanitize()).Scan(&n))
		messages += n
	}
	assert.Zero(t, events)
	assert.Zero(t, messages)

	// A committed append afterwards is the first, and only, message a consumer sees.
	require.NoError(t, appendOne(ctx, pool, stream, 0, 42))
	got := consume(t, pool, "rollback-check", 1)
	require.Len(t, got, 1)
	assert.Equal(t, 1, got[0].Version)
	assert.JSONEq(t, `{"n":42}`, string(got[0].Payload))
}

// consume runs a consumer group on order_events until it has received want events and
// returns them in arrival order.
func consume(t *testing.T, pool *pgxpool.Pool, group string, want int) []eventstore.Recorded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logger := watermill.NopLogger{}
	log := eventstore.NewLog(pool, logger, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, logger)
	require.NoError(t, err)

	var mu sync.Mutex
	var got []eventstore.Recorded
	done := make(chan struct{})
	consumeThen(t, log, router, group, func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
		return nil
	}, func(msg *message.Message) {
		r, err := eventstore.DecodeRecorded(msg)
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
		if len(got) == want {
			close(done)
		}
	})
	go func() { _ = router.Run(ctx) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("consumer received %d of %d events", len(got), want)
	}
	require.NoError(t, router.Close())
	mu.Lock()
	defer mu.Unlock()
	return append([]eventstore.Recorded(nil), got...)
}

func TestConcurrentWritersEveryEventDeliveredOnceInStreamOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("8,000 appends")
	}
	ctx := context.Background()
	pool := pgtest.Pool(t)
	const writers, perWriter = 8, 1000

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := eventstore.Stream{Type: "order", ID: fmt.Sprintf("writer-%d", w)}
			for i := range perWriter {
				if err := appendOne(ctx, pool, stream, i, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// The consumer runs while the writers write, as it would in production.
	got := consume(t, pool, "exactly-once", writers*perWriter)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	seen := map[string]bool{}
	next := map[string]int{}
	for _, r := range got {
		assert.False(t, seen[r.EventID], "event %s delivered twice", r.EventID)
		seen[r.EventID] = true
		next[r.StreamID]++
		assert.Equal(t, next[r.StreamID], r.Version, "stream %s out of order", r.StreamID)
		var body counted
		require.NoError(t, json.Unmarshal(r.Payload, &body))
		assert.Equal(t, r.Version-1, body.N)
	}
	assert.Len(t, seen, writers*perWriter)
	for w := range writers {
		assert.Equal(t, perWriter, next[fmt.Sprintf("writer-%d", w)])
	}
}

// recordStreams runs a router whose consumer group on every partition of order_events
// handles each message by doing nothing, and sends the stream id of each message it
// handled on the channel it returns.
func recordStreams(ctx context.Context, t *testing.T, log *eventstore.Log, group string) <-chan string {
	t.Helper()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	handled := make(chan string, 100)
	consumeThen(t, log, router, group, func(context.Context, pgx.Tx, *message.Message) error { return nil }, func(msg *message.Message) {
		if r, err := eventstore.DecodeRecorded(msg); err == nil {
			handled <- r.StreamID
		}
	})
	go func() { _ = router.Run(ctx) }()
	t.Cleanup(func() { _ = router.Close() })
	<-router.Running()
	return handled
}

// consumeThen registers h on every partition of order_events and calls after once h is
// done with a message, inside the consumer's transaction.
func consumeThen(t *testing.T, log *eventstore.Log, router *message.Router, group string, h eventstore.Handler, after func(*message.Message)) {
	t.Helper()
	require.NoError(t, log.Consume(router, group, "order_events", func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
		if err := h(ctx, tx, msg); err != nil {
			return err
		}
		after(msg)
		return nil
	}))
}

// The messages an append publishes, in the same statement, are the recorded events as
// the caller got them back, position and time included, in version order on the stream's
// partition.
func TestAppendPublishesTheRecordedEvents(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	stream := eventstore.Stream{Type: "order", ID: "o-published"}
	meta := eventstore.Metadata{CorrelationID: "o-published", Actor: "saga", HandledBy: "saga.process_order"}
	var recorded []eventstore.Recorded
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		recorded, err = eventstore.Append(ctx, tx, stream, 0, meta,
			eventstore.Event{Name: "test.counted.v1", Data: counted{N: 1}}, eventstore.Event{Name: "test.counted.v1", Data: counted{N: 2}})
		return err
	}))
	rows, err := pool.Query(ctx, `SELECT uuid, payload, metadata FROM "watermill_`+stream.Topic()+`" ORDER BY "offset"`)
	require.NoError(t, err)
	type row struct {
		UUID     string
		Payload  []byte
		Metadata map[string]string
	}
	published, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	require.NoError(t, err)
	require.Len(t, published, 2)
	for i, p := range published {
		msg := message.NewMessage(p.UUID, p.Payload)
		got, err := eventstore.DecodeRecorded(msg)
		require.NoError(t, err)
		want := recorded[i]
		assert.Equal(t, want.EventID, p.UUID)
		assert.True(t, want.RecordedAt.Equal(got.RecordedAt), "recorded at %v, published %v", want.RecordedAt, got.RecordedAt)
		assert.JSONEq(t, string(want.Payload), string(got.Payload))
		want.RecordedAt, got.RecordedAt, want.Payload, got.Payload = time.Time{}, time.Time{}, nil, nil
		want.Metadata.Trace = nil // empty without a span, and left out of the JSON
		assert.Equal(t, want, got, "the envelope is the recorded event")
		assert.Equal(t, map[string]string{"name": "test.counted.v1", "stream_id": stream.ID,
			"correlation_id": "o-published", "handled_by": "saga.process_order"}, p.Metadata)
	}
}
