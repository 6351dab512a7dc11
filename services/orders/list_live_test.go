package orders_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// With the service's consumers running, a placed order reaches the list through the live
// projection, and so does a later change to it.
func TestListOrdersLiveProjection(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	log := eventstore.NewLog(a.pool, watermill.NopLogger{}, eventstore.LogConfig{})
	listenDone := make(chan struct{})
	go func() {
		defer close(listenDone)
		_ = log.Listen(ctx)
	}()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	require.NoError(t, a.svc.RegisterConsumers(log, router))
	var handlers []string
	for name := range router.Handlers() {
		handlers = append(handlers, name)
	}
	require.Contains(t, handlers, projections.ConsumerGroup+"/"+strings.Join(eventstore.Partitions(orderstream.Topic), ","),
		"handlers are named group/topics")
	runDone := make(chan error, 1)
	go func() { runDone <- router.Run(ctx) }()
	defer func() {
		// Let every consumer finish what the test set off before closing: closing the
		// router while a handler is mid-message is not clean (see the report on
		// watermill-sql committing a transaction a handler is still using).
		assert.Eventually(t, consumersDrained(a.pool, handlers), 10*time.Second, 20*time.Millisecond, "consumers never caught up")
		assert.NoError(t, router.Close())
		assert.NoError(t, <-runDone)
		cancel()
		<-listenDone
	}()
	select {
	case <-router.Running():
	case <-ctx.Done():
		require.FailNow(t, "router did not start")
	}

	id := a.place(t, `{"items":[{"sku":"SKU-001","quantity":2},{"sku":"SKU-002","quantity":1}],"total":124,"customerId":"c-7"}`)
	// The service's saga runs too and may move the order on at any moment, so the test
	// waits for the summary to agree with the order as the event store has it.
	assert.Eventually(t, a.summaryMatchesOrder(t, id, ""), 10*time.Second, 20*time.Millisecond,
		"the placed order never reached the list")
	s, ok := a.summaryOf(t, id)
	require.True(t, ok)
	assert.Equal(t, json.Number("124.00"), s.Total)
	assert.Equal(t, 3, s.ItemCount)
	assert.Equal(t, "USD", s.Currency)

	// A later change reaches the list as well: cancelling is allowed in every status the
	// order can reach without the warehouse and payment services, and is final.
	update := func(o *order.Order) ([]order.Event, error) {
		return o.Cancel(order.ReasonTimedOut, "test", time.Now().UTC())
	}
	require.NoError(t, pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "test"}, update)
		return err
	}))
	assert.Eventually(t, a.summaryMatchesOrder(t, id, string(order.StatusCancelled)), 10*time.Second, 20*time.Millisecond,
		"the cancellation never reached the list")

	var deadLetters int
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&deadLetters))
	assert.Zero(t, deadLetters)
}

// consumersDrained is a condition for assert.Eventually: for every consumer-group handler
// (named group/topics by eventstore.Log.ConsumeBatches) the group has acknowledged the
// newest message of each of its topics, so no handler holds a message.
func consumersDrained(pool *pgxpool.Pool, handlers []string) func() bool {
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, h := range handlers {
			i := strings.LastIndex(h, "/")
			if i < 0 {
				return false
			}
			for _, topic := range strings.Split(h[i+1:], ",") {
				if !topicDrained(ctx, pool, h[:i], topic) {
					return false
				}
			}
		}
		return true
	}
}

func topicDrained(ctx context.Context, pool *pgxpool.Pool, group, topic string) bool {
	var hasOffsets bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{"watermill_offsets_" + topic}.Sanitize()).Scan(&hasOffsets); err != nil {
		return false
	}
	if !hasOffsets {
		return true // a delayed queue: nothing in it is due during the test
	}
	var behind bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM `+pgx.Identifier{"watermill_" + topic}.Sanitize()+` m
		WHERE NOT EXISTS (
			SELECT 1 FROM `+pgx.Identifier{"watermill_offsets_" + topic}.Sanitize()+` o
			WHERE o.consumer_group = $1
			  AND (o.last_processed_transaction_id, o.offset_acked) >= (m.transaction_id, m."offset")))`,
		group).Scan(&behind)
	return err == nil && !behind
}

// summaryMatchesOrder is a condition for assert.Eventually: the list shows order id with
// the status (when given), risk score and update time the order itself has.
func (a *api) summaryMatchesOrder(t testing.TB, id, status string) func() bool {
	return func() bool {
		s, ok := a.summaryOf(t, id)
		if !ok || (status != "" && s.Status != status) {
			return false
		}
		resp, err := a.operatorGet(t, "/api/orders/"+id)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var o struct {
			Status    string    `json:"status"`
			RiskScore *int      `json:"riskScore"`
			UpdatedAt time.Time `json:"updatedAt"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&o) != nil {
			return false
		}
		sameRisk := (s.RiskScore == nil) == (o.RiskScore == nil) && (s.RiskScore == nil || *s.RiskScore == *o.RiskScore)
		// The read model keeps microseconds (timestamptz); the event keeps nanoseconds.
		return s.Status == o.Status && sameRisk && s.UpdatedAt.Equal(o.UpdatedAt.Truncate(time.Microsecond))
	}
}

// operatorGet reads path as the operator without failing the test, for conditions that
// run in assert.Eventually's goroutine.
func (a *api) operatorGet(t testing.TB, path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+orderstest.OperatorToken)
	return a.srv.Client().Do(req)
}

// summaryOf looks id up in the list without failing the test, so it can run inside
// assert.Eventually's condition goroutine.
func (a *api) summaryOf(t testing.TB, id string) (summary, bool) {
	resp, err := a.operatorGet(t, "/api/orders")
	if err != nil {
		return summary{}, false
	}
	defer resp.Body.Close()
	var p page
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&p) != nil {
		return summary{}, false
	}
	for _, s := range p.Orders {
		if s.ID == id {
			return s, true
		}
	}
	return summary{}, false
}
