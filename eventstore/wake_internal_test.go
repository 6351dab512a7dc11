package eventstore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A group is not woken for messages it handled when they were recorded; every other
// group is, and news for both on one topic wakes both.
func TestWakeSkipsTheGroupThatHandledTheMessages(t *testing.T) {
	l := &Log{waiters: map[string][]waiter{}, added: make(chan struct{})}
	saga := l.register("saga", "order_events.0")
	views := l.register("views", "order_events.0")
	woken := func(w *wakeup) bool {
		select {
		case <-w.ch:
			return true
		default:
			return false
		}
	}

	l.wake("order_events.0", "saga")
	assert.False(t, woken(saga))
	assert.True(t, woken(views))

	w := newWaker(l)
	w.add("order_events.0", "saga")
	w.add("order_events.0", "") // a customer's placement on the same topic
	assert.Equal(t, map[string]string{"order_events.0": ""}, w.dirty)
	w.add("order_events.1", "saga")
	w.add("order_events.1", "saga")
	assert.Equal(t, "saga", w.dirty["order_events.1"])
}

// A kick that finds no topic pending sends nothing: the run before it took the news it
// announced. (This log has no pool: a NOTIFY would fail the test.)
func TestWakerSendsNothingWhenNoTopicIsPending(t *testing.T) {
	l := &Log{waiters: map[string][]waiter{}, added: make(chan struct{})}
	w := newWaker(l)
	assert.NotPanics(t, func() { w.send(context.Background()) })
}
