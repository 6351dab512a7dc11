package sagas

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The next RunNow transaction takes the waiting calls in arrival order, one per order (a
// second call for an order waits for the next transaction, to be decided on the first
// one's outcome) and at most maxNowBatch; a call whose caller gave up is answered, not
// run.
func TestTakeLockedTakesOneCallPerOrderInArrivalOrder(t *testing.T) {
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	a1, a2, b, c := call(context.Background(), "a"), call(context.Background(), "a"), call(context.Background(), "b"), call(gone, "c")
	q := nowQueue{waiting: []*nowCall{a1, c, a2, b}}
	assert.Equal(t, []*nowCall{a1, b}, q.takeLocked())
	assert.Equal(t, []*nowCall{a2}, q.waiting, "the second call for order a waits for the next transaction")
	assert.ErrorIs(t, <-c.done, context.Canceled, "a call whose context ended is answered with its error")
	assert.Equal(t, []*nowCall{a2}, q.takeLocked())
	assert.Empty(t, q.waiting)

	for i := range maxNowBatch + 3 {
		q.waiting = append(q.waiting, call(context.Background(), fmt.Sprint(i)))
	}
	assert.Len(t, q.takeLocked(), maxNowBatch)
	assert.Len(t, q.waiting, 3)
}

// One run takes one placement per customer (Place): the next waits for the next run, so
// each counts the one before it. Calls of no customer are not held back.
func TestTakeLockedTakesOnePlacementPerCustomer(t *testing.T) {
	placement := func(orderID, customer string) *nowCall {
		c := call(context.Background(), orderID)
		c.customer = customer
		return c
	}
	x1, x2, y, other := placement("1", "x"), placement("2", "x"), placement("3", "y"), call(context.Background(), "4")
	q := nowQueue{waiting: []*nowCall{x1, x2, y, other}}
	assert.Equal(t, []*nowCall{x1, y, other}, q.takeLocked())
	assert.Equal(t, []*nowCall{x2}, q.waiting, "the customer's second placement waits for the next transaction")
}

// Nor does it take two placements of one idempotency key: the second would find the key
// used and roll back every call of the run (a client's double submit, a probe).
func TestTakeLockedTakesOnePlacementPerKey(t *testing.T) {
	placement := func(orderID, key string) *nowCall {
		c := call(context.Background(), orderID)
		c.key = key
		return c
	}
	k1, k2, other, none := placement("1", "k"), placement("2", "k"), placement("3", "j"), placement("4", "")
	q := nowQueue{waiting: []*nowCall{k1, k2, other, none}}
	assert.Equal(t, []*nowCall{k1, other, none}, q.takeLocked())
	assert.Equal(t, []*nowCall{k2}, q.waiting, "the key's second placement waits for the next transaction")
}

// call is a RunNow call for order id, waiting in ctx.
func call(ctx context.Context, id string) *nowCall {
	return &nowCall{ctx: ctx, orderID: id, done: make(chan error, 1)}
}
