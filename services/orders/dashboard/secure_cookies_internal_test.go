package dashboard

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A session cookie is Secure over TLS, with COOKIE_SECURE, and behind a proxy that says
// the request came over HTTPS: without COOKIE_SECURE it went out without Secure behind a
// TLS-ending proxy. Plain HTTP without any of them stays as it is (make run's dashboard).
func TestCookiesAreSecureWhereverTheRequestCameOverHTTPS(t *testing.T) {
	request := func(tlsOn bool, proto string) *http.Request {
		r := httptest.NewRequest("GET", "http://shop.example/dashboard", nil)
		if tlsOn {
			r.TLS = &tls.ConnectionState{}
		}
		if proto != "" {
			r.Header.Set("X-Forwarded-Proto", proto)
		}
		return r
	}
	plain, configured := &Service{}, &Service{cfg: Config{CookieSecure: true}}
	for _, c := range []struct {
		name string
		s    *Service
		r    *http.Request
		want bool
	}{
		{"plain HTTP", plain, request(false, ""), false},
		{"over TLS", plain, request(true, ""), true},
		{"behind a proxy that says HTTPS", plain, request(false, "HTTPS"), true},
		{"behind a proxy that says HTTP", plain, request(false, "http"), false},
		{"COOKIE_SECURE=1", configured, request(false, ""), true},
	} {
		if got := c.s.secureCookies(c.r); got != c.want {
			t.Errorf("%s: Secure %v, want %v", c.name, got, c.want)
		}
	}
}
