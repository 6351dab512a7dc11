package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/services/httpx"
)

// notExercised are the documented answers this test cannot provoke from a healthy
// system, by operationId and status, each with where it is shown instead.
var notExercised = map[string]map[string]string{
	// Five scrapes waiting behind a slow one: a scrape of a healthy system is too quick.
	"metrics": {"503": "eventstore/metrics TestScrapesRunOneAtATimeAndAFewWaitTheirTurn"},
	// Every operation's: a body that stalls for the read timeout (30 s).
	"*": {"408": "services/host TestServeClosesAConnectionWhoseBodyStalls"},
}

// exchange is one checked request's answer.
type exchange struct {
	body string
}

// caller sends checked requests.
type caller struct {
	c *http.Client
}

// want sends a request and requires the status.
func (c caller) want(t *testing.T, status int, method, target string, body any, header http.Header) exchange {
	t.Helper()
	got, e := c.send(t, method, target, body, header)
	require.Equal(t, status, got, "%s %s: %s", method, target, e.body)
	return e
}

// send sends a request: a body other than a string, bytes or a form is sent as JSON.
func (c caller) send(t *testing.T, method, target string, body any, header http.Header) (int, exchange) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = strings.NewReader(string(b))
	case url.Values:
		r = strings.NewReader(b.Encode())
		if header == nil {
			header = http.Header{}
		}
		header.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		r = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, target, r)
	require.NoError(t, err)
	if _, ok := body.(url.Values); !ok && r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, exchange{body: string(raw)}
}

func (e exchange) json(t *testing.T, out any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(e.body), out), e.body)
}

// csrf is the CSRF token of the page's first form.
func (e exchange) csrf(t *testing.T) string {
	t.Helper()
	return formPage{body: e.body}.csrfToken(t)
}

// contractRun is what the parts of TestEveryAnswerMatchesTheServicesOpenAPIDocument share.
type contractRun struct {
	s       *system
	cs      *contracts
	api     caller
	logger  *slog.Logger // of the extra services a part starts on the system's data
	svc     http.Header  // the orders service's credential
	none    string       // an id no service knows
	tooLong string       // an id longer than any a service takes
}

// The business case's services integrate through their OpenAPI documents (issue 10): every
// route a service's process serves is in its document, and real answers of every
// documented operation, successes and errors, match it.
func TestEveryAnswerMatchesTheServicesOpenAPIDocument(t *testing.T) {
	s := start(t, defaultOptions())
	cs := s.loadContracts(t)
	for _, c := range cs.byHost {
		c.checkRoutes(t, s.routes[c.name])
	}
	r := &contractRun{s: s, cs: cs, api: caller{cs.client(t)}, logger: slog.New(slog.DiscardHandler), svc: bearer(ordersServiceToken),
		none: uuid.NewString(), tooLong: strings.Repeat("x", 129)}
	r.readiness(t)
	p := r.ordersAPI(t)
	r.paymentsAPI(t, p)
	late := r.paymentWebhook(t)
	r.deliveryAPI(t, late)
	r.deliveryWebhook(t, p, late)
	r.warehouseAPI(t)
	r.dashboard(t, p)
	r.unavailable(t)
	r.tooLarge(t)
	r.unsupportedMediaType(t)
	for _, base := range s.bases() {
		c := cs.byHost[hostOf(t, base)]
		c.checkExercised(t, notExercised)
	}
}

// readiness checks every service's health, readiness, metrics and document, and its
// readiness with a schema behind its binary.
func (r *contractRun) readiness(t *testing.T) {
	t.Helper()
	s, api := r.s, r.api
	ctx := context.Background()
	for _, base := range s.bases() {
		api.want(t, http.StatusOK, "GET", base+"/healthz", nil, nil)
		api.want(t, http.StatusOK, "GET", base+"/readyz", nil, nil)
		api.want(t, http.StatusOK, "GET", base+"/metrics", nil, nil)
		api.want(t, http.StatusOK, "GET", base+"/openapi.json", nil, nil)
		resp, err := api.c.Get(base + "/openapi.json")
		require.NoError(t, err)
		resp.Body.Close()
		api.want(t, http.StatusNotModified, "GET", base+"/openapi.json", nil, http.Header{"If-None-Match": {resp.Header.Get("ETag")}})
	}
	// A schema behind the binaries (the newest migration undone in the books): every
	// service is not ready, and says why in the document's shape.
	var newest int64
	var applied bool
	var at time.Time
	require.NoError(t, s.db.QueryRow(ctx, `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)
		RETURNING version_id, is_applied, tstamp`).Scan(&newest, &applied, &at))
	for _, base := range s.bases() {
		var h struct{ Checks map[string]string }
		api.want(t, http.StatusServiceUnavailable, "GET", base+"/readyz", nil, nil).json(t, &h)
		assert.Contains(t, h.Checks["migrations"], "this binary needs", base)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES ($1, $2, $3)`, newest, applied, at)
	require.NoError(t, err)
	for _, base := range s.bases() {
		api.want(t, http.StatusOK, "GET", base+"/readyz", nil, nil)
	}
}

// hostOf is the host:port of a base URL.
func hostOf(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err)
	return u.Host
}

// mustProviderPayment is the provider's report of the order's payment, as event eventID.
func (s *system) mustProviderPayment(t *testing.T, id, eventID string) any {
	t.Helper()
	wh, err := s.providerPayment(t.Context(), id, eventID, "completed", "pay-"+id)
	require.NoError(t, err)
	return wh
}

// tooLarge sends every operation that takes a body (JSON, or a dashboard form) one larger
// than any service reads: a 413 before the body is read, whatever the credentials (it was
// documented in prose only, and the client had no answer for it: a probe; the dashboard's
// forms answered it undocumented: a review).
func (r *contractRun) tooLarge(t *testing.T) {
	t.Helper()
	huge := strings.Repeat(" ", httpx.MaxBody+1)
	r.eachBodyOperation(t, func(method, target, mediaType string) {
		r.api.want(t, http.StatusRequestEntityTooLarge, method, target, huge, http.Header{"Content-Type": {mediaType}})
	})
}

// unsupportedMediaType sends every operation that takes a body one labelled as something
// else: a 415 before the body is read, whatever the credentials (every label was read as
// JSON, and an order sent as text/plain was placed: a probe).
func (r *contractRun) unsupportedMediaType(t *testing.T) {
	t.Helper()
	r.eachBodyOperation(t, func(method, target, _ string) {
		r.api.want(t, http.StatusUnsupportedMediaType, method, target, `{}`, http.Header{"Content-Type": {"text/plain"}})
	})
}

// eachBodyOperation calls f with the method, a target and the media type of every
// documented operation of every service that takes a JSON body or a form.
func (r *contractRun) eachBodyOperation(t *testing.T, f func(method, target, mediaType string)) {
	t.Helper()
	for _, base := range r.s.bases() {
		c := r.cs.byHost[hostOf(t, base)]
		for p, item := range c.doc.Paths.Map() {
			for method, op := range item.Operations() {
				if op.RequestBody == nil {
					continue
				}
				for _, mediaType := range []string{"application/json", "application/x-www-form-urlencoded"} {
					if op.RequestBody.Value.Content.Get(mediaType) != nil {
						f(method, base+regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(p, "x"), mediaType)
						break
					}
				}
			}
		}
	}
}
