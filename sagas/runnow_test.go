package sagas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/inventory"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/sagas"
)

// nowAt is the clock of the RunNow tests.
var nowAt = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// nowRunner is a runner of flow at nowAt.
func nowRunner(flow sagas.Flow, logger *slog.Logger) *sagas.Runner {
	return sagas.NewRunner(flow, sagas.DefaultConfig(), &emails{}, func() time.Time { return nowAt }, logger)
}

// nowFixture is an order the saga has brought to its payment wait, and a payment webhook
// for it.
type nowFixture struct {
	pool    *pgxpool.Pool
	id      string
	webhook sagas.Message
}

func newNowFixture(t *testing.T, pool *pgxpool.Pool, runner *sagas.Runner, id string) nowFixture {
	ctx := context.Background()
	raw := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return b
	}
	for _, m := range []sagas.Message{
		placeOrder(t, pool, id, 1_000, nowAt),
		{Name: inventory.ReservedName, ID: "m-reserved-" + id, Payload: raw(inventory.Reserved{OrderID: id, ReservationID: "res-" + id, Lines: []inventory.Line{{SKU: "SKU-001", Quantity: 1}}})},
		{Name: payment.SessionCreatedName, ID: "m-session-" + id, Payload: raw(payment.SessionCreated{OrderID: id, SessionID: "cs_" + id, URL: "https://pay/" + id, Amount: 1_000, Currency: "USD", ExpiresAt: nowAt.Add(time.Hour)})},
	} {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return runner.Handle(ctx, tx, id, m, eventstore.Metadata{CorrelationID: id, CausationID: m.ID, Actor: "saga"})
		}))
	}
	wh := sagas.PaymentWebhook{Webhook: payment.Webhook{ID: "evt_" + id, OrderID: id, Status: payment.StatusCompleted, PaymentID: "pi_" + id, SessionID: "cs_" + id, Amount: 1_000, Currency: "USD"}}
	return nowFixture{pool: pool, id: id, webhook: sagas.Message{Name: sagas.PaymentWebhookName, ID: eventstore.NewID(), Payload: raw(wh)}}
}

// record is a Recorder of the fixture's webhook, as the webhook inbox records one: it
// publishes the webhook only for the saga's consumers to take, when the saga has not
// handled it (handledBy empty). seen collects the orders and groups it was called with.
func (f nowFixture) record(seen *[]string) sagas.Recorder {
	return func(ctx context.Context, tx pgx.Tx, o *order.Order, handledBy string) ([]sagas.Message, error) {
		*seen = append(*seen, string(o.Status)+"|"+handledBy)
		if handledBy != "" {
			return []sagas.Message{f.webhook}, nil
		}
		return []sagas.Message{f.webhook}, eventstore.Send(ctx, tx, sagas.WebhooksTopic,
			eventstore.Metadata{CorrelationID: f.id, Actor: "payment-webhook"},
			eventstore.Message{ID: f.webhook.ID, Name: f.webhook.Name, Data: f.webhook.Payload})
	}
}

func (f nowFixture) load(t *testing.T) *order.Order {
	o, err := orderstream.Load(context.Background(), f.pool, f.id)
	require.NoError(t, err)
	return o
}

// logged is the handled_by mark of each row of message uuid in topic ("" for none):
// empty when the log does not hold the message.
func (f nowFixture) logged(t *testing.T, topic, uuid string) []string {
	rows, err := f.pool.Query(context.Background(),
		`SELECT coalesce(metadata->>'handled_by', '') FROM `+pgx.Identifier{"watermill_" + topic}.Sanitize()+` WHERE uuid = $1`, uuid)
	require.NoError(t, err)
	marks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return marks
}

// sagaTakes runs a consumer of topic in the saga's group and reports whether the log
// hands it message uuid within a few seconds: a consumer skips what its group has
// handled already (eventstore.Metadata.HandledBy).
func (f nowFixture) sagaTakes(t *testing.T, topic, uuid string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := eventstore.NewLog(f.pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	taken := make(chan struct{})
	var once sync.Once
	require.NoError(t, log.ConsumeBatches(router, sagas.ConsumerGroup, []string{topic}, func(_ context.Context, _ pgx.Tx, msgs []*message.Message) error {
		for _, m := range msgs {
			if m.UUID == uuid {
				once.Do(func() { close(taken) })
			}
		}
		return nil
	}))
	go func() { _ = router.Run(ctx) }()
	defer func() { require.NoError(t, router.Close()) }()
	select {
	case <-taken:
		return true
	case <-ctx.Done():
		return false
	}
}

// A webhook recorded through RunNow moves the order in the recorder's own transaction:
// when it commits, the order has taken the step (paid, the shipment asked for), the
// webhook is not in the log at all (the saga's consumers have nothing left to do with
// it), and the command it caused goes to the delivery service once, unmarked, for it to
// handle.
func TestRunNowTakesTheStepInTheRecordersTransaction(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	runner := nowRunner(sagas.ProcessOrder, slog.New(slog.DiscardHandler))
	f := newNowFixture(t, pool, runner, "ord-now")

	var seen []string
	var plans string
	require.NoError(t, runner.RunNow(ctx, pool, f.id, nil, func(ctx context.Context, tx pgx.Tx, o *order.Order, handledBy string) ([]sagas.Message, error) {
		if err := tx.QueryRow(ctx, `SELECT current_setting('plan_cache_mode') || ' ' || current_setting('enable_seqscan')`).Scan(&plans); err != nil {
			return nil, err
		}
		return f.record(&seen)(ctx, tx, o, handledBy)
	}))
	assert.Equal(t, []string{string(order.StatusAwaitingPayment) + "|" + sagas.ConsumerGroup}, seen,
		"the recorder ran once, on the order as it stood, naming the saga as the handler")
	assert.Equal(t, "force_generic_plan off", plans,
		"the run's keyed statements are planned once, as index lookups (PlanByKey), as in the consumers' batches")
	o := f.load(t)
	assert.Equal(t, order.StatusAwaitingShipment, o.Status)
	assert.Equal(t, "pi_"+f.id, o.PaymentID)
	assert.Empty(t, f.logged(t, sagas.WebhooksTopic, f.webhook.ID), "the saga handled the webhook: it is not published")
	var commands, marked int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(metadata->>'handled_by') FROM watermill_delivery_commands`).Scan(&commands, &marked))
	assert.Equal(t, 1, commands, "one shipment asked for")
	assert.Zero(t, marked, "a command is its receiver's to handle")
	assert.Equal(t, map[string]float64{"handled": 1, "left_to_log": 0, "busy": 0}, ranNow(t, runner))
	var states int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM sagas.order_process`).Scan(&states))
	assert.Zero(t, states, "no step of this life changed the saga's state (no webhook came early), so it has no row")

	// A recorder's own refusal is the caller's error, and nothing of the run is kept.
	refused := apperr.Errorf(apperr.CodeConflict, "refused")
	before := pgtest.Contents(t, pool)
	calls := 0
	err := runner.RunNow(ctx, pool, f.id, nil, func(context.Context, pgx.Tx, *order.Order, string) ([]sagas.Message, error) {
		calls++
		return nil, refused
	})
	require.ErrorIs(t, err, refused)
	assert.Equal(t, 1, calls, "a recorder's refusal is not a failure of the saga: nothing is done again")
	assert.Empty(t, before.Changed(pgtest.Contents(t, pool)))
}

// When the saga's part fails, RunNow rolls the transaction back whole and does it again
// without the saga, the caller's first statements included, recording without the mark:
// what was recorded is committed once, the order is left as it was, and the webhook
// waits in the log for the saga's consumers, with their retries and dead letters, as it
// did before the saga ran at once.
func TestRunNowLeavesToTheLogWhatTheSagaCannotDo(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	f := newNowFixture(t, pool, nowRunner(sagas.ProcessOrder, slog.New(slog.DiscardHandler)), "ord-later")
	// The ticket is appended, then the command fails with the COMMIT (its topic has no
	// table), which rolls the whole transaction back.
	failing := sagas.Flow{sagas.On[sagas.PaymentWebhook](func(sagas.Input, sagas.PaymentWebhook) ([]sagas.Effect, error) {
		return []sagas.Effect{
			sagas.OpenTicket{Kind: "test", Reason: "written, then rolled back"},
			sagas.SendCommand{Topic: "no_such_topic", Name: "test.command.v1", Data: map[string]string{}},
		}, nil
	})}
	var logged bytes.Buffer
	runner := nowRunner(failing, slog.New(slog.NewTextHandler(&logged, nil)))

	// The caller's first statement writes a row whose key allows it once: done again in a
	// transaction that still held the first attempt's, it would fail.
	_, err := pool.Exec(ctx, `CREATE TABLE runnow_first (id text PRIMARY KEY)`)
	require.NoError(t, err)
	firsts := 0
	first := func(b *pgx.Batch) {
		firsts++
		b.Queue(`INSERT INTO runnow_first VALUES ($1)`, f.id)
	}

	var seen []string
	require.NoError(t, runner.RunNow(ctx, pool, f.id, first, f.record(&seen)))
	assert.Equal(t, 2, firsts, "the caller's first statements are queued again for the second transaction")
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM runnow_first`).Scan(&rows))
	assert.Equal(t, 1, rows, "and committed once")
	awaiting := string(order.StatusAwaitingPayment)
	assert.Equal(t, []string{awaiting + "|" + sagas.ConsumerGroup, awaiting + "|"}, seen,
		"recorded again, on the order as stored, for no group")
	o := f.load(t)
	assert.Equal(t, order.StatusAwaitingPayment, o.Status)
	assert.Empty(t, o.SupportTickets, "nothing of the failed run is kept")
	assert.Equal(t, []string{""}, f.logged(t, sagas.WebhooksTopic, f.webhook.ID), "published once, marked handled by no group")
	var webhooks int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM watermill_webhook_events`).Scan(&webhooks))
	assert.Equal(t, 1, webhooks, "nothing else is published")
	assert.True(t, f.sagaTakes(t, sagas.WebhooksTopic, f.webhook.ID), "the saga's consumers take it from the log")
	assert.Contains(t, logged.String(), "no_such_topic")
	assert.Equal(t, map[string]float64{"handled": 0, "left_to_log": 1, "busy": 0}, ranNow(t, runner))
}

// ranNow reads runner's ordermill_saga_run_now_total by outcome.
func ranNow(t *testing.T, runner *sagas.Runner) map[string]float64 {
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(runner.Collectors()[0]))
	families, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return got
}

// A webhook the saga handles at once costs its transaction two round trips to Postgres:
// the BEGIN, the caller's first statement, the lock and the reads in one, and every
// write, the recorder's and the saga's, with the COMMIT in the other.
func TestRunNowTakesTwoRoundTrips(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	runner := nowRunner(sagas.ProcessOrder, slog.New(slog.DiscardHandler))
	traced, trips := pgtest.CountingPool(t, pool)

	var counted []int64
	for _, id := range []string{"ord-trips-1", "ord-trips-2"} {
		f := newNowFixture(t, pool, runner, id)
		first := func(b *pgx.Batch) { b.Queue(`SELECT 1`) }
		var seen []string
		trips.Reset()
		require.NoError(t, runner.RunNow(ctx, traced, f.id, first, f.record(&seen)))
		counted = append(counted, trips.Count())
		assert.Equal(t, order.StatusAwaitingShipment, f.load(t).Status)
	}
	assert.Equal(t, int64(2), counted[1], "round trips of the second webhook, its statements prepared (the first took %d)", counted[0])
}

// A transaction whose server goes away while its commit round trip is under way may have
// committed (here the backend is terminated while a write queued before the COMMIT waits
// for a lock, but the client cannot tell the two apart): RunNow returns the error and does
// nothing again, so nothing a client sent is recorded twice.
func TestRunNowDoesNotRedoACommitItCannotTell(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	runner := nowRunner(sagas.ProcessOrder, slog.New(slog.DiscardHandler))
	f := newNowFixture(t, pool, runner, "ord-gone")
	_, err := pool.Exec(ctx, `CREATE TABLE runnow_held (id text PRIMARY KEY)`)
	require.NoError(t, err)
	// Another transaction's uncommitted row holds the key the recorder writes: the run's
	// commit round trip waits for it.
	holder, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, `INSERT INTO runnow_held VALUES ('k')`)
	require.NoError(t, err)

	var seen []string
	record := f.record(&seen)
	done := make(chan error, 1)
	// Done again, the run would wait for the row once more: bounded, so that fails too.
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	go func() {
		done <- runner.RunNow(runCtx, pool, f.id, nil, func(ctx context.Context, tx pgx.Tx, o *order.Order, handledBy string) ([]sagas.Message, error) {
			if _, err := tx.Exec(ctx, `INSERT INTO runnow_held VALUES ('k')`); err != nil {
				return nil, err
			}
			return record(ctx, tx, o, handledBy)
		})
	}()
	_, err = pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pgtest.LockWaiter(t, pool))
	require.NoError(t, err)

	require.Error(t, <-done)
	assert.Len(t, seen, 1, "recorded once, not again")
	assert.Equal(t, map[string]float64{"handled": 0, "left_to_log": 0, "busy": 0}, ranNow(t, runner), "neither handled nor left to the log, and every outcome there from the start")
	assert.Equal(t, order.StatusAwaitingPayment, f.load(t).Status)
}

// When the saga fails while deciding, the transaction is done again without it, and what
// the failed attempt registered for its commit (wake-ups, counters) is dropped with it.
func TestRunNowDropsAFailedAttemptsCommitHooks(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	f := newNowFixture(t, pool, nowRunner(sagas.ProcessOrder, slog.New(slog.DiscardHandler)), "ord-hooks")
	failing := sagas.Flow{sagas.On[sagas.PaymentWebhook](func(sagas.Input, sagas.PaymentWebhook) ([]sagas.Effect, error) {
		return nil, errors.New("a bug in the flow")
	})}
	runner := nowRunner(failing, slog.New(slog.DiscardHandler))
	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	wctx, flush := log.CollectWakeups(ctx)

	var seen, committed []string
	record := f.record(&seen)
	require.NoError(t, runner.RunNow(wctx, pool, f.id, nil, func(ctx context.Context, tx pgx.Tx, o *order.Order, handledBy string) ([]sagas.Message, error) {
		eventstore.OnCommit(ctx, func() { committed = append(committed, "handled by "+handledBy) })
		return record(ctx, tx, o, handledBy)
	}))
	flush()
	assert.Len(t, seen, 2, "recorded for the saga, then again without it")
	assert.Equal(t, []string{"handled by "}, committed, "only the attempt that committed counts")
	assert.Equal(t, []string{""}, f.logged(t, sagas.WebhooksTopic, f.webhook.ID), "published once, for the saga's consumers")
	assert.Equal(t, map[string]float64{"handled": 0, "left_to_log": 1, "busy": 0}, ranNow(t, runner))
	assert.Equal(t, order.StatusAwaitingPayment, f.load(t).Status)
}

// RunNow calls that find every lane busy wait, and the next lane to come free carries
// them all in one transaction: each webhook moves its order, and the events of all of
// them commit together. When one call of a shared transaction fails (here its recorder
// refuses, or panics), the transaction is rolled back and each call is done again alone:
// the refusal reaches its own caller only, a panic its caller's goroutine, as without the
// lanes, and the others commit.
func TestRunNowCallsWaitingForALaneShareATransaction(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	runner := nowRunner(sagas.ProcessOrder, slog.New(slog.DiscardHandler))
	refusal := apperr.Errorf(apperr.CodeConflict, "refused")

	// run holds every lane with a call that waits inside its transaction, queues a call
	// per fixture of sharers (fail[i]: its recorder refuses, or panics), lets the lanes go
	// and returns each sharer's outcome (a panic in its caller's goroutine: errPanicked).
	run := func(name string, sharers []nowFixture, fail []string) []error {
		release := make(chan struct{})
		held := make(chan error, sagas.NowLanes)
		for i := range sagas.NowLanes {
			f := newNowFixture(t, pool, runner, fmt.Sprintf("ord-%s-lane-%d", name, i))
			entered := make(chan struct{})
			var seen []string
			go func() {
				held <- runner.RunNow(ctx, pool, f.id, nil, func(ctx context.Context, tx pgx.Tx, o *order.Order, handledBy string) ([]sagas.Message, error) {
					close(entered)
					<-release
					return f.record(&seen)(ctx, tx, o, handledBy)
				})
			}()
			<-entered // the next call finds this lane busy
		}
		errs := make([]error, len(sharers))
		var wg sync.WaitGroup
		for i, f := range sharers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					if recover() != nil {
						errs[i] = errPanicked
					}
				}()
				var seen []string
				client, leave := context.WithCancel(ctx)
				defer leave()
				errs[i] = runner.RunNow(client, pool, f.id, nil, func(ctx context.Context, tx pgx.Tx, o *order.Order, handledBy string) ([]sagas.Message, error) {
					switch fail[i] {
					case "refuse":
						return nil, refusal
					case "panic":
						panic("a bug")
					case "leave": // the client hangs up while its call runs
						leave()
						var one int
						if err := tx.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
							return nil, err
						}
					}
					return f.record(&seen)(ctx, tx, o, handledBy)
				})
			}()
		}
		for deadline := time.Now().Add(10 * time.Second); runner.Waiting() < len(sharers); runtime.Gosched() {
			require.True(t, time.Now().Before(deadline), "the calls never queued")
		}
		close(release)
		wg.Wait()
		for range sagas.NowLanes {
			require.NoError(t, <-held)
		}
		return errs
	}
	// transactions counts the transactions that recorded fixtures' payments.
	transactions := func(fs ...nowFixture) int {
		ids := make([]string, len(fs))
		for i, f := range fs {
			ids[i] = f.id
		}
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM events WHERE stream_id = ANY($1) AND event_name = $2`, ids, order.NamePaymentCompleted).Scan(&n))
		return n
	}

	var sharers []nowFixture
	for i := range 4 {
		sharers = append(sharers, newNowFixture(t, pool, runner, fmt.Sprintf("ord-shared-%d", i)))
	}
	for _, err := range run("shared", sharers, make([]string, len(sharers))) {
		require.NoError(t, err)
	}
	for _, f := range sharers {
		assert.Equal(t, order.StatusAwaitingShipment, f.load(t).Status, f.id)
	}
	assert.Equal(t, 1, transactions(sharers...), "the four waiting webhooks committed in one transaction")

	// A client that leaves while its call runs in a shared transaction leaves the others'
	// run alone: its call, taken, runs to its outcome as a lone request's would after its
	// commit. The call's statements ran in its client's context, and the first after it
	// left failed the whole transaction, every call then done again alone.
	sharers = nil
	for i := range 3 {
		sharers = append(sharers, newNowFixture(t, pool, runner, fmt.Sprintf("ord-leave-%d", i)))
	}
	for _, err := range run("leave", sharers, []string{"", "leave", ""}) {
		require.NoError(t, err)
	}
	for _, f := range sharers {
		assert.Equal(t, order.StatusAwaitingShipment, f.load(t).Status, f.id)
	}
	assert.Equal(t, 1, transactions(sharers...), "the run a client left committed as one")

	for _, fail := range []string{"refuse", "panic"} {
		sharers = nil
		for i := range 3 {
			sharers = append(sharers, newNowFixture(t, pool, runner, fmt.Sprintf("ord-%s-%d", fail, i)))
		}
		errs := run(fail, sharers, []string{"", fail, ""})
		require.NoError(t, errs[0])
		if fail == "refuse" {
			require.ErrorIs(t, errs[1], refusal, "the refusal reaches its own caller")
		} else {
			require.ErrorIs(t, errs[1], errPanicked, "the panic is its caller's")
		}
		require.NoError(t, errs[2])
		assert.Equal(t, order.StatusAwaitingShipment, sharers[0].load(t).Status)
		assert.Equal(t, order.StatusAwaitingPayment, sharers[1].load(t).Status, "nothing of the failed call is kept")
		assert.Equal(t, order.StatusAwaitingShipment, sharers[2].load(t).Status)
		assert.Equal(t, 2, transactions(sharers[0], sharers[2]), "after the rollback each call committed alone")
	}
}

// errPanicked stands for a RunNow call that panicked in its caller's goroutine.
var errPanicked = errors.New("panicked")

// Past sagas.MaxNowWaiting calls waiting for a lane, the next is refused at once, busy
// (503 with Retry-After), and counted; a waiting call whose client leaves is withdrawn and
// never runs. Unbounded, an overload queued every write for up to 30 s, held 900 MB of
// waiting requests and placed orders for clients that had given up (a probe).
func TestRunNowRefusesPastItsQueueAndDropsCallsWhoseClientLeft(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	runner := nowRunner(sagas.ProcessOrder, slog.New(slog.DiscardHandler))

	release := make(chan struct{})
	let := sync.OnceFunc(func() { close(release) })
	t.Cleanup(let) // a failure lets the lanes go before the database is dropped
	held := make(chan error, sagas.NowLanes)
	for i := range sagas.NowLanes {
		f := newNowFixture(t, pool, runner, fmt.Sprintf("ord-lane-%d", i))
		entered := make(chan struct{})
		go func() {
			var seen []string
			held <- runner.RunNow(ctx, pool, f.id, nil, func(ctx context.Context, tx pgx.Tx, o *order.Order, handledBy string) ([]sagas.Message, error) {
				close(entered)
				<-release
				return f.record(&seen)(ctx, tx, o, handledBy)
			})
		}()
		<-entered
	}

	left := newNowFixture(t, pool, runner, "ord-left")
	leaving, leave := context.WithCancel(ctx)
	gone := make(chan error, sagas.MaxNowWaiting)
	for range sagas.MaxNowWaiting {
		go func() {
			var seen []string
			gone <- runner.RunNow(leaving, pool, left.id, nil, func(ctx context.Context, tx pgx.Tx, o *order.Order, handledBy string) ([]sagas.Message, error) {
				return left.record(&seen)(ctx, tx, o, handledBy)
			})
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); runner.Waiting() < sagas.MaxNowWaiting; runtime.Gosched() {
		require.True(t, time.Now().Before(deadline), "the calls never queued")
	}

	refused := make(chan error, 1)
	go func() {
		refused <- runner.RunNow(ctx, pool, "ord-one-more", nil, func(context.Context, pgx.Tx, *order.Order, string) ([]sagas.Message, error) {
			t.Error("a refused call ran")
			return nil, nil
		})
	}()
	busy := within(t, refused, "the call past the queue waits instead of being refused")
	require.Equal(t, apperr.CodeUnavailable, apperr.ErrorCode(busy), "refused at once: %v", busy)
	assert.Equal(t, map[string]float64{"handled": 0, "left_to_log": 0, "busy": 1}, ranNow(t, runner))
	assert.Equal(t, sagas.MaxNowWaiting, runner.Waiting(), "the queue stays as it was")

	leave() // every waiting client goes
	for range sagas.MaxNowWaiting {
		require.ErrorIs(t, within(t, gone, "a call whose client left waits for a lane"), context.Canceled)
	}
	assert.Zero(t, runner.Waiting(), "the calls of clients that left are withdrawn")
	let()
	for range sagas.NowLanes {
		require.NoError(t, <-held)
	}
	assert.Equal(t, order.StatusAwaitingPayment, left.load(t).Status, "no call of a client that left ran")
}

// within is what ch gives within 10 s; the test fails, saying why, when it gives nothing.
func within(t *testing.T, ch <-chan error, stuck string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal(stuck)
		return nil
	}
}

// A call whose client has gone by the time it asks (a webhook's sender hung up after its
// body) is answered at once and takes no lane: two of them had left both lanes counted
// busy with nothing running, and every placement, webhook and decision after them waited
// until its client gave up.
func TestACallWhoseClientLeftBeforeItAskedTakesNoLane(t *testing.T) {
	pool := pgtest.Pool(t)
	runner := nowRunner(sagas.ProcessOrder, slog.New(slog.DiscardHandler))
	nothing := func(context.Context, pgx.Tx, *order.Order, string) ([]sagas.Message, error) { return nil, nil }
	for range sagas.NowLanes + 1 {
		gone, leave := context.WithCancel(context.Background())
		leave()
		require.ErrorIs(t, runner.RunNow(gone, pool, "ord-gone", nil, nothing), context.Canceled)
	}

	f := newNowFixture(t, pool, runner, "ord-after")
	ran := make(chan error, 1)
	go func() {
		var seen []string
		ran <- runner.RunNow(context.Background(), pool, f.id, nil, f.record(&seen))
	}()
	require.NoError(t, within(t, ran, "the next call waits for a lane that nothing runs in"))
	assert.Equal(t, order.StatusAwaitingShipment, f.load(t).Status, "the call after them ran")
}

// A message whose payload does not decode never will: the saga fails it as bad input,
// which the log dead-letters at its first failure. It was a plain error, retried with
// backoff for about 3 s while every message behind it on its topic waited (a review).
func TestAMessageThatDoesNotDecodeFailsAsBadInput(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	runner := nowRunner(sagas.ProcessOrder, slog.New(slog.DiscardHandler))
	f := newNowFixture(t, pool, runner, "ord-garbled")
	for _, m := range []sagas.Message{
		{Name: sagas.PaymentWebhookName, ID: "m-webhook", Payload: json.RawMessage(`{"orderId":"ord-garbled","amount":"lots"}`)},
		{Name: sagas.DeadlineName(order.WaitPayment), ID: "m-deadline", Payload: json.RawMessage(`{"orderId":"ord-garbled","asking":"soon"}`)},
	} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return runner.Handle(ctx, tx, f.id, m, eventstore.Metadata{CorrelationID: f.id, CausationID: m.ID, Actor: "saga"})
		})
		require.Error(t, err, m.Name)
		assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err), "%s: %v", m.Name, err)
	}
	assert.Equal(t, order.StatusAwaitingPayment, f.load(t).Status)
}
