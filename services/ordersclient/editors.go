package ordersclient

import (
	"context"
	"net/http"
)

// WithHeader sets one header on a request of the client: a credential, an idempotency key.
func WithHeader(name, value string) RequestEditorFn {
	return WithHeaders(http.Header{http.CanonicalHeaderKey(name): {value}})
}

// WithHeaders sets headers on a request of the client: a credential, a signature.
func WithHeaders(h http.Header) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		for k, v := range h {
			req.Header[k] = v
		}
		return nil
	}
}
