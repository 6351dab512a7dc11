package orders_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// Finding 4 of issue 8: customer data was public. The e2e tests drive this through the
// running system; these pin the rules down on one service.

const (
	testOrderSecret = "unit-test-order-token-secret-7f3a9c1e52"
	privateOrder    = `{"items":[{"sku":"SKU-001","quantity":1}],"total":50,"customerEmail":"zoe@example.com",` +
		`"shippingAddress":{"name":"Zoe","line1":"7 Hidden Lane","city":"Lyon","postalCode":"69001","country":"FR"}}`
)

// placeForToken places body and returns the order's id and access token.
func (a *api) placeForToken(t testing.TB, body string) (id, token string) {
	t.Helper()
	r := a.post(t, body, nil)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	m := decodeObject(t, r.body)
	id, _ = m["id"].(string)
	token, _ = m["accessToken"].(string)
	require.NotEmpty(t, token)
	return id, token
}

func (a *api) getWith(t testing.TB, path string, header map[string]string) response {
	t.Helper()
	return a.do(t, http.MethodGet, path, nil, header)
}

func bearerHeader(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func TestReadsNeedTheRightCredential(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{OrderTokenSecret: testOrderSecret})
	id, token := a.placeForToken(t, privateOrder)
	otherID, otherToken := a.placeForToken(t, businessCaseBody)
	require.NotEqual(t, token, otherToken)

	// No credential, a wrong one, one of another scheme, the other order's token.
	refused := []map[string]string{nil, bearerHeader("wrong"), {"Authorization": "Basic " + orderstest.OperatorToken}, bearerHeader(otherToken)}
	for _, path := range []string{"/api/orders", "/api/orders/" + id, "/api/orders/" + id + "/events",
		"/api/orders/" + id + "/notifications", "/api/support-tickets", "/api/webhooks", "/api/orders/no-such-order"} {
		for _, header := range refused {
			assertError(t, a.getWith(t, path, header), http.StatusUnauthorized, "unauthorized", "")
		}
	}
	// A customer's token opens its order only, never a list or an inbox.
	for _, path := range []string{"/api/orders", "/api/orders/" + id + "/notifications", "/api/support-tickets?orderId=" + id, "/api/webhooks"} {
		r := a.getWith(t, path, bearerHeader(token))
		assertError(t, r, http.StatusUnauthorized, "unauthorized", "")
		assert.Equal(t, "the operator's token is required: Authorization: Bearer <token>", errorMessage(t, r), "no access token is offered where none opens")
		assertError(t, a.getWith(t, path+sep(path)+"token="+url.QueryEscape(token), nil), http.StatusUnauthorized, "unauthorized", "")
	}
	assertError(t, a.getWith(t, "/api/orders/"+otherID+"?token="+url.QueryEscape(token), nil), http.StatusUnauthorized, "unauthorized", "")
	assertError(t, a.getWith(t, "/api/orders?token="+orderstest.OperatorToken, nil), http.StatusUnauthorized, "unauthorized", "")

	for _, r := range []response{a.getWith(t, "/api/orders/"+id, bearerHeader(token)), a.getWith(t, "/api/orders/"+id+"?token="+url.QueryEscape(token), nil)} {
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		v := decodeObject(t, r.body)
		assert.Equal(t, id, v["id"])
		assert.Equal(t, string(order.StatusReserving), v["status"])
		assert.NotEmpty(t, v["items"])
		assert.NotContains(t, string(r.body), "zoe")
		assert.NotContains(t, string(r.body), "Hidden Lane")
		assert.NotContains(t, v, "newCustomer")
		assert.NotContains(t, v, "version")
	}
	ev := a.getWith(t, "/api/orders/"+id+"/events", bearerHeader(token))
	require.Equal(t, http.StatusOK, ev.status)
	assert.Contains(t, string(ev.body), `"name":"order.placed.v2"`)
	assert.NotContains(t, string(ev.body), "zoe")
	assert.NotContains(t, string(ev.body), `"position"`)

	full := a.get(t, "/api/orders/"+id)
	require.Equal(t, http.StatusOK, full.status)
	assert.Equal(t, "zoe@example.com", decodeObject(t, full.body)["customerEmail"])
	assert.Equal(t, http.StatusNotFound, a.get(t, "/api/orders/no-such-order").status)
}

// A probe read, with an order's own token, that staff had claimed the order and written
// notes about it: the desk's events are not the customer's. The operator sees them all.
func TestTheCustomerDoesNotSeeTheDesksEvents(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{OrderTokenSecret: testOrderSecret})
	id, token := a.placeForToken(t, privateOrder)
	ctx := context.Background()
	now := time.Now()
	updatedAt := func() any {
		return decodeObject(t, a.getWith(t, "/api/orders/"+id, bearerHeader(token)).body)["updatedAt"]
	}
	placed := updatedAt()
	require.NoError(t, pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		_, err := orderstream.Update(ctx, tx, id, eventstore.Metadata{CorrelationID: id, Actor: "manager:bob@example.com"}, func(o *order.Order) ([]order.Event, error) {
			note, err := o.AddNote("bob@example.com", "fraud ring?", now)
			if err != nil {
				return nil, err
			}
			ticket, err := o.OpenSupportTicket("payment_mismatch", "checking", now)
			return append(note, ticket...), err
		})
		return err
	}))
	names := func(body []byte) []string {
		var v struct{ Events []struct{ Name string } }
		require.NoError(t, json.Unmarshal(body, &v))
		var out []string
		for _, e := range v.Events {
			out = append(out, e.Name)
		}
		return out
	}
	// Nor do the customer's numbers or the order's updatedAt give the desk away (the
	// review of this change: a gap in the versions, updatedAt moved by the note).
	assert.Equal(t, placed, updatedAt())
	mine := a.getWith(t, "/api/orders/"+id+"/events", bearerHeader(token))
	require.Equal(t, http.StatusOK, mine.status)
	var shown struct{ Events []struct{ Version int } }
	require.NoError(t, json.Unmarshal(mine.body, &shown))
	for i, e := range shown.Events {
		assert.Equal(t, i+1, e.Version)
	}
	assert.Contains(t, names(mine.body), order.NameOrderPlaced)
	assert.NotContains(t, names(mine.body), order.NameNoteAdded)
	assert.NotContains(t, names(mine.body), order.NameSupportTicketOpened)
	all := a.get(t, "/api/orders/"+id+"/events")
	require.Equal(t, http.StatusOK, all.status)
	assert.Subset(t, names(all.body), []string{order.NameOrderPlaced, order.NameNoteAdded, order.NameSupportTicketOpened})
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// A token needs no storage: any replica with the same secret accepts it, and a replica
// with another secret does not.
func TestOrderTokensAgreeAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{OrderTokenSecret: testOrderSecret})
	id, token := a.placeForToken(t, businessCaseBody)

	replica := func(secret string) *api {
		svc := orders.New(a.pool, slog.New(slog.DiscardHandler), orders.Config{OrderTokenSecret: secret})
		srv := httptest.NewServer(svc.Handler())
		t.Cleanup(srv.Close)
		return &api{pool: a.pool, svc: svc, srv: srv}
	}
	assert.Equal(t, http.StatusOK, replica(testOrderSecret).getWith(t, "/api/orders/"+id, bearerHeader(token)).status)
	assert.Equal(t, http.StatusUnauthorized, replica("another-secret-of-sufficient-length!!").getWith(t, "/api/orders/"+id, bearerHeader(token)).status)
}

// Dev mode keeps the README's curl lines working: no credential reads as the operator. A
// wrong credential is still refused, and a customer's token still gets the customer's view.
func TestDevModeReadsNeedNoCredential(t *testing.T) {
	t.Parallel()
	a := newAPI(t, orders.Config{DevMode: true})
	id, token := a.placeForToken(t, privateOrder)
	r := a.getWith(t, "/api/orders/"+id, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "zoe@example.com", decodeObject(t, r.body)["customerEmail"])
	for _, path := range []string{"/api/orders", "/api/orders/" + id + "/events", "/api/orders/" + id + "/notifications", "/api/support-tickets", "/api/webhooks"} {
		assert.Equal(t, http.StatusOK, a.getWith(t, path, nil).status, path)
	}
	assert.Equal(t, http.StatusUnauthorized, a.getWith(t, "/api/orders/"+id, bearerHeader("wrong")).status)
	assert.Equal(t, http.StatusUnauthorized, a.getWith(t, "/api/orders?token=wrong", nil).status)
	r = a.getWith(t, "/api/orders/"+id, bearerHeader(token))
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, string(r.body), "zoe")
}

func TestConfigFromEnvOrderTokenSecretAndOperatorToken(t *testing.T) {
	env := host.EnvOf
	prod := map[string]string{"MANAGER_TOKENS": "ana@example.com:manager-token-7f3a9c1e52", "PAYMENT_WEBHOOK_SECRET": "payment-secret-7f3a9c1e52", "DELIVERY_WEBHOOK_SECRET": "delivery-secret-7f3a9c1e52"}
	for _, secret := range []string{"", "too-short", host.DevOrderTokenSecret, strings.Repeat("s", orders.MinOrderTokenSecret)} {
		prod["ORDER_TOKEN_SECRET"] = secret
		_, err := orders.ConfigFromEnv(env(prod))
		require.Error(t, err, "production refuses ORDER_TOKEN_SECRET %q", secret)
		assert.Contains(t, err.Error(), "ORDER_TOKEN_SECRET")
	}
	prod["ORDER_TOKEN_SECRET"] = "9c1e52b7f3a04d8e6a21f0c7b59e3d48"
	cfg, err := orders.ConfigFromEnv(env(prod))
	require.NoError(t, err)
	assert.Empty(t, cfg.OperatorToken, "no operator token unless one is set: lists are closed")
	prod["OPERATOR_TOKEN"] = host.DevOperatorToken
	_, err = orders.ConfigFromEnv(env(prod))
	require.Error(t, err, "the published dev operator token is refused in production")
	assert.Contains(t, err.Error(), "OPERATOR_TOKEN")
	prod["OPERATOR_TOKEN"] = "op-secret-7f3a9c1e52"
	cfg, err = orders.ConfigFromEnv(env(prod))
	require.NoError(t, err)
	assert.Equal(t, "op-secret-7f3a9c1e52", cfg.OperatorToken)

	cfg, err = orders.ConfigFromEnv(env(map[string]string{"DEV_MODE": "1"}))
	require.NoError(t, err)
	assert.Equal(t, host.DevOperatorToken, cfg.OperatorToken)
	assert.Equal(t, host.DevOrderTokenSecret, cfg.OrderTokenSecret)

	cfg, err = orders.ConfigFromEnv(env(map[string]string{"DEV_MODE": "1", "OPERATOR_TOKEN": "op", "ORDER_TOKEN_SECRET": "s", "CLIENT_IP_HEADER": "X-Real-IP"}))
	require.NoError(t, err)
	assert.Equal(t, "op", cfg.OperatorToken)
	assert.Equal(t, "s", cfg.OrderTokenSecret)
	assert.Equal(t, "X-Real-IP", cfg.ClientIPHeader)
}

// The development mailbox the dashboard links to is read in dev mode only: a production
// dashboard never sends managers to a mailbox that catches nothing.
func TestConfigFromEnvDevMailboxOnlyInDevMode(t *testing.T) {
	cfg, err := orders.ConfigFromEnv(host.EnvOf(map[string]string{"DEV_MODE": "1", "DEV_MAILBOX_URL": "http://localhost:8025"}))
	require.NoError(t, err)
	assert.Equal(t, "http://localhost:8025", cfg.DevMailboxURL)
	cfg, err = orders.ConfigFromEnv(host.EnvOf(map[string]string{"MANAGER_TOKENS": "ana@example.com:manager-token-7f3a9c1e52", "PAYMENT_WEBHOOK_SECRET": "payment-secret-7f3a9c1e52",
		"DELIVERY_WEBHOOK_SECRET": "delivery-secret-7f3a9c1e52", "ORDER_TOKEN_SECRET": "9c1e52b7f3a04d8e6a21f0c7b59e3d48", "DEV_MAILBOX_URL": "http://localhost:8025"}))
	require.NoError(t, err)
	assert.Empty(t, cfg.DevMailboxURL)
}

// A service address, the SMTP server or a wait's deadline that cannot work stops the
// start-up with one line naming the variable, instead of failing the first request that
// needs it (every placement, for a bad WAREHOUSE_URL) or every email (SMTP_URL=http://…).
func TestConfigFromEnvRefusesUnusableValues(t *testing.T) {
	for key, value := range map[string]string{
		"SMTP_URL": "http://mail.example.com", "WAREHOUSE_URL": "notaurl", "PAYMENTS_URL": "localhost:3002",
		"DELIVERY_URL": "ftp://x", "DEV_MAILBOX_URL": "mailpit", "COOKIE_SECURE": "maybe",
		"APPROVAL_TIMEOUT": "1ns", "PAYMENT_TIMEOUT": "500ms", "DELIVERY_TIMEOUT": "999ms",
	} {
		_, err := orders.ConfigFromEnv(host.EnvOf(map[string]string{"DEV_MODE": "1", key: value}))
		require.Error(t, err, key)
		assert.True(t, strings.HasPrefix(err.Error(), key), "%s: %v", key, err)
	}
	// A payment wait longer than a session stays open would hold stock no one can pay for.
	_, err := orders.ConfigFromEnv(host.EnvOf(map[string]string{"DEV_MODE": "1", "PAYMENT_TIMEOUT": "48h"}))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "PAYMENT_TIMEOUT=48h0m0s: at most 24h0m0s"), err.Error())
	_, err = orders.ConfigFromEnv(host.EnvOf(map[string]string{"DEV_MODE": "1", "PAYMENT_TIMEOUT": "24h"}))
	require.NoError(t, err)
	cfg, err := orders.ConfigFromEnv(host.EnvOf(map[string]string{"DEV_MODE": "TRUE", "SMTP_URL": "smtp://u:p@mail.example.com:587",
		"WAREHOUSE_URL": "https://warehouse.internal", "PAYMENT_TIMEOUT": "1s", "COOKIE_SECURE": "true"}))
	require.NoError(t, err)
	assert.True(t, cfg.DevMode)
	assert.True(t, cfg.CookieSecure)
	assert.Equal(t, "smtp://u:p@mail.example.com:587", cfg.SMTPURL)
	assert.Equal(t, "https://warehouse.internal", cfg.WarehouseURL)
}

// The webhook inbox keeps a webhook 30 days by default. A retention shorter than the
// providers' retries is refused at start-up: a retry of a webhook swept already is taken as
// a new webhook, so a week is the least.
func TestConfigFromEnvWebhookInboxRetention(t *testing.T) {
	cfg, err := orders.ConfigFromEnv(host.EnvOf(map[string]string{"DEV_MODE": "1"}))
	require.NoError(t, err)
	assert.Equal(t, 30*24*time.Hour, cfg.WebhookInboxRetention)
	for _, short := range []string{"72h", "167h59m"} {
		_, err = orders.ConfigFromEnv(host.EnvOf(map[string]string{"DEV_MODE": "1", "WEBHOOK_INBOX_RETENTION": short}))
		require.Error(t, err, short)
		assert.True(t, strings.HasPrefix(err.Error(), "WEBHOOK_INBOX_RETENTION="), err.Error())
		assert.Contains(t, err.Error(), "at least 168h0m0s")
	}
	cfg, err = orders.ConfigFromEnv(host.EnvOf(map[string]string{"DEV_MODE": "1", "WEBHOOK_INBOX_RETENTION": "168h"}))
	require.NoError(t, err)
	assert.Equal(t, 7*24*time.Hour, cfg.WebhookInboxRetention)
}
