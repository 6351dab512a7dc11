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
	// The consumer reads every partition; the looks counted are those at the first of them
	// (the last one carries the test's markers: see settle).
	topic := eventstore.Partitions("order_events")[0]
	ids := streamsIn(topic, "o-peek", 3)
	marks := streamsIn(lastPartition(), "o-peek-mark", 2)
	handled := recordStreams(ctx, t, log, "peeks")
	peeks := func(found string, look ...string) float64 {
		return gathered(t, reg, "ordermill_log_peeks_total", append([]string{"peeks", topic, found}, look...)...)
	}
	peeksElsewhere := func() (n float64) {
		for _, p := range eventstore.Partitions("order_events") {
			if p != topic && p != lastPartition() {
				n += gathered(t, reg, "ordermill_log_peeks_total", "peeks", p)
			}
		}
		return n
	}
	publish := func(id string) { publishWoken(ctx, t, log, pool, id) }
	next := func() string { return received(ctx, t, handled) }

	// Start-up's looks, and a first message, before counting.
	startedUp(t, reg, "peeks")
	publish(ids[0])
	assert.Equal(t, ids[0], next())
	settle(ctx, t, log, pool, handled, reg, "peeks", marks[0])
	before, beforeElsewhere := peeks("nothing"), peeksElsewhere()
	beforeInCommit := peeks("nothing", "commit")
	publish(ids[1])
	assert.Equal(t, ids[1], next())
	settle(ctx, t, log, pool, handled, reg, "peeks", marks[1]) // the assertion: no more looks meanwhile
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
	ids := streamsIn(eventstore.Partitions("order_events")[0], "o-look", 2)
	marks := streamsIn(lastPartition(), "o-look-mark", 2)

	// Start-up's looks, and a first message, before counting.
	startedUp(t, reg, "looks")
	publishWoken(ctx, t, publishing, pool, ids[0])
	assert.Equal(t, ids[0], received(ctx, t, handled))
	settle(ctx, t, publishing, pool, handled, reg, "looks", marks[0])
	trips.Reset()
	before := heldBack()
	publishWoken(ctx, t, publishing, pool, ids[1])
	assert.Equal(t, ids[1], received(ctx, t, handled))
	settle(ctx, t, publishing, pool, handled, reg, "looks", marks[1]) // the assertion: no more round trips meanwhile
	n := trips.Count()
	assert.Equal(t, 2*3+int64(heldBack()-before), n, "round trips of the consumer for one message, and as many for the marker")
}

// streamsIn returns n order ids of prefix whose events go to partition of the order events.
func streamsIn(partition, prefix string, n int) []string {
	var ids []string
	for i := 0; len(ids) < n; i++ {
		if id := fmt.Sprintf("%s-%d", prefix, i); eventstore.PartitionFor("order_events", id) == partition {
			ids = append(ids, id)
		}
	}
	return ids
}

// lastPartition is the partition of the order events a consumer of them all looks at last
// in each of its rounds.
func lastPartition() string {
	all := eventstore.Partitions("order_events")
	return all[len(all)-1]
}

// startedUp waits until the consumer group has looked at its last partition: its first
// round, which looks at every partition, is over, and it waits for a wake-up.
func startedUp(t *testing.T, reg prometheus.Gatherer, group string) {
	t.Helper()
	require.Eventually(t, func() bool { return gathered(t, reg, "ordermill_log_peeks_total", group, lastPartition()) >= 1 },
		time.Minute, 5*time.Millisecond, "the consumer's first round")
}

// settle publishes id, an order of the last partition, through log and waits until group
// has handled it and its batch's commit has looked past it. The consumer reads its
// partitions in turn, in one goroutine, the last one last: every look it had to make
// before then has been made, so any look counted since a message the test sent earlier
// (another look at its partition, or at one it did not wake) came unasked, not merely
// later than a wait of the test's.
func settle(ctx context.Context, t *testing.T, log *eventstore.Log, pool *pgxpool.Pool, handled <-chan string, reg prometheus.Gatherer, group, id string) {
	t.Helper()
	looked := func() float64 { return gathered(t, reg, "ordermill_log_peeks_total", group, lastPartition(), "commit") }
	before := looked()
	publishWoken(ctx, t, log, pool, id)
	require.Equal(t, id, received(ctx, t, handled))
	require.Eventually(t, func() bool { return looked() > before }, time.Minute, time.Millisecond, "the marker's batch commits")
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
