package main

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/host/hosttest"
	"github.com/ordermill/ordermill/services/orders"
)

// devEnv and productionEnv are the two ways the same database is run in these tests.
var (
	devEnv        = map[string]string{"DEV_MODE": "1"}
	productionEnv = map[string]string{
		"MANAGER_TOKENS":          "ana@example.com:tok-ana-7f3a9c1e52",
		"PAYMENT_WEBHOOK_SECRET":  "whsec_live_7f3a9c1e52",
		"DELIVERY_WEBHOOK_SECRET": "courier_live_7f3a9c1e52",
		"ORDER_TOKEN_SECRET":      "728ebfbbce21d8cd7137404589a2eb445d2807e31df8277282f26a3824f4b285",
	}
)

var csrfInput = regexp.MustCompile(`name="csrf_token"[^>]*value="([^"]+)"`)

// signIn fills in the dashboard's sign-in form as a browser does and returns the status of
// the form's POST: 303 when signed in.
func signIn(t *testing.T, c *http.Client, base, email, password string) int {
	t.Helper()
	resp, err := c.Get(base + "/dashboard/signin")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(page)
	require.NotNil(t, m, "the sign-in form has a CSRF token")
	resp, err = c.PostForm(base+"/dashboard/signin", url.Values{"email": {email}, "password": {password}, "csrf_token": {string(m[1])}})
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// Finding 7 of issue 8: after one dev-mode run on a database, the development account and
// its published password still signed in with DEV_MODE unset. A start outside dev mode now
// removes dev-only accounts, and their sessions with them; real accounts are untouched.
func TestDevAccountDoesNotSurviveIntoProduction(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	logger := slog.New(slog.DiscardHandler)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	dev, err := hosttest.Started(ctx, orders.Build, pool, logger, host.EnvOf(devEnv))
	require.NoError(t, err)
	devSrv := httptest.NewServer(dev.Handler())
	require.Equal(t, http.StatusSeeOther, signIn(t, browser, devSrv.URL, orders.DevManagerEmail, orders.DevDashboardPassword),
		"the development account works in dev mode")
	require.NoError(t, orders.CreateManager(ctx, pool, "ana@example.com", "a long real password"))
	devSrv.Close()

	prod, err := hosttest.Started(ctx, orders.Build, pool, logger, host.EnvOf(productionEnv))
	require.NoError(t, err)
	prodSrv := httptest.NewServer(prod.Handler())
	defer prodSrv.Close()

	// The session the dev account opened is over (the jar still sends its cookie).
	resp, err := browser.Get(prodSrv.URL + "/dashboard")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Location"), "/dashboard/signin", "signed out")

	assert.Equal(t, http.StatusUnauthorized, signIn(t, browser, prodSrv.URL, orders.DevManagerEmail, orders.DevDashboardPassword),
		"the development account does not sign in outside dev mode")
	assert.Equal(t, http.StatusSeeOther, signIn(t, browser, prodSrv.URL, "ana@example.com", "a long real password"),
		"a real account still does")
}

// The dev account's published password is shown at start-up, where make run's user finds
// it; one the operator chose is not printed (a probe found it in the log).
func TestStartUpShowsOnlyThePublishedDevPassword(t *testing.T) {
	pool := pgtest.Pool(t)
	for password, shown := range map[string]bool{"": true, "my-own-Secret-pw-77": false} {
		var logged strings.Builder
		env := map[string]string{"DEV_MODE": "1", "DASHBOARD_DEV_PASSWORD": password}
		_, err := hosttest.Started(context.Background(), orders.Build, pool, slog.New(slog.NewTextHandler(&logged, nil)), host.EnvOf(env))
		require.NoError(t, err)
		assert.Contains(t, logged.String(), "dashboard sign-in: "+orders.DevManagerEmail)
		assert.Equal(t, shown, strings.Contains(logged.String(), orders.DevDashboardPassword), "%q", password)
		if password != "" {
			assert.NotContains(t, logged.String(), password)
		}
	}
}

// Outside dev mode a service without a mail server says so at start: each email was only
// logged at info level, as "recorded, not sent" (a probe); and a dev-only setting given.
func TestAProductionStartWithoutAMailServerSaysSo(t *testing.T) {
	for _, c := range []struct {
		env    map[string]string
		warned bool
	}{
		{productionEnv, true},
		{devEnv, false},
		{withVar(productionEnv, "SMTP_URL", "smtp://mail.example:587"), false},
	} {
		var logged strings.Builder
		_, err := orders.Build(slog.New(slog.NewTextHandler(&logged, nil)), host.EnvOf(c.env))
		require.NoError(t, err)
		assert.Equal(t, c.warned, strings.Contains(logged.String(), "SMTP_URL is unset: no email is sent"), "%v", c.env["SMTP_URL"])
	}
	// Nor does a dev-only setting go unremarked outside dev mode.
	var logged strings.Builder
	_, err := orders.Build(slog.New(slog.NewTextHandler(&logged, nil)), host.EnvOf(withVar(productionEnv, "DASHBOARD_DEV_PASSWORD", "my-own-Secret-pw-77")))
	require.NoError(t, err)
	assert.Contains(t, logged.String(), "DASHBOARD_DEV_PASSWORD is read in dev mode only: ignored")
}

func withVar(env map[string]string, key, value string) map[string]string {
	out := maps.Clone(env)
	out[key] = value
	return out
}

// --help and the README list every variable the orders service reads, in dev mode and out.
func TestVariablesAreDocumented(t *testing.T) {
	pool := pgtest.Pool(t)
	hosttest.DocumentedVars(t, "../../README.md", append(host.ProcessVars(3001), orders.Vars...), func(env host.Env) {
		_, _ = hosttest.Started(context.Background(), orders.Build, pool, slog.New(slog.DiscardHandler), env)
	}, devEnv, productionEnv)
}
