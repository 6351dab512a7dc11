package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/ordersclient"
)

// Finding 4 of issue 8: customer data was public. In production mode a customer reads only
// their own order, with the token its 201 gave them, and sees no one's personal data; lists
// and inboxes need the operator's token.

// private is an order carrying personal data that must not leak.
const private = `{"items":[{"sku":"SKU-001","quantity":2}],"total":100,"customerId":"c-7","customerEmail":"zoe.private@example.com",
	"shippingAddress":{"name":"Zoe Private","line1":"7 Hidden Lane","city":"Lyon","postalCode":"69001","country":"FR"}}`

// placed is the 201 of POST /api/orders.
type placed struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	AccessToken string `json:"accessToken"`
}

func (s *system) placeWithToken(t *testing.T, body string, params *ordersclient.PlaceOrderParams) placed {
	t.Helper()
	res, err := s.api.PlaceOrderWithBodyWithResponse(t.Context(), params, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	require.NotNil(t, res.JSON201, "status %d: %s", res.StatusCode(), res.Body)
	require.NotEmpty(t, res.JSON201.Id)
	return placed{ID: res.JSON201.Id, Status: string(res.JSON201.Status), AccessToken: res.JSON201.AccessToken}
}

// waitPaymentURL waits until the order records its payment session: the status moves to
// awaiting_payment a few hops before the session is opened.
func (s *system) waitPaymentURL(t *testing.T, id string) {
	t.Helper()
	recorded := poll(10*time.Millisecond, func() bool {
		res, err := s.api.GetOrderWithResponse(t.Context(), id, ordersclient.WithHeaders(operator()))
		require.NoError(t, err)
		require.NotNil(t, res.JSON200, "status %d: %s", res.StatusCode(), res.Body)
		o, err := res.JSON200.AsOrder()
		require.NoError(t, err)
		return deref(o.PaymentUrl) != ""
	})
	if !recorded {
		t.Fatalf("order %s never recorded a payment URL", id)
	}
}

// raw makes a GET and returns its status and body.
func (s *system) raw(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	var body json.RawMessage
	status := s.call(t, "GET", url, nil, header, &body)
	return status, string(body)
}

func TestCustomerDataNeedsACredential(t *testing.T) {
	s := start(t, defaultOptions())
	mine := s.placeWithToken(t, private, nil)
	require.NotEmpty(t, mine.AccessToken, "the 201 carries the order's access token")
	other := s.placeWithToken(t, lowRisk, nil)
	s.waitStatus(t, mine.ID, "awaiting_payment")
	s.waitPaymentURL(t, mine.ID)

	// Without a credential, or with a wrong one, nothing is readable, and nothing leaks.
	reads := []string{
		"/api/orders", "/api/orders?status=awaiting_payment",
		"/api/orders/" + mine.ID, "/api/orders/" + mine.ID + "/events", "/api/orders/" + mine.ID + "/notifications",
		"/api/webhooks", "/api/support-tickets", "/api/support-tickets?orderId=" + mine.ID,
	}
	for _, path := range reads {
		for _, header := range []http.Header{nil, bearer("wrong"), bearer(managerToken), bearer(other.AccessToken)} {
			status, body := s.raw(t, s.orders+path, header)
			assert.Equal(t, http.StatusUnauthorized, status, "%s with %v", path, header)
			assert.Contains(t, body, `"code":"unauthorized"`, path)
			assert.NotContains(t, body, "zoe", path)
			assert.NotContains(t, body, "Hidden Lane", path)
		}
	}
	status, _ := s.raw(t, s.orders+"/api/orders/"+mine.ID+"?token="+url.QueryEscape(other.AccessToken), nil)
	assert.Equal(t, http.StatusUnauthorized, status, "another order's token opens nothing here")
	status, _ = s.raw(t, s.orders+"/api/orders/no-such-order", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "an anonymous caller cannot probe which orders exist")

	// The customer reads their own order's status, by header or by link, and nothing else.
	for _, read := range []struct {
		url    string
		header http.Header
	}{
		{s.orders + "/api/orders/" + mine.ID, bearer(mine.AccessToken)},
		{s.orders + "/api/orders/" + mine.ID + "?token=" + url.QueryEscape(mine.AccessToken), nil},
	} {
		var view map[string]any
		require.Equal(t, http.StatusOK, s.call(t, "GET", read.url, nil, read.header, &view))
		assert.Equal(t, mine.ID, view["id"])
		assert.Equal(t, "awaiting_payment", view["status"])
		assert.EqualValues(t, 100, view["total"])
		assert.NotEmpty(t, view["items"])
		assert.NotEmpty(t, view["paymentUrl"], "the customer needs the payment link")
		for _, hidden := range []string{"customerId", "customerEmail", "shippingAddress", "billingAddress", "riskScore", "riskFactors",
			"decidedBy", "decisionReason", "reservationId", "paymentSessionId", "paymentId", "cancelDetail"} {
			assert.NotContains(t, view, hidden)
		}
	}
	status, body := s.raw(t, s.orders+"/api/orders/"+mine.ID+"/events", bearer(mine.AccessToken))
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "order.placed.v2", "the customer sees what happened")
	assert.NotContains(t, body, "zoe", "but not the events' data")
	assert.NotContains(t, body, `"data"`)
	assert.NotContains(t, body, `"actor"`)

	// The operator reads everything.
	op := bearer(operatorToken)
	var full map[string]any
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/orders/"+mine.ID, nil, op, &full))
	assert.Equal(t, "zoe.private@example.com", full["customerEmail"])
	assert.NotNil(t, full["riskScore"])
	for _, path := range reads {
		status, _ := s.raw(t, s.orders+path, op)
		assert.Equal(t, http.StatusOK, status, path)
	}
	status, body = s.raw(t, s.orders+"/api/orders/"+mine.ID+"/events", op)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "zoe.private@example.com", "the operator sees the events' data")
	status, _ = s.raw(t, s.orders+"/api/orders/no-such-order", op)
	assert.Equal(t, http.StatusNotFound, status)
	// The operator's token is a header credential only: links end up in logs and histories.
	status, _ = s.raw(t, s.orders+"/api/orders?token="+operatorToken, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
}

// A retried POST gets the same order and so the same token: no storage is needed for it,
// and any replica computes it.
func TestIdempotentRetryReturnsTheSameAccessToken(t *testing.T) {
	s := start(t, defaultOptions())
	checkout := "checkout-42"
	key := &ordersclient.PlaceOrderParams{IdempotencyKey: &checkout}
	first := s.placeWithToken(t, lowRisk, key)
	res, err := s.api.PlaceOrderWithBodyWithResponse(t.Context(), key, "application/json", strings.NewReader(lowRisk))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode(), "body: %s", res.Body)
	assert.Equal(t, "true", res.Headers200.IdempotentReplayed)
	again := res.JSON200
	// The same order and token; its status is today's, which the workflow may have moved on.
	assert.Equal(t, first.ID, again.Id)
	assert.Equal(t, first.AccessToken, again.AccessToken)
	require.NotEmpty(t, again.AccessToken)
}

// In dev mode the README's curl lines read orders without a credential; a wrong credential
// is still refused, and a customer's token still shows the customer's view.
func TestDevModeReadsNeedNoCredential(t *testing.T) {
	opt := defaultOptions()
	opt.devMode = true
	s := start(t, opt)
	mine := s.placeWithToken(t, private, nil)
	var view map[string]any
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/orders/"+mine.ID, nil, nil, &view))
	assert.Equal(t, "zoe.private@example.com", view["customerEmail"])
	for _, path := range []string{"/api/orders?status=placed", "/api/orders/" + mine.ID + "/events", "/api/orders/" + mine.ID + "/notifications", "/api/webhooks", "/api/support-tickets"} {
		status, _ := s.raw(t, s.orders+path, nil)
		assert.Equal(t, http.StatusOK, status, path)
	}
	status, _ := s.raw(t, s.orders+"/api/orders/"+mine.ID, bearer("wrong"))
	assert.Equal(t, http.StatusUnauthorized, status)
	view = nil
	require.Equal(t, http.StatusOK, s.call(t, "GET", s.orders+"/api/orders/"+mine.ID, nil, bearer(mine.AccessToken), &view))
	assert.NotContains(t, view, "customerEmail")
}
