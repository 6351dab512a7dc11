package host

import (
	"fmt"
	"math/rand/v2"
	"net/http"

	"github.com/ordermill/ordermill/eventstore/logging"
)

// RequestIDHeader names the request id every answer carries and every log line of the
// request repeats as request_id, so a client reporting a failure ("500, X-Request-Id
// 3f…") leads to its lines whether or not traces are exported.
const RequestIDHeader = "X-Request-Id"

// identified gives each request its id: the caller's X-Request-Id when it is a plain token
// (a proxy in front that already named the request), otherwise a new random one.
func identified(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !plainRequestID(id) {
			id = fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
		}
		w.Header().Set(RequestIDHeader, id)
		h.ServeHTTP(w, r.WithContext(logging.With(r.Context(), func() []any { return []any{"request_id", id} })))
	})
}

// plainRequestID reports whether a caller's request id may be logged and echoed as it is:
// 1 to 64 letters, digits, '-', '_' or '.', so it can neither forge a log line nor grow one.
func plainRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
