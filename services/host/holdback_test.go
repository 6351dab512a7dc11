package host_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
)

// A write transaction left open in another database of the same server holds back the
// log: /metrics reports its age and, past the limit, /readyz answers 200 "degraded"
// naming it; once it ends the process is plainly ready again.
func TestReadyzDegradedWhileATransactionElsewhereHoldsTheLogBack(t *testing.T) {
	pool := pgtest.Pool(t)
	other := pgtest.Pool(t) // another database on the same server: another tenant
	var otherDB string
	require.NoError(t, other.QueryRow(t.Context(), `SELECT current_database()`).Scan(&otherDB))
	r := run(t, pool, consumingService{handle: noop}, host.Options{HoldbackLimit: time.Second})
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
		// The check names the oldest transaction on the server: while a test of another
		// package (go test runs them side by side) holds an older one, it names that.
		assert.Contains(c, body.Checks["log_holdback"], strconv.Quote(otherDB))
	}, 30*time.Second, 50*time.Millisecond)
	assert.Contains(t, body.Checks["log_holdback"], "idle in transaction")
	assert.Equal(t, "ok", body.Checks["database"])

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
