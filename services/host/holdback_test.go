package host_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
)

// A write transaction left open in another database of the same server holds back the
// log: /metrics reports its age and, past the limit, /readyz answers 200 "degraded", and
// the log names the transaction (the open body does not: it may be another tenant's);
// once it ends the process is plainly ready again.
func TestReadyzDegradedWhileATransactionElsewhereHoldsTheLogBack(t *testing.T) {
	pool := pgtest.Pool(t)
	other := pgtest.Pool(t) // another database on the same server: another tenant
	var otherDB string
	require.NoError(t, other.QueryRow(t.Context(), `SELECT current_database()`).Scan(&otherDB))
	var logs lockedBuffer
	logger, err := logging.New(&logs, logging.FormatJSON, slog.LevelInfo)
	require.NoError(t, err)
	r := runLogged(t, pool, consumingService{handle: noop}, host.Options{HoldbackLimit: time.Second}, logger)
	waitReady(t, r.addr, http.StatusOK)

	tx, err := other.Begin(t.Context())
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	_, err = tx.Exec(t.Context(), `SELECT pg_current_xact_id()`) // takes a transaction id, as any write does
	require.NoError(t, err)

	var body struct {
		Status string
		Checks map[string]string
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(r.addr + "/readyz")
		require.NoError(c, err)
		defer resp.Body.Close()
		assert.Equal(c, http.StatusOK, resp.StatusCode, "degraded is still ready")
		require.NoError(c, json.NewDecoder(resp.Body).Decode(&body))
		assert.Equal(c, "degraded", body.Status)
		assert.Contains(c, body.Checks["log_holdback"], "holds back every log message")
	}, 30*time.Second, 50*time.Millisecond)
	assert.NotContains(t, body.Checks["log_holdback"], strconv.Quote(otherDB))
	assert.NotContains(t, body.Checks["log_holdback"], "pid")
	assert.Equal(t, "ok", body.Checks["database"])
	// The log names the oldest transaction on the server: while a test of another package
	// (go test runs them side by side) holds an older one, it names that.
	var line struct {
		Msg, Database string
		PID           int
	}
	for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		require.NoError(t, json.Unmarshal([]byte(l), &line), l)
		if line.Msg == "readiness: a transaction holds the log back" {
			break
		}
	}
	assert.Equal(t, "readiness: a transaction holds the log back", line.Msg, logs.String())
	assert.NotEmpty(t, line.Database)
	assert.Positive(t, line.PID)

	resp, err := http.Get(r.addr + "/metrics")
	require.NoError(t, err)
	text, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^ordermill_log_holdback_seconds ([0-9.e+-]+)$`).FindSubmatch(text)
	require.NotNil(t, m, "the metric is exported")
	age, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, age, 1.0)

	require.NoError(t, tx.Rollback(t.Context()))
	waitReady(t, r.addr, http.StatusOK)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, checks := readyz(t, r.addr)
		assert.Equal(c, "ok", checks["log_holdback"])
	}, 30*time.Second, 50*time.Millisecond)
}
