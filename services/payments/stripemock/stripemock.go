// Package stripemock runs Stripe's own API mock, stripe-mock (a `go tool` pinned in
// go.mod), for tests. stripe-mock validates every request against Stripe's OpenAPI
// specification and answers with Stripe-shaped objects; it listens on a Unix socket of
// its own, and tests reach it through a recording proxy on a free port, so they can also
// check what was sent: parameters and idempotency keys.
package stripemock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one call the proxy passed on to stripe-mock.
type Request struct {
	Method         string
	Path           string
	IdempotencyKey string
	Form           url.Values
	Status         int
	Response       []byte // stripe-mock's answer: the object as Stripe would shape it
}

// Server is a running stripe-mock behind its recording proxy.
type Server struct {
	// URL is the API base to give a Stripe client (STRIPE_API_BASE).
	URL string

	mu       sync.Mutex
	requests []Request
	objects  map[string]map[string]any // an object's path → the fields it reads back with
}

// PaymentIntent makes the payment intent id read back (GET /v1/payment_intents/{id}) as
// one made at a Checkout Session of orderID: what Stripe would answer once a customer paid
// at a session the service opened, which stripe-mock, keeping no state, cannot. Other
// intents read back as stripe-mock's fixture, whose metadata names no order.
func (s *Server) PaymentIntent(id, orderID string) {
	s.readsBack("/v1/payment_intents/"+id, map[string]any{"id": id, "metadata": map[string]string{"order_id": orderID}})
}

// CheckoutSession makes the Checkout Session id read back (GET
// /v1/checkout/sessions/{id}) with status and paymentStatus, and paymentIntent once paid
// (empty: none), as Stripe would once the customer acted on it.
func (s *Server) CheckoutSession(id, status, paymentStatus, paymentIntent string) {
	fields := map[string]any{"id": id, "status": status, "payment_status": paymentStatus, "payment_intent": nil}
	if paymentIntent != "" {
		fields["payment_intent"] = paymentIntent
	}
	s.readsBack("/v1/checkout/sessions/"+id, fields)
}

// SessionAmount makes the Checkout Session id, registered with CheckoutSession, read back
// for amountTotal (minor units) in currency, as Stripe shows what it took.
func (s *Server) SessionAmount(id string, amountTotal int64, currency string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fields := s.objects["/v1/checkout/sessions/"+id]
	fields["amount_total"], fields["currency"] = amountTotal, currency
}

func (s *Server) readsBack(path string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[path] = fields
}

// asRegistered rewrites stripe-mock's answer to reading an object registered with
// PaymentIntent or CheckoutSession: the registered fields replace the fixture's. Expiring
// a Checkout Session registered as no longer open is refused, as Stripe refuses it.
func (s *Server) asRegistered(res *http.Response) error {
	if res.StatusCode != http.StatusOK {
		return nil
	}
	path := res.Request.URL.Path
	session, expiring := strings.CutSuffix(path, "/expire")
	if expiring && res.Request.Method == http.MethodPost {
		s.mu.Lock()
		fields, known := s.objects[session]
		s.mu.Unlock()
		if known && fields["status"] != "open" {
			_ = res.Body.Close()
			res.StatusCode, res.Status = http.StatusBadRequest, "400 Bad Request"
			return replaceBody(res, map[string]any{"error": map[string]any{"type": "invalid_request_error",
				"message": "Only Checkout Sessions with a status of `open` can be expired."}})
		}
		return nil
	}
	if res.Request.Method != http.MethodGet {
		return nil
	}
	s.mu.Lock()
	fields, known := s.objects[path]
	s.mu.Unlock()
	if !known {
		return nil
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return err
	}
	var object map[string]any
	if err := json.Unmarshal(body, &object); err != nil {
		return err
	}
	maps.Copy(object, fields)
	return replaceBody(res, object)
}

// replaceBody makes object the answer's body.
func replaceBody(res *http.Response, object map[string]any) error {
	body, err := json.Marshal(object)
	if err != nil {
		return err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// Requests returns the calls made so far whose path starts with prefix.
func (s *Server) Requests(prefix string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// Start builds (through the go command's cache) and starts stripe-mock, and stops it when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := exec.CommandContext(ctx, "go", "tool", "-n", "stripe-mock").Output()
	if err != nil {
		t.Fatalf("stripemock: build stripe-mock with `go tool -n stripe-mock`: %v", err)
	}
	// A short directory of its own: a Unix socket's path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "stripemock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "api.sock")
	cmd := exec.Command(strings.TrimSpace(string(bin)), "-http-unix", sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("stripemock: start: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// stripe-mock says when it listens; everything after that is its request log.
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		listening := false
		for sc.Scan() {
			if !listening && strings.Contains(sc.Text(), "Listening for HTTP") {
				listening = true
				ready <- true
			}
		}
		if !listening {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("stripemock: stripe-mock exited before listening")
		}
	case <-time.After(time.Minute):
		t.Fatal("stripemock: stripe-mock did not listen within a minute")
	}

	s := &Server{objects: map[string]map[string]any{}}
	target := &url.URL{Scheme: "http", Host: "stripe-mock"}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = s.asRegistered
	proxy.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form, _ := url.ParseQuery(string(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: form, Status: rec.status, Response: rec.body.Bytes()})
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
