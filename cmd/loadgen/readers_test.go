package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// readersAgainst runs readers at rate against a server answering every GET with status,
// until it has seen n of them, and returns the paths they asked for.
func readersAgainst(t *testing.T, status, n int, placed ...string) (*driver, []string) {
	t.Helper()
	seen := make(chan string, 4*n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.URL.Path:
		default: // the readers ran ahead of the test: never block a handler, or the
			// server's Close waits on it for ever (a loaded machine hung make test here)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"id":"x","status":"placed"}`))
	}))
	defer srv.Close()
	cfg := config{url: srv.URL, concurrency: 1, maxInFlight: 1, readRate: 1000}
	d, err := newDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.placed = append(d.placed, placed...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop := runReaders(ctx, cfg.readRate, d)
	var paths []string
	for len(paths) < n {
		select {
		case p := <-seen:
			paths = append(paths, p)
		case <-ctx.Done():
			t.Fatalf("the readers made %d reads, not %d", len(paths), n)
		}
	}
	stop()
	return d, paths
}

// The readers read only orders the run has placed, and their reads count with the polls.
func TestReadersReadPlacedOrders(t *testing.T) {
	d, paths := readersAgainst(t, http.StatusOK, 50, "o-1", "o-2")
	for _, p := range paths {
		if p != "/api/orders/o-1" && p != "/api/orders/o-2" {
			t.Fatalf("a reader asked for %s, no order the run placed", p)
		}
	}
	reads, _ := d.reads.sorted()
	if len(reads) < len(paths) {
		t.Errorf("%d reads timed for %d made", len(reads), len(paths))
	}
	if n := d.readErrors.Load(); n != 0 {
		t.Errorf("%d read errors against a server answering 200", n)
	}
}

// A read the server refuses is counted as a failed read, not timed.
func TestReadersCountFailedReads(t *testing.T) {
	d, paths := readersAgainst(t, http.StatusServiceUnavailable, 20, "o-1")
	if n := d.readErrors.Load(); n < int64(len(paths)) {
		t.Errorf("%d read errors for %d refused reads", n, len(paths))
	}
	if reads, _ := d.reads.sorted(); len(reads) != 0 {
		t.Errorf("%d refused reads were timed as answers", len(reads))
	}
}

// Before any order is placed there is nothing to read, and the readers read nothing.
func TestReadersWaitForAPlacedOrder(t *testing.T) {
	d, err := newDriver(config{url: "http://127.0.0.1:1", concurrency: 1, maxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.anyPlaced(); ok {
		t.Fatal("an order to read before any was placed")
	}
	d.placed = append(d.placed, "o-1")
	if id, ok := d.anyPlaced(); !ok || id != "o-1" {
		t.Fatalf("anyPlaced = %q, %v; want the one placed", id, ok)
	}
}

// Outside dev mode the run reads with the operator's token, and a run that may not read is
// refused before it places anything: it failed every order after placing it, and their
// stock stayed held for the payment timeout.
func TestARunThatMayNotReadIsRefusedBeforeItPlaces(t *testing.T) {
	const token = "op-token-7f3a9c1e52"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("%s %s: nothing but reads before the check", r.Method, r.URL.Path)
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	for _, c := range []struct {
		token, refusal string
	}{
		{"", "give -operator-token"},
		{"wrong-7f3a9c1e52", "give -operator-token"},
		{token, ""},
	} {
		d, err := newDriver(config{url: srv.URL, concurrency: 1, maxInFlight: 1, operatorToken: c.token})
		if err != nil {
			t.Fatal(err)
		}
		err = d.canRead(t.Context())
		switch {
		case c.refusal == "" && err != nil:
			t.Errorf("with the operator's token: %v", err)
		case c.refusal != "" && (err == nil || !strings.Contains(err.Error(), c.refusal)):
			t.Errorf("token %q: %v, want a refusal saying %q", c.token, err, c.refusal)
		}
	}
}
