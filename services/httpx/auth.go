package httpx

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// BearerToken returns the token of r's "Authorization: Bearer <token>" header. The scheme
// is matched without regard to case, as RFC 7235 asks; a missing header, another scheme or
// an empty token is no token.
func BearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// TokenEqual compares a presented credential with the expected one in constant time, so
// response times do not leak how much of a guess was right. An empty want matches
// nothing: a credential left unset can never be presented.
func TokenEqual(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
