package host

import (
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/services/httpx"
)

// recovered answers a request whose handler panicked with the 500 JSON error every other
// failure gets, and logs the panic with its stack. Without it net/http closes the
// connection with no answer at all, and the request is missing from the metrics: a client
// cannot tell a bug from a network fault. A panic after the answer began can only end the
// connection (http.ErrAbortHandler, which net/http does not log again).
func recovered(logger *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := w.(*statusRecorder) // traced's, which sees every byte written under it
		if !ok {
			rec = &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { // net/http panics with this very value
				panic(v)
			}
			logger.ErrorContext(r.Context(), "request panicked", "method", r.Method, "path", r.URL.Path,
				"panic", v, "stack", string(debug.Stack()))
			if rec.wrote {
				panic(http.ErrAbortHandler)
			}
			httpx.WriteJSON(rec, http.StatusInternalServerError, httpx.ErrorBody{Error: httpx.ErrorDetail{
				Code: string(apperr.CodeInternal), Message: "internal error",
			}})
		}()
		h.ServeHTTP(rec, r)
	})
}
