package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/host/hosttest"
)

// Logs are text for a developer (DEV_MODE), JSON otherwise; LOG_FORMAT decides either way,
// and a value the process cannot honour stops it with one line naming the variable.
func TestLoggerFormatFollowsDevModeAndLogFormat(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		json bool
	}{
		{map[string]string{"DEV_MODE": "1"}, false},
		{map[string]string{}, true},
		{map[string]string{"DEV_MODE": "1", "LOG_FORMAT": "json"}, true},
		{map[string]string{"LOG_FORMAT": "text"}, false},
	} {
		var buf bytes.Buffer
		logger, err := host.Logger(host.EnvOf(c.env), &buf)
		require.NoError(t, err)
		logger.Info("hello")
		assert.Equal(t, c.json, strings.HasPrefix(buf.String(), "{"), "%v: %s", c.env, buf.String())
	}
	for env, want := range map[string]string{"LOG_FORMAT": `LOG_FORMAT="yaml"`, "LOG_LEVEL": `LOG_LEVEL="yaml"`} {
		_, err := host.Logger(host.EnvOf(map[string]string{env: "yaml"}), &bytes.Buffer{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), want)
		assert.NotContains(t, err.Error(), "\n")
	}
}

// orderLogger answers GET /orders/{id} and logs a line about it with the request's context.
type orderLogger struct{ logger *slog.Logger }

func (s orderLogger) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.logger.InfoContext(r.Context(), "looked at an order")
	})
	return mux
}

func (orderLogger) RegisterConsumers(*eventstore.Log, *message.Router) error { return nil }

func (orderLogger) OpenAPI() []byte { return testDocument }

// A line logged while a request about an order is handled names the order and the trace.
func TestRequestLogLinesNameTheOrderInThePath(t *testing.T) {
	var buf lockedBuffer
	logger, err := logging.New(&buf, logging.FormatJSON, slog.LevelInfo)
	require.NoError(t, err)
	addr := serve(t, orderLogger{logger}, host.Options{})
	resp, err := http.Get("http://" + addr + "/orders/ord-42")
	require.NoError(t, err)
	resp.Body.Close()
	var got map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got), buf.String())
	assert.Equal(t, "ord-42", got["order_id"])
	assert.Equal(t, "ord-42", got["correlation_id"])
}

// Every answer carries a request id, and the request's log lines repeat it, so a client's
// report of a failure leads to its lines with traces off. A proxy's plain id is kept; one
// that could forge or bloat a log line is replaced.
func TestEveryAnswerCarriesTheRequestIdItsLogLinesName(t *testing.T) {
	var buf lockedBuffer
	logger, err := logging.New(&buf, logging.FormatJSON, slog.LevelInfo)
	require.NoError(t, err)
	addr := serve(t, orderLogger{logger}, host.Options{})
	get := func(path, id string) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		require.NoError(t, err)
		if id != "" {
			req.Header.Set(host.RequestIDHeader, id)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.Header.Get(host.RequestIDHeader)
	}

	first, second := get("/orders/ord-1", ""), get("/orders/ord-2", "")
	assert.Regexp(t, `^[0-9a-f]{32}$`, first)
	assert.NotEqual(t, first, second)
	assert.Regexp(t, `^[0-9a-f]{32}$`, get("/healthz", ""), "the process's own routes too")
	assert.Equal(t, "edge-7.Ab_c", get("/orders/ord-3", "edge-7.Ab_c"))
	for _, hostile := range []string{"a b", `x","level":"ERROR`, strings.Repeat("a", 65)} {
		assert.Regexp(t, `^[0-9a-f]{32}$`, get("/orders/ord-4", hostile), "%q", hostile)
	}

	lines := map[string]string{} // order id → request id, from the log
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &got), line)
		lines[fmt.Sprint(got["order_id"])] = fmt.Sprint(got["request_id"])
	}
	assert.Equal(t, first, lines["ord-1"])
	assert.Equal(t, second, lines["ord-2"])
	assert.Equal(t, "edge-7.Ab_c", lines["ord-3"])
}

// lockedBuffer is a buffer a server goroutine writes and the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

func (b *lockedBuffer) String() string { return string(b.Bytes()) }

// noService is a service's host.Build that stops the start once the process's own
// settings are read.
func noService(*slog.Logger, host.Env) (host.Start, error) {
	return nil, errors.New("no service")
}

// neverStarts is a service's host.Build whose service reads nothing and never starts.
func neverStarts(*slog.Logger, host.Env) (host.Start, error) {
	return func(context.Context, *pgxpool.Pool, net.Addr) (host.Service, error) {
		return nil, errors.New("not started")
	}, nil
}

// --help and the README list every variable a service process reads, whichever service.
func TestProcessVariablesAreDocumented(t *testing.T) {
	stopped, cancel := context.WithCancel(context.Background())
	cancel() // Run reads its whole configuration before it connects anywhere
	hosttest.DocumentedVars(t, "../../README.md", host.ProcessVars(3000), func(env host.Env) {
		_ = host.Run(stopped, "test", 3000, env, noService)
	}, map[string]string{}, map[string]string{"DEV_MODE": "1", "OTEL_TRACES_EXPORTER": "none", "DATABASE_URL": "postgres://127.0.0.1:1/x"})
}

// A value the process cannot honour stops it before it connects anywhere, with one line
// naming the variable.
func TestInvalidValuesStopStartUpNamingTheVariable(t *testing.T) {
	for key, value := range map[string]string{
		"PORT": "http", "ADDR": "localhost", "SHUTDOWN_TIMEOUT": "soon", "SHUTDOWN_DELAY": "-1s", "OTEL_TRACES_EXPORTER": "zipkin",
		"LOG_LEVEL": "loud", "LOG_FORMAT": "xml", "DATABASE_URL": "mysql://x", "DEV_MODE": "yes",
	} {
		err := host.Run(context.Background(), "test", 3000, host.EnvOf(map[string]string{key: value}), nil)
		require.Error(t, err, key)
		assert.True(t, strings.HasPrefix(err.Error(), key), "%s: %v", key, err)
		assert.NotContains(t, err.Error(), "\n")
	}
	// Accepted before, and then lost quietly: the traces to a malformed endpoint, the
	// profiler to an address that is no address; a pool size of 0 read as a URL that was
	// not one, and the service's own address taken by the profiler.
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "notaurl"}, `OTEL_EXPORTER_OTLP_ENDPOINT="notaurl" is not a http:// or https:// URL with a host`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, `OTEL_EXPORTER_OTLP_PROTOCOL="grpc": the services export traces over OTLP/HTTP only`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="grpc"`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "10s"}, `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="10s" is not a number of milliseconds`},
		{map[string]string{"PPROF_ADDR": "3501"}, `PPROF_ADDR="3501" is not host:port`},
		// Both listened for, one quietly taken (a probe's PORT was ignored).
		{map[string]string{"ADDR": "127.0.0.1:3610", "PORT": "3611"}, `ADDR="127.0.0.1:3610" and PORT or HOST are both set`},
		{map[string]string{"ADDR": "127.0.0.1:3610", "HOST": "0.0.0.0"}, `ADDR="127.0.0.1:3610" and PORT or HOST are both set`},
		{map[string]string{"PPROF_ADDR": "127.0.0.1:3000"}, "PPROF_ADDR=\"127.0.0.1:3000\" is the service's own address"},
		{map[string]string{"DATABASE_URL": "postgres://u:secretpw@h/db?pool_max_conns=0"}, "DATABASE_URL is not a usable postgres:// URL or connection string: pool_max_conns too small"},
		{map[string]string{"DATABASE_URL": "postgres://u:secretpw@h/db?pool_max_conns=2"}, "DATABASE_URL: pool_max_conns=2: a service needs at least 4 connections"},
		// slog's own offsets: one above error hid the line saying why the start failed.
		{map[string]string{"LOG_LEVEL": "error+1"}, `LOG_LEVEL="error+1": use debug, info, warn or error`},
	} {
		err := host.Run(context.Background(), "test", 3000, host.EnvOf(c.env), nil)
		require.Error(t, err, "%v", c.env)
		assert.Contains(t, err.Error(), c.want)
		assert.NotContains(t, err.Error(), "secretpw")
	}
	// Another exporter's gRPC, with the traces' own protocol set: not the traces' to refuse.
	err := host.Run(context.Background(), "test", 3000, host.EnvOf(map[string]string{"OTEL_TRACES_EXPORTER": "otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}), noService)
	require.ErrorContains(t, err, "no service", "the process's own settings are taken")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	err = host.Run(context.Background(), "test", 3000, host.EnvOf(map[string]string{"PPROF_ADDR": taken.Addr().String(), "ADDR": "127.0.0.1:0"}), neverStarts)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "PPROF_ADDR: listen tcp"), "an address taken stops the start, naming it: %v", err)
}

// --help lists each variable with its default and meaning.
func TestUsageListsVariables(t *testing.T) {
	var buf bytes.Buffer
	host.Usage(&buf, "orders", "Runs the orders service.", host.ProcessVars(3001))
	out := buf.String()
	assert.Contains(t, out, "Usage: orders [--help]")
	for _, v := range host.ProcessVars(3001) {
		assert.Contains(t, out, v.Name)
		assert.Contains(t, out, v.Meaning)
	}
	assert.Regexp(t, `PORT\s+3001\s+port to listen on`, out)
}
