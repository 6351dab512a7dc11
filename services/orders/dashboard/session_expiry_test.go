package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// A session past its expiry is no session, whatever its cookie and CSRF token: a page
// sends the manager to sign in, and a decision or a bulk action is refused and decides
// nothing. Only a live stream's keep-alive was seen to check the expiry (a review): with
// the check gone, every page and action went on serving an expired session. The test
// moves the expiry in the database, back to the session's start as the service's own
// clock recorded it: no wait.
func TestAnExpiredSessionIsRefused(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	c := orderstest.Client(t)
	_, csrf := d.signIn(t, c, managerEmail, managerPassword)
	d.holdOrder(t, "ord-late", "eve@example.com")
	hx := map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf}
	expire := func(expired bool) {
		t.Helper()
		to := `created_at + interval '1 hour'`
		if expired {
			to = `created_at`
		}
		_, err := d.pool.Exec(context.Background(), `UPDATE orders.dashboard_sessions SET expires_at = `+to)
		require.NoError(t, err)
	}
	page := func() dpage { return d.request(t, c, "GET", "/dashboard/approvals", nil, nil) }
	decide := func() dpage {
		return d.request(t, c, "POST", "/dashboard/approvals/ord-late/decide", url.Values{"decision": {"approve"}, "reason": {"called the customer"}}, hx)
	}
	bulk := func() dpage {
		return d.request(t, c, "POST", "/dashboard/approvals/bulk", url.Values{"decision": {"approve"}, "order": {"ord-late"}}, hx)
	}

	// Before it expires the session is served: the same requests below are refused only
	// because it did.
	require.Equal(t, http.StatusOK, page().status)
	require.Equal(t, http.StatusOK, bulk().status, "the bulk action asks for its confirmation")

	expire(true)
	p := page()
	assert.Equal(t, http.StatusSeeOther, p.status, "a page sends the manager to sign in")
	assert.Equal(t, "/dashboard/signin?next="+url.QueryEscape("/dashboard/approvals"), p.header.Get("Location"))
	for name, action := range map[string]func() dpage{"a decision": decide, "a bulk action": bulk} {
		p := action()
		assert.Equal(t, http.StatusUnauthorized, p.status, name)
		assert.Equal(t, "/dashboard/signin?ended=1", p.header.Get("HX-Redirect"), "%s: the sign-in page says it was not done", name)
	}
	status, _ := d.decidedBy(t, "ord-late")
	assert.Equal(t, "awaiting_approval", status, "nothing was decided")

	// The session back in its time, the same decision is taken.
	expire(false)
	p = decide()
	require.Equal(t, http.StatusOK, p.status, p.body)
	status, by := d.decidedBy(t, "ord-late")
	assert.Equal(t, "reserving_inventory", status)
	assert.Equal(t, managerEmail, by)
}
