package httpx

import (
	"net/http"
	"slices"
)

// Mux is an http.ServeMux that remembers the patterns registered on it, so what a service
// serves can be listed and held against its OpenAPI document (services/e2e checks that
// every pattern is documented).
type Mux struct {
	mux      http.ServeMux
	patterns []string
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{} }

// Handle registers h for pattern, as http.ServeMux.Handle does.
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.mux.Handle(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

// HandleFunc registers h for pattern, as http.ServeMux.HandleFunc does.
func (m *Mux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// ServeHTTP dispatches r to the handler whose pattern matches it best.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }

// Patterns lists the registered patterns ("GET /api/orders/{id}"), in registration order.
func (m *Mux) Patterns() []string { return slices.Clone(m.patterns) }
