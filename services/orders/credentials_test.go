package orders_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// productionEnv is what an operator sets outside dev mode; tests add or remove a variable.
func productionEnv(vars map[string]string) host.Env {
	env := map[string]string{
		"MANAGER_TOKENS":          "ana@example.com:tok-ana-7f3a9c1e52, bob@example.com:tok-bob-7f3a9c1e52",
		"PAYMENT_WEBHOOK_SECRET":  "whsec_live_7f3a9c1e52",
		"DELIVERY_WEBHOOK_SECRET": "courier_live_7f3a9c1e52",
		"ORDER_TOKEN_SECRET":      "728ebfbbce21d8cd7137404589a2eb445d2807e31df8277282f26a3824f4b285",
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

// configured is the orders service built from env on a fresh database.
type configured struct {
	pool *pgxpool.Pool
	srv  *httptest.Server
}

// credentialService builds the orders service from env on a fresh database.
func credentialService(t *testing.T, env host.Env) *configured {
	t.Helper()
	cfg, err := orders.ConfigFromEnv(env)
	require.NoError(t, err)
	pool := pgtest.Pool(t)
	srv := httptest.NewServer(orders.New(pool, slog.New(slog.DiscardHandler), cfg).Handler())
	t.Cleanup(srv.Close)
	return &configured{pool: pool, srv: srv}
}

// approveAs approves order id over the API with the given Authorization and X-Manager
// headers and returns the status and the decider the answer names.
func (d *configured) approveAs(t *testing.T, id, authorization, xManager string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.srv.URL+"/api/orders/approve",
		strings.NewReader(`{"orderId":"`+id+`","approved":true,"reason":"checked"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", authorization)
	if xManager != "" {
		req.Header.Set("X-Manager", xManager)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct{ DecidedBy string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.DecidedBy
}

// approvalActor is the actor recorded on the order's approval event.
func (d *configured) approvalActor(t *testing.T, id string) string {
	t.Helper()
	var actor string
	require.NoError(t, d.pool.QueryRow(context.Background(),
		`SELECT metadata->>'actor' FROM events WHERE stream_id = $1 AND event_name = 'order.approved.v1'`, id).Scan(&actor))
	return actor
}

// Finding 13 of issue 8: an API approval's decider came from the X-Manager header, so a
// token holder could name anyone. The decider is now the manager whose token it is.
func TestAPIApprovalDeciderIsTheTokensManager(t *testing.T) {
	d := credentialService(t, productionEnv(nil))
	orderstest.HoldOrder(t, d.pool, "ord-ana", "c1@example.com")
	orderstest.HoldOrder(t, d.pool, "ord-bob", "c2@example.com")

	status, by := d.approveAs(t, "ord-ana", "Bearer tok-ana-7f3a9c1e52", "mallory@example.com")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ana@example.com", by, "X-Manager is ignored")
	assert.Equal(t, "manager:ana@example.com", d.approvalActor(t, "ord-ana"))

	for _, authorization := range []string{"", "Bearer wrong", "Bearer " + host.DevManagerToken, "tok-bob-7f3a9c1e52"} {
		status, _ := d.approveAs(t, "ord-bob", authorization, "bob@example.com")
		assert.Equal(t, http.StatusUnauthorized, status, "%q", authorization)
	}
	status, by = d.approveAs(t, "ord-bob", "Bearer tok-bob-7f3a9c1e52", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "bob@example.com", by)
}

// In dev mode, without MANAGER_TOKENS, the README's development token decides as the
// development manager, and only it.
func TestDevManagerTokenDecidesAsTheDevManager(t *testing.T) {
	d := credentialService(t, host.EnvOf(map[string]string{"DEV_MODE": "1"}))
	orderstest.HoldOrder(t, d.pool, "ord-1", "c1@example.com")
	status, by := d.approveAs(t, "ord-1", "Bearer "+host.DevManagerToken, "mallory@example.com")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, orders.DevManagerEmail, by)
}

func TestManagerTokensConfiguration(t *testing.T) {
	cfg, err := orders.ConfigFromEnv(productionEnv(nil))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ana@example.com": "tok-ana-7f3a9c1e52", "bob@example.com": "tok-bob-7f3a9c1e52"}, map[string]string(cfg.ManagerTokens))

	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"MANAGER_TOKENS": ""}, "MANAGER_TOKENS is required outside DEV_MODE=1"},
		{map[string]string{"MANAGER_TOKEN": "tok"}, "MANAGER_TOKEN is replaced by MANAGER_TOKENS"},
		{map[string]string{"MANAGER_TOKENS": "ana@example.com:" + host.DevManagerToken}, "the token of ana@example.com holds the published development value"},
		{map[string]string{"MANAGER_TOKENS": "ana:tok-ana-7f3a9c1e52"}, "MANAGER_TOKENS: an entry does not start with an email address"},
		{map[string]string{"MANAGER_TOKENS": "ana@example.com"}, "MANAGER_TOKENS: entry 1 is not <identity>:<token>"},
		{map[string]string{"PAYMENT_WEBHOOK_SECRET": webhooksig.DevPaymentSecret}, "PAYMENT_WEBHOOK_SECRET holds the published development value"},
		// Another secret's published value, or the value spelled twice, is as public; and
		// one secret for two roles lets each act as the other (a courier's signature paid).
		{map[string]string{"PAYMENT_WEBHOOK_SECRET": webhooksig.DevCourierSecret}, "PAYMENT_WEBHOOK_SECRET holds the published development value"},
		{map[string]string{"ORDER_TOKEN_SECRET": host.DevOrderTokenSecret + host.DevOrderTokenSecret}, "ORDER_TOKEN_SECRET holds the published development value"},
		{map[string]string{"DELIVERY_WEBHOOK_SECRET": "whsec_live_7f3a9c1e52"}, "PAYMENT_WEBHOOK_SECRET and DELIVERY_WEBHOOK_SECRET are the same secret"},
		{map[string]string{"OPERATOR_TOKEN": "courier_live_7f3a9c1e52"}, "DELIVERY_WEBHOOK_SECRET and OPERATOR_TOKEN are the same secret"},
		{map[string]string{"ORDER_TOKEN_SECRET": "tok-bob-7f3a9c1e52-and-then-4d8e6b0", "MANAGER_TOKENS": "bob@example.com:tok-bob-7f3a9c1e52-and-then-4d8e6b0"},
			"ORDER_TOKEN_SECRET and MANAGER_TOKENS' token of bob@example.com are the same secret"},
		{map[string]string{"DELIVERY_WEBHOOK_SECRET": ""}, "DELIVERY_WEBHOOK_SECRET is required outside DEV_MODE=1"},
		{map[string]string{"DELIVERY_WEBHOOK_SECRET": " "}, "DELIVERY_WEBHOOK_SECRET has spaces around it"},
		{map[string]string{"PAYMENT_WEBHOOK_SECRET": "a"}, "PAYMENT_WEBHOOK_SECRET has 1 characters; outside DEV_MODE=1 a secret needs at least 16"},
		{map[string]string{"MANAGER_TOKENS": "ana@example.com:x"}, "MANAGER_TOKENS: the token of ana@example.com has 1 characters"},
		{map[string]string{"OPERATOR_TOKEN": "x"}, "OPERATOR_TOKEN has 1 characters"},
		{map[string]string{"OPERATOR_TOKEN": "tok-ana-7f3a9c1e52"}, "MANAGER_TOKENS: the token of ana@example.com is OPERATOR_TOKEN"},
		{map[string]string{"MANAGER_TOKENS": "manager@ordermill.local:tok-dev-7f3a9c1e52"}, "MANAGER_TOKENS: manager@ordermill.local is reserved for the development account"},
		// A sender a mail server refuses had every email fail for good; a header name no
		// request carries put every sign-in under the proxy's address.
		// "@" alone passed for an email, the name every approval records.
		{map[string]string{"MANAGER_TOKENS": "@:tok-ana-7f3a9c1e52"}, "MANAGER_TOKENS: an entry does not start with an email address"},
		{map[string]string{"MAIL_FROM": "not an email"}, `MAIL_FROM="not an email" is not an email address like orders@shop.example`},
		{map[string]string{"MAIL_FROM": "Shop <orders@shop.example>"}, "MAIL_FROM"},
		{map[string]string{"MAIL_FROM": "jörg@shop.example"}, `MAIL_FROM="jörg@shop.example": the part before @ must be ASCII`},
		{map[string]string{"MAIL_FROM": "jörg@bücher.example"}, `MAIL_FROM="jörg@bücher.example": the part before @ must be ASCII`},
		{map[string]string{"MAIL_FROM": "orders@bü_cher.example"}, `MAIL_FROM="orders@bü_cher.example": its domain is not a name IDNA can write in ASCII`},
		{map[string]string{"CLIENT_IP_HEADER": "bad header"}, `CLIENT_IP_HEADER="bad header" is not a header name like X-Real-IP`},
		// A typo's hundred million senders took 23 GB; an amount past an int64 of cents wrapped.
		{map[string]string{"MAIL_SENDERS": "100000000"}, "MAIL_SENDERS=100000000: from 1 to 256 senders"},
		{map[string]string{"MAIL_SENDERS": "0"}, "MAIL_SENDERS=0: from 1 to 256 senders"},
		{map[string]string{"CONFIRM_APPROVAL_ABOVE": "92233720368547759"}, "CONFIRM_APPROVAL_ABOVE=92233720368547759: an amount from 0 to 1000000000000"},
	} {
		_, err := orders.ConfigFromEnv(productionEnv(c.vars))
		require.Error(t, err, "%v", c.vars)
		assert.Contains(t, err.Error(), c.want)
	}

	// An entry written token first, alone or twice, is refused without its token in the
	// error, which goes to the service's log: it quoted the token (a probe).
	for _, spec := range []string{"mgrTOKENrev_4f9a1c7e2b5d8036:ana@example.com", "mgrTOKENrev_4f9a1c7e2b5d8036:ana@example.com,mgrTOKENrev_4f9a1c7e2b5d8036:bob@example.com",
		"mgrTOKENrev_4f9a1c7e2b5d8036:ana@example.com,mgrTOKENrev_5e8b2d6f1a3c9047:ana@example.com"} {
		_, err := orders.ConfigFromEnv(productionEnv(map[string]string{"MANAGER_TOKENS": spec}))
		require.Error(t, err, spec)
		assert.NotContains(t, err.Error(), "mgrTOKENrev", spec)
	}

	cfg, err = orders.ConfigFromEnv(productionEnv(map[string]string{"MAIL_FROM": "orders@shop.example", "CLIENT_IP_HEADER": "X-Real-IP"}))
	require.NoError(t, err)
	assert.Equal(t, "orders@shop.example", cfg.MailFrom)
	assert.Equal(t, "X-Real-IP", cfg.ClientIPHeader)
	cfg, err = orders.ConfigFromEnv(productionEnv(map[string]string{"MAIL_FROM": "orders@bücher.example"}))
	require.NoError(t, err)
	assert.Equal(t, "orders@xn--bcher-kva.example", cfg.MailFrom, "sent as every mail server takes it")

	cfg, err = orders.ConfigFromEnv(host.EnvOf(map[string]string{"DEV_MODE": "1"}))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{orders.DevManagerEmail: host.DevManagerToken}, map[string]string(cfg.ManagerTokens))
	assert.Equal(t, host.DevServiceToken("orders"), cfg.ServiceToken)

	// Outside dev mode the orders service holds no service token: nothing of it calls the
	// other services' procedures, so a compromise of it cannot release stock over HTTP.
	cfg, err = orders.ConfigFromEnv(productionEnv(map[string]string{"SERVICE_TOKEN_ORDERS": "tok-service"}))
	require.NoError(t, err)
	assert.Empty(t, cfg.ServiceToken)
}
