package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// A write refused as busy (503) is sent again after its Retry-After until it is answered
// otherwise, and counted: a run past what the service takes measures clients that come
// back, as the service asks, instead of failing every order refused once (a probe).
func TestAWriteRefusedBusyIsSentAgain(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	var g driver
	var last *http.Response
	err := g.resend(context.Background(), func() (*http.Response, error) {
		res, err := http.Post(srv.URL, "application/json", nil)
		if err == nil {
			res.Body.Close()
		}
		last = res
		return res, err
	})
	if err != nil || last.StatusCode != http.StatusAccepted {
		t.Fatalf("resend: %v, last answer %v", err, last)
	}
	if calls.Load() != 2 || g.refused.Load() != 1 {
		t.Errorf("sent %d times, %d counted refused; want 2 and 1", calls.Load(), g.refused.Load())
	}
}
