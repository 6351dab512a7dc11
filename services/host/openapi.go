package host

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// common is the part of every service's OpenAPI document the host owns: the routes it
// serves itself and the components every service shares (the error shape, the service
// token).
//
//go:embed openapi.json
var common []byte

// Document is the OpenAPI document a process running svc serves at GET /openapi.json
// (the input of the services' generated clients).
func Document(svc Service) ([]byte, error) { return document(svc.OpenAPI()) }

// document is the service's own OpenAPI document (Service.OpenAPI) with the host's routes
// and shared components added. A path or component both define is an error, so neither
// silently replaces the other.
func document(service []byte) ([]byte, error) {
	var doc, host map[string]any
	if err := json.Unmarshal(service, &doc); err != nil {
		return nil, fmt.Errorf("service OpenAPI document: %w", err)
	}
	if err := json.Unmarshal(common, &host); err != nil {
		return nil, fmt.Errorf("host OpenAPI document: %w", err)
	}
	paths, err := merge(doc["paths"], host["paths"], "paths")
	if err != nil {
		return nil, err
	}
	doc["paths"] = paths
	components, _ := doc["components"].(map[string]any)
	if components == nil {
		components = map[string]any{}
	}
	for kind, entries := range host["components"].(map[string]any) {
		if components[kind], err = merge(components[kind], entries, "components."+kind); err != nil {
			return nil, err
		}
	}
	doc["components"] = components
	return json.Marshal(doc)
}

// merge adds the entries of from to into, refusing a name both hold.
func merge(into, from any, where string) (map[string]any, error) {
	out, _ := into.(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for name, v := range from.(map[string]any) {
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("OpenAPI document: %s.%s is the host's: remove it from the service's document", where, name)
		}
		out[name] = v
	}
	return out, nil
}

// route is one of the routes a process serves besides its service's.
type route struct {
	pattern string
	handler http.Handler
}

// ownRoutes are the routes every process serves itself, the one list Serve registers and
// Routes reports.
func ownRoutes(metrics, ready, doc http.Handler) []route {
	return []route{
		{"GET /metrics", metrics},
		{"GET /healthz", http.HandlerFunc(alive)},
		{"GET /readyz", ready},
		{"GET /openapi.json", doc},
	}
}

// Routes lists every pattern a process running svc serves: the host's own and the
// service's, whose Handler must be an *httpx.Mux (or anything else that lists its
// patterns) so that nothing it serves goes unlisted.
func Routes(svc Service) ([]string, error) {
	h, ok := svc.Handler().(interface{ Patterns() []string })
	if !ok {
		return nil, errors.New("the service's handler does not list its patterns: build it with httpx.NewMux")
	}
	var out []string
	for _, r := range ownRoutes(nil, nil, nil) {
		out = append(out, r.pattern)
	}
	return slices.Concat(out, h.Patterns()), nil
}

// serveDocument answers with the process's OpenAPI document. It is public and the same
// for every caller, so a cache may keep it, but must ask again each time (no-cache): an
// upgrade changes it under the same address. The ETag is the document's hash, so a
// client or proxy that asks with If-None-Match gets a 304 until it changes. It is always
// whole: a Range is not served (http.ServeContent answered 206, or 416 in text, which the
// document does not say).
func serveDocument(doc []byte) http.Handler {
	sum := sha256.Sum256(doc)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", etag)
		if matches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
		_, _ = w.Write(doc)
	})
}

// matches reports whether an If-None-Match list names etag, compared weakly (RFC 9110
// §13.1.2: W/ aside), or is "*".
func matches(list, etag string) bool {
	for tag := range strings.SplitSeq(list, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}
