package dashboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/services/orders"
)

// The API checks every order id it is given (httpx.PathID, limits.ID): its length, its
// characters, never "." or "..". The dashboard's routes took theirs as they came and went
// on with them: the order page looked a 129-character id up (404), a decision or a claim
// was refused in its box, a note's form answered 404 after reading the order, and the
// simulator buttons sent the id on to the simulators. Every route that takes an id now
// answers a bad one with the dashboard's error page, 400 naming the id, before it reads or
// sends anything; a ticket's or a dead letter's that is no number from 1 is none (404).
func TestDashboardRoutesRefuseABadIDBeforeUsingIt(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var asked []string
	simulators := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Method+" "+r.URL.Path)
		mu.Unlock()
		_, _ = w.Write([]byte(`{"ordersStatus":202}`))
	}))
	t.Cleanup(simulators.Close)
	d := configuredDash(t, func(k string) string {
		return map[string]string{"DEV_MODE": "1", "SERVICE_TOKEN_ORDERS": "tok-orders", "PAYMENTS_URL": simulators.URL, "DELIVERY_URL": simulators.URL}[k]
	})
	require.NoError(t, orders.CreateManager(context.Background(), d.pool, managerEmail, managerPassword))
	_, csrf := d.signIn(t, d.client, managerEmail, managerPassword)

	bad := map[string]string{ // escaped as in a path: what the id is refused for
		strings.Repeat("o", limits.MaxID+1): "at most 128 characters",
		"%2E%2E":                            `must not be "." or ".."`,
		"%2E":                               `must not be "." or ".."`,
		"ord%E2%80%8B1":                     "U+200B", // a zero-width space
		"ord%1B1":                           "U+001B", // ESC
	}
	for escaped, why := range bad {
		id, err := url.PathUnescape(escaped)
		require.NoError(t, err)
		routes := []struct {
			method, path, field string
			form                url.Values
		}{
			{"GET", "/dashboard/orders/" + escaped, "id", nil},
			{"POST", "/dashboard/orders/" + escaped + "/notes", "id", url.Values{"text": {"called the customer"}}},
			{"POST", "/dashboard/orders/" + escaped + "/simulate", "id", url.Values{"action": {"pay"}}},
			{"POST", "/dashboard/orders/" + escaped + "/simulate", "id", url.Values{"action": {"delivered"}}},
			{"POST", "/dashboard/approvals/" + escaped + "/decide", "id", url.Values{"decision": {"reject"}, "reason": {"fraud"}}},
			{"POST", "/dashboard/approvals/" + escaped + "/decide", "id", url.Values{"decision": {"approve"}, "return": {"order"}}},
			{"POST", "/dashboard/approvals/" + escaped + "/claim", "id", url.Values{"action": {"claim"}}},
			{"POST", "/dashboard/approvals/bulk", "order", url.Values{"order": {"ord-1", id}, "decision": {"reject"}, "reason": {"fraud"}}},
		}
		for _, route := range routes {
			for _, htmx := range []bool{false, true} {
				header := map[string]string{"Accept": "text/html"}
				if htmx {
					header["HX-Request"] = "true"
				}
				form := url.Values{"csrf_token": {csrf}}
				for k, v := range route.form {
					form[k] = v
				}
				if route.method == "GET" {
					form = nil
				}
				p := d.request(t, d.client, route.method, route.path, form, header)
				what := route.method + " " + route.path + " " + route.form.Encode()
				if htmx {
					what += " (htmx)"
				}
				if assert.Equal(t, http.StatusBadRequest, p.status, "%s: %s", what, p.body) && assert.NotNil(t, p.doc, what) {
					message := p.doc.Find(`[data-testid=error-message]`).Text()
					assert.Contains(t, message, route.field+" must", what)
					assert.Contains(t, message, why, what)
				}
			}
		}
		// An order page's live stream names its order in the query.
		req, err := http.NewRequest("GET", d.srv.URL+"/dashboard/events?since=0&order="+url.QueryEscape(id), nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := d.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close() // a stream, when one was opened, is not read
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "the live stream of order %q", id)
	}
	// A ticket's and a dead letter's ids are numbers from 1: anything else is none.
	for _, path := range []string{"/dashboard/tickets/-1", "/dashboard/tickets/0", "/dashboard/tickets/1e3",
		"/dashboard/dead-letters/-1/redrive", "/dashboard/dead-letters/99999999999999999999/redrive"} {
		p := d.request(t, d.client, "POST", path, url.Values{"csrf_token": {csrf}, "action": {"comment"}, "text": {"hi"}}, map[string]string{"Accept": "text/html"})
		if assert.Equal(t, http.StatusNotFound, p.status, path) && assert.NotNil(t, p.doc, path) {
			assert.Contains(t, p.doc.Find(`[data-testid=error-message]`).Text(), "no such", path)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, asked, "no simulator was asked about a bad id")
}
