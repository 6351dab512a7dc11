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

// A path registered without wildcards is served for its methods alone: another method is
// a 405 naming them, never the route whose wildcard the path also matches (GET
// /api/orders/approve was the order "approve", and PUT was told GET, HEAD and POST).
func TestMuxServesAFixedPathForItsMethodsOnly(t *testing.T) {
	mux := httpx.NewMux()
	mux.HandleFunc("GET /api/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("POST /api/orders/approve", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /api/orders/export", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	serve := func(method, path string) (*httptest.ResponseRecorder, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, nil)
		mux.ServeHTTP(rec, req)
		return rec, httpx.Route(req)
	}

	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete} {
		rec, route := serve(method, "/api/orders/approve")
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, method)
		assert.Equal(t, "POST", rec.Header().Get("Allow"), method)
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"), method)
		assert.Empty(t, route, method)
	}
	rec, _ := serve(http.MethodGet, "/api/orders/approve")
	assert.Equal(t, "GET is not allowed on /api/orders/approve; allowed: POST", decodeError(t, rec).Message)
	rec, route := serve(http.MethodPost, "/api/orders/approve")
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, "POST /api/orders/approve", route)
	rec, _ = serve(http.MethodPost, "/api/orders/export")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
	rec, _ = serve(http.MethodHead, "/api/orders/export")
	assert.Equal(t, http.StatusNoContent, rec.Code)
	rec, _ = serve(http.MethodGet, "/api/orders/o-1")
	assert.JSONEq(t, `{"id":"o-1"}`, rec.Body.String())
}

// A path that is not clean is a 404 in JSON: http.ServeMux redirected it to the cleaned
// path with an HTML body, which a client of a JSON API does not follow.
func TestMuxAnswersAnUncleanPathWithoutARedirect(t *testing.T) {
	mux := httpx.NewMux()
	mux.HandleFunc("GET /api/orders/{id}/events", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /api/orders", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, path := range []string{"/api/orders//events", "/api//orders", "/api/./orders", "/api/x/../orders", "//api/orders", "/api/orders/."} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, http.StatusNotFound, rec.Code, path)
		assert.Empty(t, rec.Header().Get("Location"), path)
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"), path)
		assert.Equal(t, "not_found", decodeError(t, rec).Code, path)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/orders/o-1/events", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
}

// A dot segment sent escaped is a segment's value, which the route's handler judges: as
// an id it is refused 400 naming the wildcard (PathID), where the Mux answered 404 for a
// path not clean. Sent as it is, it is still that 404.
func TestMuxRoutesAnEscapedDotSegmentToItsHandler(t *testing.T) {
	mux := httpx.NewMux()
	mux.HandleFunc("GET /api/orders/{id}/events", func(w http.ResponseWriter, r *http.Request) {
		if _, err := httpx.PathID(r, "id"); err != nil {
			httpx.WriteError(w, r, nil, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	for _, path := range []string{"/api/orders/%2E/events", "/api/orders/%2e%2E/events"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, http.StatusBadRequest, rec.Code, path)
		e := decodeError(t, rec)
		assert.Equal(t, "id", e.Field, path)
		assert.Contains(t, e.Message, `must not be "." or ".."`, path)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/orders/../events", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}
