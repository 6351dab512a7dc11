package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"
)

// The dashboard's pages, files and event stream are text: their bodies are checked to be
// strings, their statuses and headers in full.
func init() {
	for _, ct := range []string{"text/html", "text/css", "text/javascript", "text/event-stream"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

// contract is one service's OpenAPI document, as the service serves it, and what the
// requests checked against it exercised.
type contract struct {
	name   string
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]map[int]bool // operationId → statuses answered
}

// contracts checks every request a test sends to a service of the system, and the
// service's answer, against that service's document, through the clients it makes.
type contracts struct {
	byHost map[string]*contract
}

// loadContracts fetches and validates each service's /openapi.json.
func (s *system) loadContracts(t *testing.T) *contracts {
	t.Helper()
	cs := &contracts{byHost: map[string]*contract{}}
	for name, base := range s.bases() {
		resp, err := http.Get(base + "/openapi.json")
		require.NoError(t, err)
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", name, raw)
		doc, err := openapi3.NewLoader().LoadFromData(raw)
		require.NoError(t, err, "%s's document loads", name)
		require.Equal(t, "3.1", doc.OpenAPIMajorMinor(), "%s's document is OpenAPI 3.1", name)
		require.NoError(t, doc.Validate(context.Background()), "%s's document is valid", name)
		router, err := legacy.NewRouter(doc)
		require.NoError(t, err)
		cs.add(t, base, &contract{name: name, doc: doc, router: router, seen: map[string]map[int]bool{}})
	}
	return cs
}

// add checks the requests sent to base (a service's or another handler of the same
// service's) against c.
func (cs *contracts) add(t *testing.T, base string, c *contract) {
	t.Helper()
	cs.byHost[hostOf(t, base)] = c
}

func (s *system) bases() map[string]string {
	return map[string]string{"orders": s.orders, "payments": s.payments, "warehouse": s.warehouse, "delivery": s.delivery}
}

// client is a browserClient whose every exchange is checked: as it does not follow
// redirects, each answer is checked as the service gave it. A broken contract fails t.
func (cs *contracts) client(t *testing.T) *http.Client {
	t.Helper()
	c := browserClient(t)
	c.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) { return cs.roundTrip(t, req) })
	return c
}

// roundTripFunc is a function that is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// roundTrip sends req and checks it and its answer against the service's document: the
// route must be documented; a request the document refuses must be refused (4xx); the
// answer's status, headers and body must be documented for the operation. An event
// stream never ends, so its status and headers are checked and its body left to the caller.
func (cs *contracts) roundTrip(t *testing.T, req *http.Request) (*http.Response, error) {
	t.Helper()
	c := cs.byHost[req.URL.Host]
	if c == nil {
		return nil, fmt.Errorf("no contract for %s", req.URL.Host)
	}
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("%s: %s %s → %d", c.name, req.Method, req.URL.RequestURI(), resp.StatusCode)
	stream := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	var respBody []byte
	if !stream {
		respBody, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(respBody))
	}

	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s: the route is not documented: %v", where, err)
		return resp, nil
	}
	checked := req.Clone(req.Context())
	checked.Body = io.NopCloser(bytes.NewReader(reqBody))
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, ExcludeResponseBody: stream}
	in := &openapi3filter.RequestValidationInput{Request: checked, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil && resp.StatusCode < 400 {
		t.Errorf("%s: the service accepted a request its document refuses: %v", where, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		t.Errorf("%s: the answer breaks the document: %v\nbody: %.500s", where, err, respBody)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := route.Operation.OperationID
	if c.seen[id] == nil {
		c.seen[id] = map[int]bool{}
	}
	c.seen[id][resp.StatusCode] = true
	return resp, nil
}

// docPath is the document's path for a mux pattern's path. "/dashboard/{$}" is
// "/dashboard": OpenAPI routers do not tell a trailing slash apart, so one path describes
// both. A prefix pattern ("/dashboard/static/") is its one path parameter
// ("/dashboard/static/{file}").
func docPath(doc *openapi3.T, path string) string {
	if p, ok := strings.CutSuffix(path, "/{$}"); ok && p != "" {
		return p
	}
	if strings.HasSuffix(path, "/") && len(path) > 1 {
		for p := range doc.Paths.Map() {
			if rest, ok := strings.CutPrefix(p, path); ok && strings.HasPrefix(rest, "{") && strings.HasSuffix(rest, "}") && !strings.Contains(rest, "/") {
				return p
			}
		}
	}
	return path
}

// checkRoutes fails for every pattern the service's process serves that its document
// lacks, and for every documented operation the process does not serve.
func (c *contract) checkRoutes(t *testing.T, patterns []string) {
	t.Helper()
	served := map[string]bool{}
	for _, pattern := range patterns {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			t.Errorf("%s: pattern %q names no method: document it per method", c.name, pattern)
			continue
		}
		p := docPath(c.doc, path)
		served[method+" "+p] = true
		if item := c.doc.Paths.Value(p); item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s serves %q, which its OpenAPI document lacks", c.name, pattern)
		}
	}
	for p, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			if !served[method+" "+p] {
				t.Errorf("%s's OpenAPI document has %s %s, which the service does not serve", c.name, method, p)
			}
		}
	}
}

// checkExercised fails for every documented operation and status no exchange gave,
// except those in skip (operationId → status → why).
func (c *contract) checkExercised(t *testing.T, skip map[string]map[string]string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				if _, ok := skip[op.OperationID][status]; ok {
					continue
				}
				if _, ok := skip["*"][status]; ok {
					continue
				}
				var code int
				if _, err := fmt.Sscan(status, &code); err != nil || !c.seen[op.OperationID][code] {
					t.Errorf("%s: %s %s (%s) → %s is documented but no request of the test got it", c.name, method, p, op.OperationID, status)
				}
			}
		}
	}
	for id, statuses := range skip {
		for status := range statuses {
			var code int
			if _, err := fmt.Sscan(status, &code); err == nil && c.seen[id][code] {
				t.Errorf("%s: %s → %s is listed as not exercised, but the test got it: remove it from the list", c.name, id, status)
			}
		}
	}
}
