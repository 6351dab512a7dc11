package httpx

import (
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
)

// Mux is an http.ServeMux that remembers the patterns registered on it, so what a service
// serves can be listed and held against its OpenAPI document (services/e2e checks that
// every pattern is documented). A request none of them serves gets the JSON error every
// other answer uses, not http.ServeMux's text or redirect:
//   - a path registered without wildcards is served for its methods only: another method
//     is a 405 naming them, never a route whose wildcard the path also matches (GET
//     /api/orders/approve was served as the order "approve" of GET /api/orders/{id});
//   - a path that is not clean (an empty segment, "." or "..") is a 404, where
//     http.ServeMux redirected to the cleaned path with an HTML body: a client of a JSON
//     API follows no such redirect, and a POST's body is lost on a 301. A dot segment
//     sent escaped (%2E) is a segment's value, not a step up or aside: it is routed as
//     http.ServeMux routes it, and the route's handler refuses it as an id (limits.ID), 400
//     naming the wildcard, as any other bad id in a path. It was a 404 saying the path
//     was not clean, where "/api/orders/%00" and an id too long are a 400.
type Mux struct {
	mux      http.ServeMux // the routes, and catchAll for a request none of them serves
	routes   http.ServeMux // the routes alone, asked only about unserved requests
	next     http.Handler  // what serves a request for a path none of the routes serves; nil: 404
	paths    map[string]bool
	fixed    map[string][]string // a path without wildcards → the methods it is served for
	patterns []string
	pages    []pages
}

// pages answers the requests no route serves under a path prefix (AnswerUnservedUnder).
type pages struct {
	prefix string
	answer Answer
}

// Answer writes a refusal with status and message, in whatever form the requests it is
// given want (an HTML page for a person's browser).
type Answer func(w http.ResponseWriter, r *http.Request, status int, message string)

// AnswerUnservedUnder has answer write the 404s and 405s of the requests under prefix that
// no route serves, with the status and message the Mux would send as JSON (a 405's Allow
// header set first): a manager's browser that mistypes a dashboard address gets the
// dashboard's error page, not the API's JSON (a probe).
func (m *Mux) AnswerUnservedUnder(prefix string, answer Answer) {
	m.pages = append(m.pages, pages{prefix: prefix, answer: answer})
}

// catchAll is the pattern of the route that answers the requests no registered route
// serves; as it is taken, no service can register it.
const catchAll = "/"

// NewMux returns a Mux with no routes.
func NewMux() *Mux { return NewMuxOver(nil) }

// NewMuxOver returns a Mux with no routes that hands the requests whose path none of its
// routes serves to next (404 when next is nil). A request for a path its routes serve,
// with a method they are not served for, is still its own: 405 with Allow, as NewMux's.
// A process puts its own routes (/healthz, /metrics) over its service's Mux with it.
//
// A request for another path goes to next at once, with nothing asked first: every request
// of a service passes through its process's Mux. For the wrong methods on its own paths
// with wildcards, each is registered once more without a method (Handle), which answers
// 405; a path without wildcards is answered so by every Mux (ServeHTTP).
func NewMuxOver(next http.Handler) *Mux {
	m := &Mux{next: next, paths: map[string]bool{}, fixed: map[string][]string{}}
	if next == nil {
		m.mux.HandleFunc(catchAll, m.unserved)
	} else {
		m.mux.Handle(catchAll, next)
	}
	return m
}

// Handle registers h for pattern, as http.ServeMux.Handle does.
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.mux.Handle(pattern, h)
	m.routes.Handle(pattern, h)
	m.patterns = append(m.patterns, pattern)
	method, path, ok := strings.Cut(pattern, " ")
	switch {
	case !ok || method == "":
	case !strings.ContainsAny(path, "{") && !strings.HasSuffix(path, "/"):
		m.fixed[path] = append(m.fixed[path], method)
		if method == http.MethodGet {
			m.fixed[path] = append(m.fixed[path], http.MethodHead) // as http.ServeMux serves it
		}
		slices.Sort(m.fixed[path])
	case m.next != nil && !m.paths[path]:
		m.paths[path] = true
		m.mux.HandleFunc(path, m.unserved) // the path at any other method: 405, not next's 404
	}
}

// HandleFunc registers h for pattern, as http.ServeMux.HandleFunc does.
func (m *Mux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// ServeHTTP dispatches r to the handler whose pattern matches it best, but for a path
// without wildcards asked for with another method, and a path that is not clean (see Mux).
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if methods, ok := m.fixed[r.URL.Path]; ok && !slices.Contains(methods, r.Method) {
		r.Pattern = catchAll
		m.notAllowed(w, r, strings.Join(methods, ", "))
		return
	}
	if !clean(r.URL.EscapedPath()) {
		r.Pattern = catchAll
		m.notFound(w, r, " (paths are not cleaned: no empty segment, \".\" or \"..\")")
		return
	}
	m.mux.ServeHTTP(w, r)
}

// clean reports whether p is as http.ServeMux would clean it, which redirects any other
// path to its clean form.
func clean(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// Route is the pattern of the route that served r, once a Mux has served it, or "" when
// none did (a 404 or 405, answered by the Mux itself): never anything taken from the
// request.
func Route(r *http.Request) string {
	if r.Pattern == catchAll {
		return ""
	}
	return r.Pattern
}

// Patterns lists the registered patterns ("GET /api/orders/{id}"), in registration order.
func (m *Mux) Patterns() []string { return slices.Clone(m.patterns) }

// unserved answers a request no route serves: 405 (code invalid) with the Allow header
// when its path is served for other methods, which the routes alone tell, otherwise 404
// not_found. Either way the request counts as served by no route (Route).
func (m *Mux) unserved(w http.ResponseWriter, r *http.Request) {
	r.Pattern = catchAll
	h, _ := m.routes.Handler(r)
	probe := statusProbe{header: http.Header{}}
	h.ServeHTTP(&probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		m.notAllowed(w, r, probe.header.Get("Allow"))
		return
	}
	m.notFound(w, r, "")
}

// notAllowed answers 405 (code invalid) with Allow.
func (m *Mux) notAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	m.refuse(w, r, http.StatusMethodNotAllowed, apperr.CodeInvalid,
		fmt.Sprintf("%s is not allowed on %s; allowed: %s", apperr.Excerpt(r.Method), apperr.Excerpt(r.URL.Path), allow))
}

// notFound answers 404 (code not_found), its message ending with why.
func (m *Mux) notFound(w http.ResponseWriter, r *http.Request, why string) {
	m.refuse(w, r, http.StatusNotFound, apperr.CodeNotFound, "nothing is served at "+apperr.Excerpt(r.URL.Path)+why)
}

// refuse writes the refusal of a request no route serves: the JSON error, or the answer
// of the pages the request's path is under.
func (m *Mux) refuse(w http.ResponseWriter, r *http.Request, status int, code apperr.Code, message string) {
	if answer := m.pageAnswer(r.URL.Path); answer != nil {
		answer(w, r, status, message)
		return
	}
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: string(code), Message: message}})
}

// Refusals returns what writes a refusal of a request before any route has it (ValidInput):
// the answer of the pages its path is under, here or in the Mux this one is over
// (NewMuxOver), else WriteError's JSON. A dashboard address carrying a NUL in its query got
// the API's JSON in a manager's browser (a probe).
func (m *Mux) Refusals(logger *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		if answer := m.pageAnswer(r.URL.Path); answer != nil {
			answer(w, r, Status(apperr.ErrorCode(err)), apperr.ErrorMessage(err))
			return
		}
		WriteError(w, r, logger, err)
	}
}

// pageAnswer is the answer of the pages path is under, here or in the Mux this one is over.
func (m *Mux) pageAnswer(path string) Answer {
	for _, p := range m.pages {
		if strings.HasPrefix(path, p.prefix) {
			return p.answer
		}
	}
	if over, ok := m.next.(*Mux); ok {
		return over.pageAnswer(path)
	}
	return nil
}

// statusProbe records the status and headers http.ServeMux's own not-found and
// method-not-allowed handlers answer with, and drops their text.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }

func (p *statusProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func (p *statusProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}
