package eventstore_test

import (
	"context"
	"errors"
	"sync"
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

// Found by a probe: a dead letter whose row could not be stored (its insert refused) was
// logged "message dead-lettered" while no list, page or metric showed one, and nothing
// said it was lost. The line now comes once the dead letter is committed; until then each
// attempt that could not store it says so, and the message is tried again.
func TestADeadLetterIsLoggedOnlyOnceStored(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE refuse_letters (on_ BOOLEAN);
		INSERT INTO refuse_letters VALUES (true);
		CREATE FUNCTION refuse_letter() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF EXISTS (SELECT 1 FROM refuse_letters) THEN RAISE EXCEPTION 'no room for dead letters'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_letter BEFORE INSERT ON dead_letters FOR EACH ROW EXECUTE FUNCTION refuse_letter()`)
	require.NoError(t, err)
	behind := samePartition(t, "poison")
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: "poison"}, 0, 0))
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: behind}, 0, 0))

	logs := &errorLines{}
	log := eventstore.NewLog(pool, logs, eventstore.LogConfig{RetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	handled := make(chan string, 10)
	consumeThen(t, log, router, "letters", func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
		r, err := eventstore.DecodeRecorded(msg)
		if err != nil {
			return err
		}
		if r.StreamID == "poison" {
			return eventstore.Permanent(errors.New("cannot be handled"))
		}
		handled <- r.StreamID
		return nil
	}, func(*message.Message) {})
	go func() { _ = router.Run(ctx) }()
	defer func() { _ = router.Close() }()

	lines := logs.count
	for lines("dead letter not stored; its message will be tried again") < 2 {
		require.NoError(t, ctx.Err(), "the lost dead letter was never said")
		time.Sleep(5 * time.Millisecond)
	}
	assert.Zero(t, lines("message dead-lettered"), "nothing was stored")
	_, err = pool.Exec(ctx, `DELETE FROM refuse_letters`)
	require.NoError(t, err)
	select {
	case id := <-handled:
		assert.Equal(t, behind, id)
	case <-ctx.Done():
		t.Fatal("the message behind the poison was never handled")
	}
	for lines("message dead-lettered") == 0 {
		require.NoError(t, ctx.Err(), "the stored dead letter was never said")
		time.Sleep(5 * time.Millisecond)
	}
	var letters int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&letters))
	assert.Equal(t, 1, letters)
	assert.Equal(t, 1, lines("message dead-lettered"), "said once, as stored once")
}

// errorLines counts the error lines a Log writes, by message; safe for concurrent use
// (watermill's CaptureLoggerAdapter hands out its slices unguarded).
type errorLines struct {
	watermill.NopLogger
	mu sync.Mutex
	n  map[string]int
}

func (l *errorLines) Error(msg string, _ error, _ watermill.LogFields) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = map[string]int{}
	}
	l.n[msg]++
}

func (l *errorLines) With(watermill.LogFields) watermill.LoggerAdapter { return l }

func (l *errorLines) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}
