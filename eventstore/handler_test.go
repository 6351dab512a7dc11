package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A handler that keeps failing leaves none of its writes behind, the message ends in
// dead_letters, and the messages after it are still delivered.
func TestFailingHandlerWritesNothingAndDeadLettersTheMessage(t *testing.T) {
	deadLettersThePoison(t, errors.New("cannot handle this one"), eventstore.DefaultMaxAttempts)
}

// A failure marked permanent is dead-lettered at its first attempt: no retries, no
// backoff, while the messages behind it wait.
func TestAPermanentFailureIsDeadLetteredAtOnce(t *testing.T) {
	deadLettersThePoison(t, eventstore.Permanent(errors.New("cannot handle this one")), 1)
}

// A command or event whose body does not decode never will: dead-lettered at its first
// attempt, where each held its topic up for about 3 s of retries (a review).
func TestAMessageThatDoesNotDecodeIsDeadLetteredAtOnce(t *testing.T) {
	var cmd struct{ OrderID string }
	deadLettersThePoison(t, eventstore.Decode(message.NewMessage("m-1", []byte(`{"orderId": 7`)), &cmd), 1)
}

// So is a message that fails as bad input (apperr.CodeInvalid: a command that fails its
// validation), which no retry mends.
func TestAnInvalidMessageIsDeadLetteredAtOnce(t *testing.T) {
	deadLettersThePoison(t, fmt.Errorf("payments.create_session.v1 m-1: %w", apperr.FieldErrorf("amount", "amount must be a positive number of cents, got 0")), 1)
}

// deadLettersThePoison runs a poison message that fails with failure, then a healthy one
// behind it, and checks the poison is dead-lettered after attempts tries on its own.
func deadLettersThePoison(t *testing.T, failure error, attemptsWanted int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE side_effects (stream_id TEXT)`)
	require.NoError(t, err)
	// The healthy message must queue behind the poison one: same partition.
	healthy := samePartition(t, "poison")
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: "poison"}, 0, 0))
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: healthy}, 0, 0))

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	var attempts atomic.Int32
	// The healthy message's handler notifies at commit: the test waits for the commit itself.
	listener, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer listener.Release()
	_, err = listener.Exec(ctx, "LISTEN handled")
	require.NoError(t, err)
	consumeThen(t, log, router, "dlq-check", func(ctx context.Context, tx pgx.Tx, msg *message.Message) error {
		r, err := eventstore.DecodeRecorded(msg)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO side_effects VALUES ($1)`, r.StreamID); err != nil {
			return err
		}
		if r.StreamID == "poison" {
			attempts.Add(1)
			return failure
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify('handled', $1)`, r.StreamID)
		return err
	}, func(*message.Message) {})
	go func() { _ = router.Run(ctx) }()
	n, err := listener.Conn().WaitForNotification(ctx)
	require.NoError(t, err, "the message after the poison one was never committed")
	assert.Equal(t, healthy, n.Payload)
	require.NoError(t, router.Close())

	// Attempts on its own are counted; the one that found it among a batch comes on top.
	assert.GreaterOrEqual(t, attempts.Load(), int32(attemptsWanted))
	assert.LessOrEqual(t, attempts.Load(), int32(attemptsWanted+1))
	var effects []string
	rows, err := pool.Query(ctx, `SELECT stream_id FROM side_effects`)
	require.NoError(t, err)
	effects, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{healthy}, effects, "failed attempts must leave no writes")

	var group, errText string
	require.NoError(t, pool.QueryRow(ctx, `SELECT consumer_group, error FROM dead_letters`).Scan(&group, &errText))
	assert.Equal(t, "dlq-check", group)
	assert.Contains(t, errText, failure.Error())

	reg := prometheus.NewRegistry()
	reg.MustRegister(log.Collectors()...)
	assert.Equal(t, 1.0, gathered(t, reg, "ordermill_dead_letters_total", "dlq-check"))
	assert.Equal(t, 1.0, gathered(t, reg, "ordermill_messages_handled_total", "dlq-check", "dead_lettered"))
	assert.Equal(t, 1.0, gathered(t, reg, "ordermill_messages_handled_total", "dlq-check", "handled"))
	assert.Equal(t, float64(attemptsWanted), gathered(t, reg, "ordermill_messages_handled_total", "dlq-check", "failed"),
		"each attempt on its own counts; the batch that first met it failed as a whole and counts nothing")
	assert.Equal(t, 0.0, gathered(t, reg, "ordermill_consumer_lag_messages", "dlq-check"), "nothing left behind")
	// The letter still waits for a person, whatever the counters (which a restart zeroes)
	// say; once re-driven it no longer does.
	assert.Equal(t, 1.0, gathered(t, reg, "ordermill_dead_letters_open", "dlq-check"))
	_, err = pool.Exec(ctx, `UPDATE dead_letters SET redriven_at = now(), redriven_by = 'test'`)
	require.NoError(t, err)
	assert.Equal(t, 0.0, gathered(t, reg, "ordermill_dead_letters_open", "dlq-check"))
}

// gathered sums the counters and gauges of family name whose label values include every
// one of values.
// A consumer's series for what needs a person exist at zero from its start: one made by
// its first dead letter starts at 1, and Prometheus's increase() over it is 0, so an alert
// on increase(ordermill_dead_letters_total[1h]) missed the first after each restart.
func TestDeadLetterSeriesStartAtZero(t *testing.T) {
	pool := pgtest.Pool(t)
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	nothing := func(context.Context, pgx.Tx, *message.Message) error { return nil }
	require.NoError(t, log.Consume(router, "zero-check", "order_events", nothing))
	require.NoError(t, log.ConsumeDue(router, "zero-due", "order_deadlines", nothing))

	reg := prometheus.NewRegistry()
	reg.MustRegister(log.Collectors()...)
	families, err := reg.Gather()
	require.NoError(t, err)
	series := map[string]int{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if m.GetCounter().GetValue() != 0 {
				continue
			}
			switch {
			case f.GetName() == "ordermill_dead_letters_total":
				series[labels["consumer_group"]+" dead_letters_total"]++
			case f.GetName() == "ordermill_messages_handled_total":
				series[labels["consumer_group"]+" "+labels["outcome"]]++
			}
		}
	}
	partitions := len(eventstore.Partitions("order_events"))
	assert.Equal(t, map[string]int{
		"zero-check dead_letters_total": partitions, "zero-check dead_lettered": partitions, "zero-check failed": partitions,
		"zero-due dead_letters_total": 1, "zero-due dead_lettered": 1, "zero-due failed": 1,
	}, series)
}

func gathered(t *testing.T, g prometheus.Gatherer, name string, values ...string) float64 {
	t.Helper()
	families, err := g.Gather()
	require.NoError(t, err)
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			have := map[string]bool{}
			for _, l := range m.GetLabel() {
				have[l.GetValue()] = true
			}
			for _, v := range values {
				if !have[v] {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// A handler that panics on a message fails that message, which is retried and then
// dead-lettered, while the messages behind it go on: the panic crashed the process at
// every delivery, and a restarted service met the same message again (a review).
func TestAPanickingHandlerDeadLettersItsMessage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	healthy := samePartition(t, "poison")
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: "poison"}, 0, 0))
	require.NoError(t, appendOne(ctx, pool, eventstore.Stream{Type: "order", ID: healthy}, 0, 0))
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{RetryBackoff: time.Millisecond})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	handled := make(chan string, 1)
	require.NoError(t, log.Consume(router, "panicky", "order_events", func(_ context.Context, _ pgx.Tx, msg *message.Message) error {
		r, err := eventstore.DecodeRecorded(msg)
		if err != nil {
			return err
		}
		if r.StreamID == "poison" {
			panic("a bug meets a message it cannot take")
		}
		handled <- r.StreamID
		return nil
	}))
	go func() { _ = router.Run(ctx) }()
	defer func() { _ = router.Close() }()
	select {
	case id := <-handled:
		assert.Equal(t, healthy, id)
	case <-ctx.Done():
		t.Fatal("the message behind the panicking one was never handled")
	}
	var errText string
	require.NoError(t, pool.QueryRow(ctx, `SELECT error FROM dead_letters WHERE consumer_group = 'panicky'`).Scan(&errText))
	assert.Contains(t, errText, "the handler panicked: a bug meets a message it cannot take")
}
