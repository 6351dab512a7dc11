package e2e

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/orders"
)

// Finding 6 of issue 8, as it was found: 50 wrong passwords in a row, then the right one,
// against the real orders service in production mode. The right password must not get in:
// the guesses are slowed and then locked out, and the lock says when to come back.
func TestSignInBruteForceIsThrottled(t *testing.T) {
	s := start(t, defaultOptions())
	const email, password = "ana@example.com", "a long and private passphrase"
	require.NoError(t, orders.CreateManager(context.Background(), s.db, email, password))

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.orders + "/dashboard/signin")
	require.NoError(t, err)
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	csrf, ok := doc.Find(`[data-testid=signin-form] input[name=csrf_token]`).Attr("value")
	require.True(t, ok)

	// Each answer renders the form again with a new CSRF token, as a browser would use it.
	try := func(pw string) *http.Response {
		resp, err := client.PostForm(s.orders+"/dashboard/signin", url.Values{"email": {email}, "password": {pw}, "csrf_token": {csrf}})
		require.NoError(t, err)
		defer resp.Body.Close()
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			doc, err := goquery.NewDocumentFromReader(resp.Body)
			require.NoError(t, err)
			if next, ok := doc.Find(`[data-testid=signin-form] input[name=csrf_token]`).Attr("value"); ok {
				csrf = next
			}
		}
		return resp
	}
	checked := 0
	for range 50 {
		switch st := try("wrong-password-guess").StatusCode; st {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("a wrong password got %d", st)
		}
	}
	assert.LessOrEqual(t, checked, 5, "at most five of the fifty guesses were checked")

	right := try(password)
	require.Equal(t, http.StatusTooManyRequests, right.StatusCode, "the right password after fifty guesses is not let in")
	wait, err := strconv.Atoi(right.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Positive(t, wait)
	assert.Contains(t, right.Header.Get("Content-Type"), "text/html")
	for _, c := range right.Cookies() {
		assert.NotEqual(t, "ordermill_session", c.Name, "no session was started")
	}
}
