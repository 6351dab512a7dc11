package orders_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// productionEnv is what an operator sets outside dev mode; tests add or remove a variable.
func productionEnv(vars map[string]string) host.Env {
	env := map[string]string{
		"MANAGER_TOKENS":          "ana@example.com:tok-ana, bob@example.com:tok-bob",
		"PAYMENT_WEBHOOK_SECRET":  "whsec_live",
		"DELIVERY_WEBHOOK_SECRET": "courier_live",
		"ORDER_TOKEN_SECRET":      strings.Repeat("s", 64),
	}
	for k, v := range vars {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return host.EnvOf(env)
}

// credentialDash is the orders service built from env on a fresh database, with a
// browser-like client.
func credentialDash(t *testing.T, env host.Env) *dash {
	t.Helper()
	cfg, err := orders.ConfigFromEnv(env)
	require.NoError(t, err)
	pool := pgtest.Pool(t)
	srv := httptest.NewServer(orders.New(pool, slog.New(slog.DiscardHandler), cfg).Handler())
	t.Cleanup(srv.Close)
	return &dash{t: t, pool: pool, srv: srv, client: newClient(t)}
}

// approveAs approves order id over the API with the given Authorization and X-Manager
// headers and returns the status and the decider the answer names.
func (d *dash) approveAs(id, authorization, xManager string) (int, string) {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.srv.URL+"/api/orders/approve",
		strings.NewReader(`{"orderId":"`+id+`","approved":true,"reason":"checked"}`))
	require.NoError(d.t, err)
	req.Header.Set("Authorization", authorization)
	if xManager != "" {
		req.Header.Set("X-Manager", xManager)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(d.t, err)
	defer resp.Body.Close()
	var out struct{ DecidedBy string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.DecidedBy
}

// approvalActor is the actor recorded on the order's approval event.
func (d *dash) approvalActor(id string) string {
	d.t.Helper()
	var actor string
	require.NoError(d.t, d.pool.QueryRow(context.Background(),
		`SELECT metadata->>'actor' FROM events WHERE stream_id = $1 AND event_name = 'order.approved.v1'`, id).Scan(&actor))
	return actor
}

// Finding 13 of issue 8: an API approval's decider came from the X-Manager header, so a
// token holder could name anyone. The decider is now the manager whose token it is.
func TestAPIApprovalDeciderIsTheTokensManager(t *testing.T) {
	d := credentialDash(t, productionEnv(nil))
	d.holdOrder("ord-ana", "c1@example.com")
	d.holdOrder("ord-bob", "c2@example.com")

	status, by := d.approveAs("ord-ana", "Bearer tok-ana", "mallory@example.com")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ana@example.com", by, "X-Manager is ignored")
	assert.Equal(t, "manager:ana@example.com", d.approvalActor("ord-ana"))

	for _, authorization := range []string{"", "Bearer wrong", "Bearer " + orders.DevManagerToken, "tok-bob"} {
		status, _ := d.approveAs("ord-bob", authorization, "bob@example.com")
		assert.Equal(t, http.StatusUnauthorized, status, "%q", authorization)
	}
	status, by = d.approveAs("ord-bob", "Bearer tok-bob", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "bob@example.com", by)
}

// In dev mode, without MANAGER_TOKENS, the README's development token decides as the
// development manager, and only it.
func TestDevManagerTokenDecidesAsTheDevManager(t *testing.T) {
	d := credentialDash(t, host.EnvOf(map[string]string{"DEV_MODE": "1"}))
	d.holdOrder("ord-1", "c1@example.com")
	status, by := d.approveAs("ord-1", "Bearer "+orders.DevManagerToken, "mallory@example.com")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, orders.DevManagerEmail, by)
}

func TestManagerTokensConfiguration(t *testing.T) {
	cfg, err := orders.ConfigFromEnv(productionEnv(nil))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ana@example.com": "tok-ana", "bob@example.com": "tok-bob"}, map[string]string(cfg.ManagerTokens))

	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"MANAGER_TOKENS": ""}, "MANAGER_TOKENS is required outside DEV_MODE=1"},
		{map[string]string{"MANAGER_TOKEN": "tok"}, "MANAGER_TOKEN is replaced by MANAGER_TOKENS"},
		{map[string]string{"MANAGER_TOKENS": "ana@example.com:" + orders.DevManagerToken}, "the token of ana@example.com is the published development value"},
		{map[string]string{"MANAGER_TOKENS": "ana:tok-ana"}, `"ana" is not an email address`},
		{map[string]string{"MANAGER_TOKENS": "ana@example.com"}, "MANAGER_TOKENS: entry 1 is not <identity>:<token>"},
		{map[string]string{"PAYMENT_WEBHOOK_SECRET": webhooksig.DevPaymentSecret}, "PAYMENT_WEBHOOK_SECRET is the published development value"},
		{map[string]string{"DELIVERY_WEBHOOK_SECRET": ""}, "DELIVERY_WEBHOOK_SECRET is required outside DEV_MODE=1"},
	} {
		_, err := orders.ConfigFromEnv(productionEnv(c.vars))
		require.Error(t, err, "%v", c.vars)
		assert.Contains(t, err.Error(), c.want)
	}

	cfg, err = orders.ConfigFromEnv(host.EnvOf(map[string]string{"DEV_MODE": "1"}))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{orders.DevManagerEmail: orders.DevManagerToken}, map[string]string(cfg.ManagerTokens))
	assert.Equal(t, host.DevServiceToken("orders"), cfg.ServiceToken)

	// Outside dev mode the orders service holds no service token: nothing of it calls the
	// other services' procedures, so a compromise of it cannot release stock over HTTP.
	cfg, err = orders.ConfigFromEnv(productionEnv(map[string]string{"SERVICE_TOKEN_ORDERS": "tok-service"}))
	require.NoError(t, err)
	assert.Empty(t, cfg.ServiceToken)
}

// Finding 15 of issue 8: /dashboard/static/ listed its directory. Files are still served;
// a directory is a 404.
func TestDashboardStaticServesFilesNotListings(t *testing.T) {
	d := newDash(t)
	for _, path := range []string{"/dashboard/static/", "/dashboard/static/vendor/", "/dashboard/static/vendor"} {
		p := d.request(http.DefaultClient, "GET", path, nil, nil)
		assert.Equal(t, http.StatusNotFound, p.status, path)
		assert.NotContains(t, p.body, "app.css", path)
		assert.NotContains(t, p.body, "htmx", path)
	}
	p := d.request(http.DefaultClient, "GET", "/dashboard/static/app.css", nil, nil)
	assert.Equal(t, http.StatusOK, p.status)
}

// Finding 1 of issue 8: the simulators now want a service token, and the dashboard's
// dev-mode buttons present the orders service's.
func TestDashboardSimulatorPresentsTheServiceToken(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	simulators := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok-orders" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"ordersStatus":202}`))
	}))
	defer simulators.Close()
	d := credentialDash(t, func(k string) string {
		return map[string]string{"DEV_MODE": "1", "SERVICE_TOKEN_ORDERS": "tok-orders", "PAYMENTS_URL": simulators.URL, "DELIVERY_URL": simulators.URL}[k]
	})
	require.NoError(t, orders.CreateManager(context.Background(), d.pool, managerEmail, managerPassword))
	_, csrf := d.signIn(d.client, managerEmail, managerPassword)
	require.NotEmpty(t, csrf)

	for _, action := range []string{"pay", "delivered"} {
		p := d.request(d.client, "POST", "/dashboard/orders/ord-1/simulate", url.Values{"action": {action}, "csrf_token": {csrf}}, nil)
		require.Equal(t, http.StatusSeeOther, p.status, p.body)
		assert.Equal(t, "/dashboard/orders/ord-1?simulated="+action, p.header.Get("Location"))
	}
	assert.Equal(t, []string{
		"POST /api/payments/process Bearer tok-orders",
		"POST /api/shipments/ord-1/simulate Bearer tok-orders",
	}, seen)
}
