package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ordermill/ordermill/services/httpx"
)

// A path nothing serves, or a method its path is not served for, is answered in the JSON
// error every other answer uses; a matched route still gets its path values.
func TestMuxAnswersUnservedRequestsInJSON(t *testing.T) {
	mux := httpx.NewMux()
	mux.HandleFunc("GET /api/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("POST /api/orders", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	serve := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}

	rec := serve(http.MethodGet, "/api/nothing")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	got := decodeError(t, rec)
	assert.Equal(t, "not_found", got.Code)
	assert.Equal(t, "nothing is served at /api/nothing", got.Message)

	rec = serve(http.MethodPut, "/api/orders")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "POST", rec.Header().Get("Allow"))
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	got = decodeError(t, rec)
	assert.Equal(t, "invalid", got.Code)
	assert.Equal(t, "PUT is not allowed on /api/orders; allowed: POST", got.Message)

	rec = serve(http.MethodGet, "/api/orders/o-1")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"id":"o-1"}`, rec.Body.String())
	assert.Equal(t, http.StatusCreated, serve(http.MethodPost, "/api/orders").Code)
}
