package dashboard_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/dashboard"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// Finding 6 of issue 8: sign-in could be brute-forced (50 wrong passwords in 4 s, then the
// right one was accepted). These tests drive the sign-in form over HTTP with a clock they
// move by hand, and name the client's address with a header, as a proxy in front would.

const clientIPHeader = "X-Client-IP"

// manualClock is a clock that moves only when told to.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// throttledDash is a dashboard whose clock is clk and which takes the client's address from
// clientIPHeader.
func throttledDash(t *testing.T, clk *manualClock) (*dash, *orders.Service) {
	t.Helper()
	d := newDash(t)
	svc := orders.New(d.pool, slog.New(slog.DiscardHandler), orders.Config{ManagerTokens: map[string]string{"api@example.com": "token"}, Now: clk.Now, ClientIPHeader: clientIPHeader})
	d.srv = httptest.NewServer(svc.Handler())
	t.Cleanup(d.srv.Close)
	return d, svc
}

// attempt sends one sign-in from a fresh client at address addr.
func (d *dash) attempt(t testing.TB, email, password, addr string) dpage {
	t.Helper()
	c := orderstest.Client(t)
	header := map[string]string{clientIPHeader: addr}
	form := d.request(t, c, "GET", "/dashboard/signin", nil, header)
	require.Equal(t, http.StatusOK, form.status)
	token, ok := form.doc.Find(`[data-testid=signin-form] input[name=csrf_token]`).Attr("value")
	require.True(t, ok)
	return d.request(t, c, "POST", "/dashboard/signin", url.Values{"email": {email}, "password": {password}, "csrf_token": {token}}, header)
}

// retryAfter reads a 429's Retry-After header in seconds.
func retryAfter(t *testing.T, p dpage) int {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, p.status, p.body)
	n, err := strconv.Atoi(p.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", p.header.Get("Retry-After"))
	return n
}

// addresses hands out a new client address per call, so a test about accounts never
// trips the per-address limit.
func addresses() func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("203.0.113.%d", n)
	}
}

// lockOut fails five times for email, each time as soon as the growing delay allows, and
// returns the lockout's Retry-After.
func lockOut(t *testing.T, d *dash, clk *manualClock, email string, addr func() string) int {
	t.Helper()
	for i := range 5 {
		res := d.attempt(t, email, "not the password at all", addr())
		require.Equal(t, http.StatusUnauthorized, res.status, "failure %d is checked", i+1)
		if i < 4 {
			clk.Advance(time.Duration(1<<i) * time.Second)
		}
	}
	return retryAfter(t, d.attempt(t, email, managerPassword, addr()))
}

func TestSignInFailuresDelayTheNextAttemptThenLockTheAccount(t *testing.T) {
	clk := newManualClock()
	d, svc := throttledDash(t, clk)
	addr := addresses()

	for i, wait := range []int{1, 2, 4, 8} {
		res := d.attempt(t, managerEmail, "not the password at all", addr())
		require.Equal(t, http.StatusUnauthorized, res.status, "failure %d", i+1)
		// Too soon: refused without looking at the password, even the right one.
		early := d.attempt(t, managerEmail, managerPassword, addr())
		assert.Equal(t, wait, retryAfter(t, early), "after failure %d", i+1)
		assert.Contains(t, early.doc.Find(`[data-testid=signin-error]`).Text(), "Too many sign-in attempts")
		assert.Equal(t, 1, early.doc.Find(`[data-testid=signin-form]`).Length(), "the form is shown again")
		for _, c := range (&http.Response{Header: early.header}).Cookies() {
			assert.NotEqual(t, "ordermill_session", c.Name, "no session")
		}
		clk.Advance(time.Duration(wait) * time.Second)
	}
	require.Equal(t, http.StatusUnauthorized, d.attempt(t, managerEmail, "not the password at all", addr()).status, "failure 5")

	// Five failures lock the account for 15 minutes, whatever the password and the address.
	assert.Equal(t, 15*60, retryAfter(t, d.attempt(t, managerEmail, managerPassword, addr())))
	clk.Advance(15*time.Minute - time.Second)
	assert.Equal(t, 1, retryAfter(t, d.attempt(t, managerEmail, managerPassword, addr())))
	clk.Advance(time.Second)
	assert.Equal(t, http.StatusSeeOther, d.attempt(t, managerEmail, managerPassword, addr()).status, "the lock is over")

	got := svc.SignInCounts()
	assert.Equal(t, int64(5), got.Refused)
	assert.Equal(t, int64(6), got.Throttled)
	assert.Equal(t, int64(1), got.Lockouts)
}

func TestSignInLockoutsDoubleAndDoNotRevealWhichAccountsExist(t *testing.T) {
	clk := newManualClock()
	d, _ := throttledDash(t, clk)
	addr := addresses()

	assert.Equal(t, 15*60, lockOut(t, d, clk, managerEmail, addr))
	assert.Equal(t, 15*60, lockOut(t, d, clk, "nobody@example.com", addr))
	known := d.attempt(t, managerEmail, managerPassword, addr())
	unknown := d.attempt(t, "nobody@example.com", managerPassword, addr())
	assert.Positive(t, retryAfter(t, known))
	assert.Equal(t, 15*60, retryAfter(t, unknown))
	assert.Equal(t, known.doc.Find(`[data-testid=signin-error]`).Text(), unknown.doc.Find(`[data-testid=signin-error]`).Text())

	clk.Advance(15 * time.Minute)
	assert.Equal(t, 30*60, lockOut(t, d, clk, managerEmail, addr), "the second lockout lasts twice as long")
	clk.Advance(30 * time.Minute)
	assert.Equal(t, http.StatusSeeOther, d.attempt(t, managerEmail, managerPassword, addr()).status)
	assert.Equal(t, 15*60, lockOut(t, d, clk, managerEmail, addr), "a sign-in starts the account afresh")
}

func TestSignInThrottlesAnAddressTryingManyAccounts(t *testing.T) {
	clk := newManualClock()
	d, _ := throttledDash(t, clk)
	const attacker = "198.51.100.7"

	checked, lock := 0, 0
	for i := 0; i < 40 && lock == 0; i++ {
		email := fmt.Sprintf("guess%d@example.com", i)
		res := d.attempt(t, email, "not the password at all", attacker)
		for res.status == http.StatusTooManyRequests {
			wait := retryAfter(t, res)
			if wait > 60 {
				lock = wait
				break
			}
			clk.Advance(time.Duration(wait) * time.Second)
			res = d.attempt(t, email, "not the password at all", attacker)
		}
		if res.status == http.StatusUnauthorized {
			checked++
		}
	}
	assert.Equal(t, 20, checked, "twenty failures from one address, on twenty accounts")
	assert.Equal(t, 15*60, lock)
	assert.Equal(t, 15*60, retryAfter(t, d.attempt(t, managerEmail, managerPassword, attacker)), "the address is locked for every account")
	assert.Equal(t, http.StatusSeeOther, d.attempt(t, managerEmail, managerPassword, "198.51.100.8").status, "another address is not")

	// Attempts refused for the address's lock make no rows for the accounts they name: a
	// probe grew the table by 760 rows a second that way, without a credential.
	var before, after int
	require.NoError(t, d.pool.QueryRow(t.Context(), `SELECT count(*) FROM orders.signin_limits`).Scan(&before))
	for i := range 20 {
		assert.Equal(t, http.StatusTooManyRequests, d.attempt(t, fmt.Sprintf("new%d@example.com", i), "whatever it is", attacker).status)
	}
	require.NoError(t, d.pool.QueryRow(t.Context(), `SELECT count(*) FROM orders.signin_limits`).Scan(&after))
	assert.Equal(t, before, after)
}

// An attempt counts against the connection's peer, or the proxy's header when one is
// configured; an IPv6 host owns a /64, so its addresses share one limit.
func TestSignInCountsAgainstTheClientsAddress(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	direct := dashboard.New(nil, discard, dashboard.Config{}, nil, nil, nil)
	proxied := dashboard.New(nil, discard, dashboard.Config{ClientIPHeader: "X-Forwarded-For"}, nil, nil, nil)
	tests := []struct {
		svc       *dashboard.Service
		remote    string
		forwarded []string
		want      string
	}{
		{direct, "192.0.2.1:5555", nil, "192.0.2.1"},
		{direct, "[2001:db8::1]:443", nil, "2001:db8::/64"},
		{direct, "[2001:db8::ffff:1]:443", nil, "2001:db8::/64"},
		{direct, "[2001:db8:0:1::1]:443", nil, "2001:db8:0:1::/64"},
		{direct, "[::ffff:192.0.2.1]:1", nil, "192.0.2.1"},
		{direct, "192.0.2.1:5555", []string{"203.0.113.9"}, "192.0.2.1"}, // not configured: a client could send any
		{proxied, "10.0.0.1:5555", []string{"198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{proxied, "10.0.0.1:5555", []string{"198.51.100.1", "203.0.113.10"}, "203.0.113.10"},
		{proxied, "10.0.0.1:5555", []string{"2001:db8::7"}, "2001:db8::/64"},
		{proxied, "10.0.0.1:5555", nil, "10.0.0.1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/dashboard/signin", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.forwarded {
			r.Header.Add("X-Forwarded-For", v)
		}
		assert.Equal(t, tt.want, dashboard.ClientAddress(tt.svc, r), "%s %v", tt.remote, tt.forwarded)
	}
}

func TestSignInLimitsHoldAcrossReplicas(t *testing.T) {
	clk := newManualClock()
	d, _ := throttledDash(t, clk)
	addr := addresses()
	lockOut(t, d, clk, managerEmail, addr)

	// Another process on the same database, as after a restart or behind a load balancer.
	other := orders.New(d.pool, slog.New(slog.DiscardHandler), orders.Config{ManagerTokens: map[string]string{"api@example.com": "token"}, Now: clk.Now, ClientIPHeader: clientIPHeader})
	d.srv = httptest.NewServer(other.Handler())
	t.Cleanup(d.srv.Close)
	assert.Equal(t, 15*60, retryAfter(t, d.attempt(t, managerEmail, managerPassword, addr())))
}

// Concurrent guesses cannot slip past the limit before the first failure is recorded.
func TestSignInLimitHoldsForConcurrentGuesses(t *testing.T) {
	clk := newManualClock()
	d, _ := throttledDash(t, clk)
	addr := addresses()
	addrs := make([]string, 30)
	for i := range addrs {
		addrs[i] = addr()
	}
	statuses := make([]int, len(addrs))
	var wg sync.WaitGroup
	for i := range addrs {
		wg.Go(func() { statuses[i] = d.attempt(t, managerEmail, "not the password at all", addrs[i]).status })
	}
	wg.Wait()
	checked := 0
	for _, st := range statuses {
		if st == http.StatusUnauthorized {
			checked++
		} else {
			assert.Equal(t, http.StatusTooManyRequests, st)
		}
	}
	assert.Equal(t, 1, checked, "the first guess delays the others")
}

func TestPasswordResetEndsSessionsAndLiftsTheLockout(t *testing.T) {
	clk := newManualClock()
	d, _ := throttledDash(t, clk)
	ctx := context.Background()
	c := orderstest.Client(t)
	res := d.attempt(t, managerEmail, managerPassword, "192.0.2.1")
	require.Equal(t, http.StatusSeeOther, res.status)
	// attempt used its own client: sign c in the same way.
	form := d.request(t, c, "GET", "/dashboard/signin", nil, map[string]string{clientIPHeader: "192.0.2.1"})
	token, _ := form.doc.Find(`[data-testid=signin-form] input[name=csrf_token]`).Attr("value")
	require.Equal(t, http.StatusSeeOther, d.request(t, c, "POST", "/dashboard/signin",
		url.Values{"email": {managerEmail}, "password": {managerPassword}, "csrf_token": {token}}, nil).status)
	require.Equal(t, http.StatusOK, d.request(t, c, "GET", "/dashboard", nil, nil).status)

	// Setting the password an account already has (the dev account at every start) keeps its sessions.
	require.NoError(t, orders.CreateManager(ctx, d.pool, managerEmail, managerPassword))
	require.Equal(t, http.StatusOK, d.request(t, c, "GET", "/dashboard", nil, nil).status)

	lockOut(t, d, clk, managerEmail, addresses())
	const newPassword = "a brand new passphrase"
	require.NoError(t, orders.CreateManager(ctx, d.pool, managerEmail, newPassword))
	gone := d.request(t, c, "GET", "/dashboard", nil, nil)
	assert.Equal(t, http.StatusSeeOther, gone.status, "the reset ended the session")
	assert.Contains(t, gone.header.Get("Location"), "/dashboard/signin")
	assert.Equal(t, http.StatusSeeOther, d.attempt(t, managerEmail, newPassword, "192.0.2.2").status, "the reset lifted the lockout")
}

func TestNewPasswordsAreLongAndUncommon(t *testing.T) {
	d := newDash(t)
	ctx := context.Background()
	for _, pw := range []string{"", "short", "elevenchars", "           "} {
		err := orders.CreateManager(ctx, d.pool, "ana@example.com", pw)
		require.Error(t, err, "%q", pw)
		assert.Contains(t, err.Error(), "at least 12 characters", "%q", pw)
	}
	for _, pw := range []string{"password1234", "Password1234!", "qwertyuiop12", "123456789012", "iloveyou2024", "letmein12345", "ana@example.com",
		"ana@example.com!", "Ana@Example.com1", "ana!!!!!!!!!!"} {
		err := orders.CreateManager(ctx, d.pool, "ana@example.com", pw)
		require.Error(t, err, "%q", pw)
		assert.Contains(t, err.Error(), "too common", "%q", pw)
	}
	// The dev account's password is published (README, `make run`'s output): a real
	// account may not reuse it, nor another password that names the product.
	for _, pw := range []string{orders.DevDashboardPassword, "Ordermill-Dev", "my ordermill account", "0rdermill-dev", "ord3rmill-dev", "ordermi11-dev!!", "0rderm1ll-dev"} {
		err := orders.CreateManager(ctx, d.pool, "ana@example.com", pw)
		require.Error(t, err, "%q", pw)
		assert.Contains(t, err.Error(), "too common", "%q", pw)
	}
	for _, pw := range []string{"correct horse battery", "glass otter quietly"} {
		assert.NoError(t, orders.CreateManager(ctx, d.pool, "ana@example.com", pw), "%q", pw)
	}
	assert.NoError(t, orders.CreateManager(ctx, d.pool, orders.DevManagerEmail, orders.DevDashboardPassword), "the dev account's own")
}

// A probe created a manager whose address was "@": the decider every audit line names.
// An account's address is a bare address, as a customer's is.
func TestAManagerNeedsAnEmailAddress(t *testing.T) {
	d := newDash(t)
	for _, email := range []string{"", "@", " @ ", "ana", "Ana <ana@example.com>", "ana@[10.0.0.1]"} {
		err := orders.CreateManager(context.Background(), d.pool, email, "correct horse battery")
		require.Error(t, err, "%q", email)
		assert.Contains(t, err.Error(), "a manager needs an email address", "%q", email)
	}
	require.NoError(t, orders.CreateManager(context.Background(), d.pool, " ana@example.com ", "correct horse battery"))
}
