package httpx

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/ordermill/ordermill/domain/apperr"
)

// Tokens maps each identity allowed in (a calling service's name, a manager's email) to
// the bearer token it presents. One token per identity, so that a leaked token is revoked
// alone and every request can say who made it.
type Tokens map[string]string

// Identify returns the identity whose token r presents as "Authorization: Bearer <token>".
// Every token is compared, in constant time and without stopping at a match, so the
// answer's timing tells nothing about which token a guess came close to. An empty token
// identifies nobody.
func (t Tokens) Identify(r *http.Request) (string, bool) {
	got, ok := BearerToken(r)
	if !ok {
		return "", false
	}
	who, found := "", false
	for identity, want := range t {
		if TokenEqual(got, want) && !found {
			who, found = identity, true
		}
	}
	return who, found
}

// callerKey is the context key under which RequireToken records who called.
type callerKey struct{}

// RequireToken lets through only requests that present one of tokens, and records who
// called for the handler (Caller); any other request gets 401 with the JSON error body and
// a Bearer challenge. With no tokens every request is refused: a procedure nobody was given
// a token for is closed, not open.
func RequireToken(tokens Tokens, logger *slog.Logger, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, ok := tokens.Identify(r)
		if !ok {
			WriteError(w, r, logger, apperr.Errorf(apperr.CodeUnauthorized,
				"this procedure is internal: the calling service must send its token as Authorization: Bearer <token>"))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, who)))
	}
}

// Caller names the identity RequireToken let in, or "" for a request it did not guard.
func Caller(ctx context.Context) string {
	who, _ := ctx.Value(callerKey{}).(string)
	return who
}
