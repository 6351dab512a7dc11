package host_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/httpx"
)

// echoService answers POST /echo with the body it read, and GET /slow after a pause.
type echoService struct{}

func (echoService) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := httpx.ReadBody(w, r)
		if err != nil {
			httpx.WriteError(w, r, slog.New(slog.DiscardHandler), err)
			return
		}
		_, _ = w.Write(body)
	})
	return mux
}

func (echoService) RegisterConsumers(*eventstore.Log, *message.Router) error { return nil }

func (echoService) OpenAPI() []byte { return testDocument }

// testDocument is the OpenAPI document of the test services: they are never validated.
var testDocument = []byte(`{"openapi": "3.1.0", "info": {"title": "test", "version": "1"}, "paths": {}}`)

// serve runs svc with opts on a fresh port until the test ends and returns its address.
func serve(t *testing.T, svc host.Service, opts host.Options) string {
	t.Helper()
	pool := pgtest.Pool(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- host.Serve(ctx, slog.New(slog.DiscardHandler), pool, ln, svc, opts) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return ln.Addr().String()
}

// Finding 14 of issue 8: a client that sends its headers and then stalls its body used to
// hold the connection for as long as it liked. The read timeout now ends it.
func TestServeClosesAConnectionWhoseBodyStalls(t *testing.T) {
	const timeout = 300 * time.Millisecond
	addr := serve(t, echoService{}, host.Options{HTTP: host.HTTPTimeouts{ReadHeader: timeout, Read: timeout, Write: time.Second, Idle: time.Second}})

	// A complete request is served.
	resp, err := http.Post("http://"+addr+"/echo", "application/json", strings.NewReader(`{"a":1}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, `{"a":1}`, string(body))

	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":")
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(start.Add(5*time.Second)))
	// The server answers 408 and closes: the read ends with EOF well before the client's
	// own five-second deadline.
	answer, err := io.ReadAll(bufio.NewReader(conn))
	require.NoError(t, err, "the server must close the connection (read so far: %q)", answer)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.True(t, strings.HasPrefix(string(answer), "HTTP/1.1 408 "), "%q", answer)
	assert.Contains(t, string(answer), `"code":"timeout"`)
}

// A client that opens a connection and sends nothing is cut off by the header timeout.
func TestServeClosesAConnectionThatSendsNothing(t *testing.T) {
	const timeout = 300 * time.Millisecond
	addr := serve(t, echoService{}, host.Options{HTTP: host.HTTPTimeouts{ReadHeader: timeout, Read: timeout, Write: time.Second, Idle: time.Second}})
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(start.Add(5*time.Second)))
	_, err = io.ReadAll(conn)
	require.NoError(t, err, "the server must close the connection")
	assert.Less(t, time.Since(start), 3*time.Second)
}

// Headers past MaxHeaderBytes are answered 431 before any handler runs: under Go's default
// of a megabyte a probe's 60,000 header fields cost a tenth of a second each to read and
// slowed every order twentyfold. Headers a client really sends pass.
func TestServeRefusesHugeHeaders(t *testing.T) {
	addr := serve(t, echoService{}, host.Options{})
	send := func(fields int) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/echo", strings.NewReader("hi"))
		require.NoError(t, err)
		for i := range fields {
			req.Header.Set("X-H"+strconv.Itoa(i), "v")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, send(100))
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, send(host.MaxHeaderBytes/6))
}
