package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingServer answers every GET with its path and counts the connections it accepts.
func countingServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// The getter keeps its connections alive: many GETs one after the other take one
// connection, and each gets its own status and body.
func TestGetterKeepsItsConnectionAlive(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/orders/missing" {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(r.URL.EscapedPath()))
	})
	g, err := newGetter(srv.URL, 4, 5*time.Second)
	require.NoError(t, err)
	for _, id := range []string{"a", "b/c", "missing", "d"} {
		status, body, err := g.get(context.Background(), orderPath(id))
		require.NoError(t, err)
		if id == "missing" {
			assert.Equal(t, http.StatusNotFound, status)
			continue
		}
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, orderPath(id), string(body))
	}
	assert.Equal(t, "/api/orders/b%2Fc", orderPath("b/c"), "an id is one path segment")
	assert.EqualValues(t, 1, conns.Load())
}

// A kept-alive connection the server closed while it was idle costs the GET nothing: it
// is sent again on a new connection. A response that closes its connection is read whole
// and the connection is not kept.
func TestGetterSurvivesClosedConnections(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/orders/last" {
			w.Header().Set("Connection", "close")
		}
		_, _ = w.Write([]byte("ok"))
	})
	g, err := newGetter(srv.URL, 4, 5*time.Second)
	require.NoError(t, err)
	status, _, err := g.get(context.Background(), orderPath("first"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)

	srv.CloseClientConnections() // the server drops the idle connection
	status, body, err := g.get(context.Background(), orderPath("again"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ok", string(body))
	assert.EqualValues(t, 2, conns.Load())

	status, body, err = g.get(context.Background(), orderPath("last"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ok", string(body))
	assert.Empty(t, g.idle, "a connection the server closes is not kept")
	_, _, err = g.get(context.Background(), orderPath("after"))
	require.NoError(t, err)
	assert.EqualValues(t, 3, conns.Load())
}

// A GET whose context ends returns at once with the context's error, however long the
// server takes, and its connection is not kept.
func TestGetterStopsWithItsContext(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	g, err := newGetter(srv.URL, 4, time.Minute)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := g.get(ctx, orderPath("slow"))
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the GET did not stop with its context")
	}
	assert.Empty(t, g.idle)
}
