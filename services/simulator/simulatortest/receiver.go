// Package simulatortest holds what the simulators' tests share: a stand-in for the orders
// service's webhook endpoint.
package simulatortest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// Receiver plays the orders service's webhook endpoint at Path: it checks the signature
// with Verify, as the orders service must, decodes the body strictly as a T and records
// it, answering Status (202 Accepted when zero). A webhook refused for its signature (401)
// or its body (400) is recorded among the errors.
type Receiver[T any] struct {
	Path   string
	Verify func(body []byte, header http.Header) error
	Status int

	mu     sync.Mutex
	bodies []T
	errs   []error
}

func (o *Receiver[T]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != o.Path {
		http.NotFound(w, r)
		return
	}
	if err := o.Verify(body, r.Header); err != nil {
		o.errs = append(o.errs, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var wh T
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wh); err != nil {
		o.errs = append(o.errs, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	o.bodies = append(o.bodies, wh)
	w.WriteHeader(cmp.Or(o.Status, http.StatusAccepted))
	_, _ = io.WriteString(w, `{"ok":true}`)
}

// Received returns the webhooks accepted and the errors of those refused, so far.
func (o *Receiver[T]) Received() ([]T, []error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]T(nil), o.bodies...), append([]error(nil), o.errs...)
}
