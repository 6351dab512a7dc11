package eventstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// A consumer looks at a topic again soon only while a committed message there is held
// back by an older open transaction. Once it has taken everything, it waits for the next
// wake-up instead of looking again and again, and a wake-up for one of its topics makes it
// look at that one, not at all of them; a message held back is taken soon after the
// transaction holding it back ends, long before the poll interval.
func TestConsumerLooksAgainOnlyWhileAMessageIsHeldBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	// Only wake-ups and rechecks make the consumer look: no poll during the test.
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{MaxPollInterval: 10 * time.Minute})
	go func() { _ = log.Listen(ctx) }() // it sends the wake-ups
	reg := prometheus.NewRegistry()
	reg.MustRegister(log.Collectors()...)
	// The consumer reads every partition; the looks counted are those at one of them.
	topic := eventstore.PartitionFor("order_events", "o-peek")
	var ids []string // three orders of that partition
	for i := 0; len(ids) < 3; i++ {
		if id := fmt.Sprintf("o-peek-%d", i); eventstore.PartitionFor("order_events", id) == topic {
			ids = append(ids, id)
		}
	}
	handled := recordStreams(ctx, t, log, "peeks")
	peeks := func(found string, look ...string) float64 {
		return gathered(t, reg, "ordermill_log_peeks_total", append([]string{"peeks", topic, found}, look...)...)
	}
	peeksElsewhere := func() (n float64) {
		for _, p := range eventstore.Partitions("order_events") {
			if p != topic {
				n += gathered(t, reg, "ordermill_log_peeks_total", "peeks", p)
			}
		}
		return n
	}
	publish := func(id string) { publishWoken(ctx, t, log, pool, id) }
	next := func() string { return received(ctx, t, handled) }

	// Start-up's looks, and a first message, before counting.
	publish(ids[0])
	assert.Equal(t, ids[0], next())
	<-time.After(300 * time.Millisecond)
	before, beforeElsewhere := peeks("nothing"), peeksElsewhere()
	beforeInCommit := peeks("nothing", "commit")
	publish(ids[1])
	assert.Equal(t, ids[1], next())
	<-time.After(300 * time.Millisecond) // the assertion: no more looks meanwhile
	assert.Equal(t, 1.0, peeks("nothing")-before,
		"after taking its batch the consumer looks once more (in its commit's round trip), then waits for a wake-up (its own NOTIFY coming back is none)")
	assert.Equal(t, 1.0, peeks("nothing", "commit")-beforeInCommit, "that look is counted as the commit's, not as a round trip of its own")
	assert.Equal(t, beforeElsewhere, peeksElsewhere(), "a wake-up for one partition looks at that one alone")

	other := pgtest.Pool(t)
	tx, err := other.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	_, err = tx.Exec(ctx, `SELECT pg_current_xact_id()`)
	require.NoError(t, err)
	publish(ids[2])
	require.Eventually(t, func() bool { return peeks("unseen") >= 3 }, 10*time.Second, 5*time.Millisecond,
		"a message held back is looked for again and again")
	require.Empty(t, handled, "a message held back by an older transaction is not taken")
	require.NoError(t, tx.Rollback(ctx))
	released := time.Now()
	assert.Equal(t, ids[2], next())
	// Long before the poll (10 minutes here): a bound of seconds failed on a machine that
	// probes loaded, and says nothing more about the rule.
	assert.Less(t, time.Since(released), time.Minute, "taken once visible, not at the next poll")
}

// A batch's commit looks at what follows the batch in the same round trip, so a lone
// message costs its consumer three round trips: the peek that finds it, BEGIN with the
// group's lock and the select, and the offset with that look and COMMIT. Then nothing
// more until the next wake-up: looking again in a round trip of its own cost a fourth.
// (A transaction elsewhere in the cluster may hold the message back for a moment: each
// look that finds it held back is a round trip more, and counted as such.)
func TestConsumerLooksAfterABatchInItsCommitsRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	counted, trips := pgtest.CountingPoolWith(t, pool, func(*pgxpool.Config) {})
	// The consumer's log counts its round trips; another log publishes and wakes it, as
	// another process would. No poll during the test.
	consuming := eventstore.NewLog(counted, watermill.NopLogger{}, eventstore.LogConfig{MaxPollInterval: 10 * time.Minute})
	publishing := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{MaxPollInterval: 10 * time.Minute})
	reg := prometheus.NewRegistry() // the looks' counter alone: the lag gauges query
	for _, c := range consuming.Collectors() {
		if described(c, "ordermill_log_peeks_total") {
			reg.MustRegister(c)
		}
	}
	heldBack := func() float64 {
		return gathered(t, reg, "ordermill_log_peeks_total", "looks", "unseen")
	}
	go func() { _ = consuming.Listen(ctx) }()
	go func() { _ = publishing.Listen(ctx) }() // it sends the wake-ups
	handled := recordStreams(ctx, t, consuming, "looks")

	// Start-up's looks, and a first message, before counting.
	publishWoken(ctx, t, publishing, pool, "o-look-1")
	assert.Equal(t, "o-look-1", received(ctx, t, handled))
	<-time.After(300 * time.Millisecond)
	trips.Reset()
	before := heldBack()
	publishWoken(ctx, t, publishing, pool, "o-look-2")
	assert.Equal(t, "o-look-2", received(ctx, t, handled))
	<-time.After(300 * time.Millisecond) // the assertion: no more round trips meanwhile
	n := trips.Count()
	assert.Equal(t, 3+int64(heldBack()-before), n, "round trips of the consumer for one message")
}

// described reports whether c describes a metric named name.
func described(c prometheus.Collector, name string) bool {
	descs := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(descs); close(descs) }()
	found := false
	for d := range descs {
		found = found || strings.Contains(d.String(), `"`+name+`"`)
	}
	return found
}
