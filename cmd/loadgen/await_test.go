package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordermill/ordermill/domain/order"
)

// awaitAgainst waits, as the driver does after the payment webhook's 2xx, on a server that
// answers its polls with statuses in turn (the last one for ever after).
func awaitAgainst(t *testing.T, statuses ...order.Status) (*driver, error) {
	t.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := statuses[0]
		if len(statuses) > 1 {
			statuses = statuses[1:]
		}
		mu.Unlock()
		_, _ = w.Write([]byte(`{"id":"o-1","status":"` + string(s) + `"}`))
	}))
	defer srv.Close()
	d, err := newDriver(config{url: srv.URL, concurrency: 1, maxInFlight: 1, poll: time.Millisecond, waitTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.await(context.Background(), "o-1", reach(order.StatusAwaitingDelivery), order.StatusAwaitingPayment, order.StatusAwaitingShipment)
	return d, err
}

// A first poll after a write's 2xx that does not show the write is counted: the wait
// accepted the status before the webhook, and read-your-writes went unchecked (a review).
func TestAwaitCountsAStaleFirstPoll(t *testing.T) {
	d, err := awaitAgainst(t, order.StatusAwaitingPayment, order.StatusAwaitingPayment, order.StatusAwaitingShipment, order.StatusAwaitingDelivery)
	if err != nil {
		t.Fatal(err)
	}
	if n := d.stale.Load(); n != 1 {
		t.Errorf("%d stale polls counted, want 1 (the first; the wait goes on through the second)", n)
	}
}

func TestAwaitTakesAFreshFirstPoll(t *testing.T) {
	d, err := awaitAgainst(t, order.StatusAwaitingShipment, order.StatusAwaitingDelivery)
	if err != nil || d.stale.Load() != 0 {
		t.Fatalf("err %v, %d stale polls; want none", err, d.stale.Load())
	}
}

// Back to the status before the write after a poll showed it: the order went back.
func TestAwaitFailsAnOrderThatGoesBack(t *testing.T) {
	_, err := awaitAgainst(t, order.StatusAwaitingShipment, order.StatusAwaitingPayment)
	if err == nil || !strings.Contains(err.Error(), "is awaiting_payment while waiting for awaiting_delivery") {
		t.Fatalf("err %v, want the order failed for going back", err)
	}
}
