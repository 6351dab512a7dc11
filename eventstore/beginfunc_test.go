package eventstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// roundTrips records what each round trip sent: a statement alone, or a batch's.
type roundTrips struct {
	mu    sync.Mutex
	trips [][]string
	batch []string
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trips = append(r.trips, []string{strings.TrimSpace(d.SQL)})
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batch = []string{}
	return ctx
}
func (r *roundTrips) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batch = append(r.batch, strings.TrimSpace(d.SQL))
}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trips = append(r.trips, r.batch)
}

func (r *roundTrips) reset() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.trips
	r.trips = nil
	return t
}

func tracedPool(t *testing.T) (*pgxpool.Pool, *roundTrips) {
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	rt := &roundTrips{}
	cfg.ConnConfig.Tracer = rt
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(context.Background(), `CREATE TABLE notes (n int PRIMARY KEY)`)
	require.NoError(t, err)
	rt.reset()
	return pool, rt
}

// The BEGIN of an HTTP write's transaction travels with its first statement, whether that
// is an Exec, a QueryRow or a batch, and the statements after it run in the same
// transaction; a first Query gets the BEGIN on its own, as pgx sends it.
func TestBeginFuncSendsBeginWithTheFirstStatement(t *testing.T) {
	ctx := context.Background()
	pool, rt := tracedPool(t)

	var started []bool
	firsts := map[string]func(tx pgx.Tx) error{
		"exec": func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO notes VALUES (1)`)
			return err
		},
		"queryrow": func(tx pgx.Tx) error {
			var n int
			return tx.QueryRow(ctx, `INSERT INTO notes VALUES (2) RETURNING n`).Scan(&n)
		},
		"batch": func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`INSERT INTO notes VALUES (3)`)
			return tx.SendBatch(ctx, b).Close()
		},
		"query": func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `INSERT INTO notes VALUES (4) RETURNING n`)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		},
	}
	for name, first := range firsts {
		require.NoError(t, eventstore.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := first(tx); err != nil {
				return err
			}
			// In the same transaction as the first statement: the same start time.
			var same bool
			err := tx.QueryRow(ctx, `SELECT count(*) = 1 FROM notes WHERE xmin::text::bigint = txid_current() % (2^32)::bigint`).Scan(&same)
			started = append(started, same)
			return err
		}), name)
		trips := rt.reset()
		require.NotEmpty(t, trips, name)
		if name == "query" {
			assert.Equal(t, []string{"BEGIN"}, trips[0], "a first Query gets the BEGIN on its own")
			continue
		}
		assert.Equal(t, "BEGIN", trips[0][0], name)
		assert.Len(t, trips[0], 2, "%s: the BEGIN and the first statement in one round trip", name)
		assert.Equal(t, []string{"COMMIT"}, trips[len(trips)-1], name)
	}
	assert.Equal(t, []bool{true, true, true, true}, started, "each first statement's row was written by its transaction")
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n))
	assert.Equal(t, 4, n, "every transaction committed")
}

// fn's error rolls the transaction back, and a transaction that sent nothing sends
// neither BEGIN nor COMMIT.
func TestBeginFuncRollsBackOnErrorAndSendsNothingForNothing(t *testing.T) {
	ctx := context.Background()
	pool, rt := tracedPool(t)
	boom := errors.New("boom")
	err := eventstore.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO notes VALUES (1)`); err != nil {
			return err
		}
		return boom
	})
	assert.ErrorIs(t, err, boom)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n))
	assert.Zero(t, n, "rolled back")
	rt.reset()

	require.NoError(t, eventstore.BeginFunc(ctx, pool, func(pgx.Tx) error { return nil }))
	assert.ErrorIs(t, eventstore.BeginFunc(ctx, pool, func(pgx.Tx) error { return boom }), boom)
	assert.Empty(t, rt.reset(), "no statement, no round trip")
}

// When the BEGIN that goes with a transaction's first flush fails (its connection died),
// every statement of the batch fails with that error, a Query callback's too: pgx closes
// the rows it hands a callback whatever the error, and nil rows panicked, so a request
// whose connection was cut got no answer at all instead of its 503.
func TestPipelineOnADeadConnectionFailsItsQueries(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 1
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false } // hand back the dead one
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	pid := conn.Conn().PgConn().PID()
	conn.Release()
	var terminated bool
	require.NoError(t, pgtest.Pool(t).QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&terminated))
	require.True(t, terminated)

	var called bool
	err = eventstore.BeginPipelinedFunc(ctx, pool, func(p *eventstore.Pipeline) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT 1`).Query(func(rows pgx.Rows) error {
			called = true
			return rows.Err()
		})
		p.QueueBatch(b)
		return p.Flush(ctx)
	})
	require.Error(t, err)
	assert.True(t, called, "the callback is called with the batch's error")
}
