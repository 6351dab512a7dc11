package host_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/httpx"
)

// muxService serves POST /api/things on an httpx.Mux, as every service builds its routes.
type muxService struct{}

func (muxService) Handler() http.Handler {
	mux := httpx.NewMux()
	mux.HandleFunc("POST /api/things", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	return mux
}

func (muxService) RegisterConsumers(*eventstore.Log, *message.Router) error { return nil }

func (muxService) OpenAPI() []byte { return testDocument }

// send answers method target on base with its status, Allow header and error body.
func send(t *testing.T, method, target string) (int, string, httpx.ErrorDetail) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var body httpx.ErrorBody
	if resp.StatusCode >= 400 {
		require.NoError(t, json.Unmarshal(raw, &body), "%s %s: %s", method, target, raw)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s", method, target)
	}
	return resp.StatusCode, resp.Header.Get("Allow"), body.Error
}

// The process's own routes answer a wrong method as the service's routes do: 405, with
// Allow and the JSON error, not a 404 saying nothing is served there.
func TestBuiltInRoutesAnswerAWrongMethodWith405(t *testing.T) {
	base := "http://" + serve(t, muxService{}, host.Options{})
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		for _, method := range []string{http.MethodPost, http.MethodOptions, http.MethodDelete} {
			status, allow, e := send(t, method, base+path)
			assert.Equal(t, http.StatusMethodNotAllowed, status, "%s %s", method, path)
			assert.Equal(t, "GET, HEAD", allow, "%s %s", method, path)
			assert.Equal(t, "invalid", e.Code, "%s %s", method, path)
			assert.Equal(t, method+" is not allowed on "+path+"; allowed: GET, HEAD", e.Message)
		}
		status, _, _ := send(t, http.MethodGet, base+path)
		assert.Equal(t, http.StatusOK, status, "GET %s", path)
	}
	// The service's paths are still the service's.
	status, _, _ := send(t, http.MethodPost, base+"/api/things")
	assert.Equal(t, http.StatusCreated, status)
	status, allow, _ := send(t, http.MethodGet, base+"/api/things")
	assert.Equal(t, http.StatusMethodNotAllowed, status)
	assert.Equal(t, "POST", allow)
	status, _, e := send(t, http.MethodGet, base+"/nothing")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "nothing is served at /nothing", e.Message)
}

// Requests no route serves, a 404 or a 405 of the service's or of the host's, are counted
// under route="unmatched", as the metric's help says, never under the catch-all's "/"
// nor anything the request named.
func TestRequestsNoRouteServesAreCountedAsUnmatched(t *testing.T) {
	base := "http://" + serve(t, muxService{}, host.Options{})
	send(t, http.MethodGet, base+"/nothing/here")
	send(t, http.MethodGet, base+"/api/things")
	send(t, http.MethodPost, base+"/healthz")
	send(t, http.MethodPost, base+"/api/things")

	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var counted []string
	for line := range strings.Lines(string(raw)) {
		if strings.HasPrefix(line, "ordermill_http_requests_total{") {
			series, _, _ := strings.Cut(line, "} ")
			counted = append(counted, series+"}")
		}
	}
	assert.Contains(t, counted, `ordermill_http_requests_total{route="unmatched",status="404"}`)
	assert.Contains(t, counted, `ordermill_http_requests_total{route="unmatched",status="405"}`)
	assert.Contains(t, counted, `ordermill_http_requests_total{route="POST /api/things",status="201"}`)
	for _, c := range counted {
		assert.NotContains(t, c, `route="/"`)
		assert.NotContains(t, c, "nothing")
		assert.NotContains(t, c, `route="/healthz"`)
	}
}

// The OpenAPI document may be cached, but only revalidated: an upgrade changes it under the
// same address, and a client asking with its ETag gets a 304 while it is unchanged.
func TestOpenAPIDocumentIsRevalidatedByETag(t *testing.T) {
	base := "http://" + serve(t, muxService{}, host.Options{})
	resp, err := http.Get(base + "/openapi.json")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	etag := resp.Header.Get("ETag")
	require.Regexp(t, `^"[0-9a-f]{32}"$`, etag)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(body, &doc))
	assert.Contains(t, doc, "paths")

	req, err := http.NewRequest(http.MethodGet, base+"/openapi.json", nil)
	require.NoError(t, err)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)

	req.Header.Set("If-None-Match", `"something-else", W/`+etag)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotModified, resp.StatusCode, "a list, compared weakly")

	req.Header.Set("If-None-Match", `"something-else"`)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// The document is served whole, whatever Range asks: its contract lists 200 and 304 only
// (http.ServeContent answered 206, and 416 in text for a range past its end).
func TestOpenAPIDocumentIgnoresRange(t *testing.T) {
	base := "http://" + serve(t, muxService{}, host.Options{})
	get := func(ranges string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodGet, base+"/openapi.json", nil)
		require.NoError(t, err)
		if ranges != "" {
			req.Header.Set("Range", ranges)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}
	_, whole := get("")
	for _, ranges := range []string{"bytes=0-9", "bytes=99999999-"} {
		resp, body := get(ranges)
		assert.Equal(t, http.StatusOK, resp.StatusCode, ranges)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), ranges)
		assert.Empty(t, resp.Header.Get("Accept-Ranges"), ranges)
		assert.Equal(t, whole, body, ranges)
	}
}
