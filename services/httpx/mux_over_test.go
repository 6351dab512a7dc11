package httpx_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ordermill/ordermill/services/httpx"
)

// A Mux over another handler answers a wrong method on its own paths itself, 405 with
// Allow in the JSON error, and hands every other path to the handler under it; the
// route a request was served by is the innermost pattern, and none for what only a
// catch-all answered.
func TestMuxOverAnswersAWrongMethodOnItsPathsAndHandsOnTheRest(t *testing.T) {
	service := httpx.NewMux()
	service.HandleFunc("POST /api/orders", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	outer := httpx.NewMuxOver(service)
	outer.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	serve := func(method, path string) (*httptest.ResponseRecorder, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, nil)
		outer.ServeHTTP(rec, req)
		return rec, httpx.Route(req)
	}

	for _, method := range []string{http.MethodPost, http.MethodOptions, http.MethodDelete, http.MethodPut} {
		rec, route := serve(method, "/healthz")
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, method)
		assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"), method)
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"), method)
		got := decodeError(t, rec)
		assert.Equal(t, "invalid", got.Code, method)
		assert.Equal(t, method+" is not allowed on /healthz; allowed: GET, HEAD", got.Message)
		assert.Empty(t, route, "%s /healthz has no route", method)
	}
	rec, route := serve(http.MethodGet, "/healthz")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "GET /healthz", route)
	rec, route = serve(http.MethodHead, "/healthz")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "GET /healthz", route)

	// The service's routes, and its own 404 and 405, are the service's.
	rec, route = serve(http.MethodPost, "/api/orders")
	assert.Equal(t, http.StatusCreated, rec.Code)
	assert.Equal(t, "POST /api/orders", route)
	rec, route = serve(http.MethodGet, "/api/orders")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "POST", rec.Header().Get("Allow"))
	assert.Empty(t, route)
	rec, route = serve(http.MethodGet, "/nothing")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "nothing is served at /nothing", decodeError(t, rec).Message)
	assert.Empty(t, route)
}

// A request refused before any route has it (ValidInput: a NUL in its query) gets the
// answer of the pages its path is under, in the Mux it will reach: a dashboard address got
// the API's JSON in a manager's browser (a probe). Elsewhere it is the JSON error.
func TestARefusalBeforeRoutingIsAnsweredByThePagesOfItsPath(t *testing.T) {
	service := httpx.NewMux()
	service.HandleFunc("GET /dashboard/orders", func(w http.ResponseWriter, r *http.Request) {})
	service.HandleFunc("GET /api/orders", func(w http.ResponseWriter, r *http.Request) {})
	service.AnswerUnservedUnder("/dashboard", func(w http.ResponseWriter, r *http.Request, status int, message string) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<p>" + message + "</p>"))
	})
	outer := httpx.NewMuxOver(service)
	h := httpx.ValidInput(outer.Refusals(slog.New(slog.DiscardHandler)), outer)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dashboard/orders?q=%00", nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "text/html", rec.Header().Get("Content-Type"))
	assert.Contains(t, rec.Body.String(), "must be UTF-8 text without NUL characters")

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/orders?q=%00", nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "invalid", decodeError(t, rec).Code)
}
