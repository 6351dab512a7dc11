package eventstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// Queued writes reach Postgres before any read of the same transaction, in order; a
// queued append's conflict surfaces at the flush; nothing queued survives a rollback.
func TestPipelineQueuesWritesUntilTheyAreNeeded(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE piped (n INT PRIMARY KEY)`)
	require.NoError(t, err)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	p := eventstore.Pipelined(tx)
	for n := 1; n <= 3; n++ {
		_, err := p.Exec(ctx, `INSERT INTO piped VALUES ($1)`, n)
		require.NoError(t, err)
	}
	var outside int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM piped`).Scan(&outside))
	assert.Zero(t, outside)
	var sum int
	require.NoError(t, p.QueryRow(ctx, `SELECT coalesce(sum(n), 0) FROM piped`).Scan(&sum))
	assert.Equal(t, 6, sum, "a read sees the writes queued before it")
	require.NoError(t, p.Commit(ctx))

	// A second writer at a version already taken: the append queues without error and
	// the conflict comes with the flush.
	stream := eventstore.Stream{Type: "order", ID: "o-piped"}
	require.NoError(t, appendOne(ctx, pool, stream, 0, 1))
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		p := eventstore.Pipelined(tx)
		_, err := eventstore.Append(ctx, p, stream, 0, eventstore.Metadata{}, eventstore.Event{Name: "test.counted.v1", Data: counted{N: 2}})
		require.NoError(t, err)
		return p.Flush(ctx)
	})
	assert.True(t, eventstore.IsVersionConflict(err), "%v", err)
	assert.Equal(t, apperr.CodeConflict, apperr.ErrorCode(err))

	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	p = eventstore.Pipelined(tx)
	_, err = p.Exec(ctx, `INSERT INTO piped VALUES (4)`)
	require.NoError(t, err)
	require.NoError(t, p.Rollback(ctx))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM piped`).Scan(&outside))
	assert.Equal(t, 3, outside)
}

// appendStatements counts the appends a pool sends (its statements that insert events).
type appendStatements struct{ n atomic.Int64 }

func (c *appendStatements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.count(d.SQL)
	return ctx
}
func (c *appendStatements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *appendStatements) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (c *appendStatements) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.count(d.SQL)
}
func (c *appendStatements) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (c *appendStatements) count(sql string) {
	if strings.Contains(sql, "INSERT INTO events") {
		c.n.Add(1)
	}
}

// An append queued right after another of the same stream, next in its versions, goes in
// the same statement, each event with its own metadata and the stream's snapshot the
// later one's; an append of another stream on the same topic in between keeps them apart,
// so the topic carries its messages in the order they were appended. A conflict of a
// joined append still fails the flush.
func TestPipelineJoinsAnAppendToTheStreamsLastOne(t *testing.T) {
	ctx := context.Background()
	counter := &appendStatements{}
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	a := eventstore.Stream{Type: "order", ID: "o-joined-a"}
	b := a // another order on a's partition
	for i := 0; b.Topic() != a.Topic() || b.ID == a.ID; i++ {
		b.ID = fmt.Sprintf("o-joined-b%d", i)
	}
	ev := func(n int) eventstore.Event { return eventstore.Event{Name: "test.counted.v1", Data: counted{N: n}} }
	snap := func(n int) eventstore.Snapshot {
		return eventstore.Snapshot{Schema: 1, State: fmt.Appendf(nil, `{"n":%d}`, n)}
	}
	meta := func(cause string) eventstore.Metadata {
		return eventstore.Metadata{CorrelationID: a.ID, CausationID: cause, Trace: map[string]string{}}
	}
	var results [][]eventstore.Recorded
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		p := eventstore.Pipelined(tx)
		for _, step := range []func() ([]eventstore.Recorded, error){
			func() ([]eventstore.Recorded, error) {
				return eventstore.AppendWithSnapshot(ctx, p, a, 0, meta("c1"), snap(1), ev(1))
			},
			func() ([]eventstore.Recorded, error) {
				_, err := p.Exec(ctx, `SELECT 1`) // another statement between: no matter
				return nil, err
			},
			func() ([]eventstore.Recorded, error) {
				return eventstore.AppendWithSnapshot(ctx, p, a, 1, meta("c2"), snap(3), ev(2), ev(3))
			},
			func() ([]eventstore.Recorded, error) { return eventstore.Append(ctx, p, b, 0, meta("c3"), ev(4)) },
			func() ([]eventstore.Recorded, error) {
				return eventstore.AppendWithSnapshot(ctx, p, a, 3, meta("c4"), snap(5), ev(5))
			},
		} {
			recs, err := step()
			require.NoError(t, err)
			if recs != nil {
				results = append(results, recs)
			}
		}
		return p.Flush(ctx)
	}))
	assert.EqualValues(t, 3, counter.n.Load(), "a's first two appends in one statement, b's, then a's last")

	var want []string
	for _, recs := range results {
		for _, r := range recs {
			require.NotZero(t, r.Position, "%s v%d has its position", r.StreamID, r.Version)
			var pos int64
			var cause string
			require.NoError(t, pool.QueryRow(ctx, `SELECT position, metadata->>'causationId' FROM events WHERE event_id = $1`, r.EventID).Scan(&pos, &cause))
			assert.Equal(t, pos, r.Position)
			assert.Equal(t, r.Metadata.CausationID, cause, "each event keeps its own metadata")
			want = append(want, r.EventID)
		}
	}
	assert.Len(t, want, 5)
	rows, err := pool.Query(ctx, `SELECT uuid FROM "watermill_`+a.Topic()+`" ORDER BY "offset"`)
	require.NoError(t, err)
	published, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, want, published, "the topic carries the messages in the order they were appended")
	var version int
	var state string
	require.NoError(t, pool.QueryRow(ctx, `SELECT version, state::text FROM snapshots WHERE stream_id = $1`, a.ID).Scan(&version, &state))
	assert.Equal(t, 4, version)
	assert.JSONEq(t, `{"n":5}`, state)

	counter.n.Store(0)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		p := eventstore.Pipelined(tx)
		_, err := eventstore.AppendWithSnapshot(ctx, p, a, 2, meta("c5"), snap(6), ev(6)) // a is at 4
		require.NoError(t, err)
		_, err = eventstore.AppendWithSnapshot(ctx, p, a, 3, meta("c6"), snap(7), ev(7))
		require.NoError(t, err)
		return p.Flush(ctx)
	})
	assert.True(t, eventstore.IsVersionConflict(err), "%v", err)
	assert.EqualValues(t, 1, counter.n.Load())
}

// A queued read that fails on our side (its scan, with Postgres content) is the error of
// the batch sent after it: the flush's error was dropped on the word that Postgres had
// aborted the transaction, which it had not, and the transaction went on without it.
func TestAFailedFlushIsTheErrorOfTheBatchSentAfterIt(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	p := eventstore.Pipelined(tx)
	var n int
	read := &pgx.Batch{}
	read.Queue(`SELECT 'not a number'`).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
	p.QueueBatch(read)
	next := &pgx.Batch{}
	next.Queue(`SELECT 1`)
	require.Error(t, p.SendBatch(ctx, next).Close(), "the read's failure")
}
