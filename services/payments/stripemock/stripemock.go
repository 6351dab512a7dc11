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
	"slices"
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
	Form           url.Values // the parameters sent: the body's, a GET's query
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
	charges  map[string]*charge        // a payment intent's id → its charge (Charge)
	answered map[string]answer         // a refund's, a session's or an expiry's idempotency key → Stripe's first answer
	refusals map[string]Refusal        // "read <intent>", "refund <intent>", "session <order>" or "expire <session>" → Stripe's refusal
}

// Refusal is an error Stripe answers a call with instead of the object asked for.
type Refusal struct {
	Status  int    // the HTTP status: 400, 401, 403, 404, 500 (type api_error), 503 …
	Type    string // the error's type; invalid_request_error when empty
	Code    string // the error's code (charge_disputed, resource_missing …); Stripe gives some none
	Message string
	// Made makes a refund refused so made all the same, kept on its charge (Charge), as
	// Stripe may have made it before it failed with a 500: its answer says nothing of it.
	Made bool
}

// RefuseRead makes reading the payment intent id (GET /v1/payment_intents/{id}) answered
// with refusal, as Stripe answers a read of an intent it does not have, or a key it does
// not take.
func (s *Server) RefuseRead(id string, refusal Refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals["read "+id] = refusal
}

// RefuseRefund makes a refund of the payment intent id (POST /v1/refunds) answered with
// refusal, as Stripe refuses one of a disputed charge, or one its key may not make, or
// fails with a 500, having made it or not (Made).
func (s *Server) RefuseRefund(id string, refusal Refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals["refund "+id] = refusal
}

// RefuseSession makes opening a Checkout Session for orderID (POST /v1/checkout/sessions
// with that client_reference_id) answered with refusal, as Stripe refuses one when the
// account cannot take the payment (no payment method for the currency, live charges not
// enabled yet).
func (s *Server) RefuseSession(orderID string, refusal Refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals["session "+orderID] = refusal
}

// RefuseExpire makes expiring the Checkout Session id (POST
// /v1/checkout/sessions/{id}/expire) answered with refusal, as Stripe fails with a 500 of
// its own, which it keeps under the expiry's idempotency key.
func (s *Server) RefuseExpire(id string, refusal Refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals["expire "+id] = refusal
}

// Mend lifts the refusals registered for id (a payment intent's, an order's session's, a
// session's expiry's), as
// when a person mends their cause (tops the balance up, turns a payment method on), or
// as Stripe is well again after a failure of its own. A
// call asked again under an idempotency key Stripe refused is still answered with that
// refusal (replay), as Stripe answers it for 24 h; one under a new key is made.
func (s *Server) Mend(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, call := range []string{"read ", "refund ", "session ", "expire "} {
		delete(s.refusals, call+id)
	}
}

// refusalOf is the refusal registered for the call res answers, if any.
func (s *Server) refusalOf(res *http.Response) (Refusal, bool) {
	key := ""
	switch r := res.Request; {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/payment_intents/"):
		key = "read " + strings.TrimPrefix(r.URL.Path, "/v1/payment_intents/")
	case r.Method == http.MethodPost && r.URL.Path == "/v1/refunds":
		form, _ := r.Context().Value(formKey{}).(url.Values)
		key = "refund " + form.Get("payment_intent")
	case r.Method == http.MethodPost && r.URL.Path == "/v1/checkout/sessions":
		form, _ := r.Context().Value(formKey{}).(url.Values)
		key = "session " + form.Get("client_reference_id")
	case r.Method == http.MethodPost && expiry(r.URL.Path):
		key = "expire " + strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/checkout/sessions/"), "/expire")
	default:
		return Refusal{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	refusal, refused := s.refusals[key]
	return refusal, refused
}

// refuse makes refusal the answer res carries, as Stripe shapes an error.
func refuse(res *http.Response, refusal Refusal) error {
	_ = res.Body.Close()
	res.StatusCode, res.Status = refusal.Status, strconv.Itoa(refusal.Status)+" "+http.StatusText(refusal.Status)
	if refusal.Type == "" {
		refusal.Type = "invalid_request_error"
	}
	object := map[string]any{"type": refusal.Type, "message": refusal.Message}
	if refusal.Code != "" {
		object["code"] = refusal.Code
	}
	return replaceBody(res, map[string]any{"error": object})
}

// charge is the charge of a payment intent registered with Charge, as Stripe keeps it:
// what was taken, what of it is refunded, and its refunds, newest first.
type charge struct {
	id, paymentIntent, currency string
	amount, refunded            int64
	refunds                     []map[string]any
}

// answer is what a request with an idempotency key was first answered, and with
// which parameters it was asked.
type answer struct {
	form   url.Values
	status int
	body   []byte
}

// expiry reports whether path is a Checkout Session's expiry's.
func expiry(path string) bool {
	return strings.HasPrefix(path, "/v1/checkout/sessions/") && strings.HasSuffix(path, "/expire")
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

// Charge gives the payment intent paymentIntent, registered with PaymentIntent, its charge:
// amount taken (Stripe's unit, in currency), of which refunded is given back already by a
// refund made in Stripe's dashboard (no metadata). Stripe keeps a charge's refunds, and
// stripe-mock keeps nothing, so the proxy keeps them for it: the intent reads back with
// the charge as its latest_charge (with its refunds when expanded), and a refund of the
// intent is answered as Stripe answers it: asked for no amount, it gives back what is
// left, and is kept on the charge; with nothing left, it is refused as
// charge_already_refunded.
func (s *Server) Charge(paymentIntent string, amount, refunded int64, currency string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := &charge{id: "ch_" + strings.TrimPrefix(paymentIntent, "pi_"), paymentIntent: paymentIntent, currency: currency, amount: amount}
	if refunded > 0 {
		ch.keep(map[string]any{"id": "re_dashboard_" + strings.TrimPrefix(paymentIntent, "pi_"), "object": "refund", "amount": refunded,
			"metadata": map[string]string{}})
	}
	s.charges[paymentIntent] = ch
}

// keep records refund re on the charge, newest first, as given back of it.
func (ch *charge) keep(re map[string]any) {
	re["currency"], re["charge"], re["payment_intent"], re["status"] = ch.currency, ch.id, ch.paymentIntent, "succeeded"
	ch.refunded += re["amount"].(int64)
	ch.refunds = append([]map[string]any{re}, ch.refunds...)
}

// object is the charge as Stripe shows it, its refunds listed when expanded.
func (ch *charge) object(expanded bool) map[string]any {
	o := map[string]any{"id": ch.id, "object": "charge", "amount": ch.amount, "amount_captured": ch.amount, "amount_refunded": ch.refunded,
		"currency": ch.currency, "refunded": ch.refunded >= ch.amount, "paid": true, "captured": true, "status": "succeeded",
		"payment_intent": ch.paymentIntent, "metadata": map[string]string{}}
	if expanded {
		o["refunds"] = map[string]any{"object": "list", "data": ch.refunds, "has_more": false, "url": "/v1/charges/" + ch.id + "/refunds"}
	}
	return o
}

// refund answers a refund of an intent registered with Charge as Stripe does, from
// stripe-mock's refund object: for what is left of the charge unless form asks for an
// amount, with the metadata asked for; nothing left, or less than asked, it is refused.
func (s *Server) refund(res *http.Response, form url.Values) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, known := s.charges[form.Get("payment_intent")]
	if !known {
		return nil
	}
	left := ch.amount - ch.refunded
	amount := left
	if asked := form.Get("amount"); asked != "" {
		amount, _ = strconv.ParseInt(asked, 10, 64)
	}
	if left <= 0 || amount > left {
		refusal := Refusal{Status: http.StatusBadRequest, Code: "charge_already_refunded", Message: "Charge " + ch.id + " has already been refunded."}
		if left > 0 {
			refusal.Code, refusal.Message = "amount_too_large", "Refund amount ("+strconv.FormatInt(amount, 10)+") is greater than unrefunded amount on charge ("+strconv.FormatInt(left, 10)+")"
		}
		return refuse(res, refusal)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return err
	}
	var re map[string]any
	if err := json.Unmarshal(body, &re); err != nil {
		return err
	}
	metadata := map[string]string{}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok && len(v) > 0 {
			metadata[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	re["amount"], re["metadata"] = amount, metadata
	ch.keep(re)
	return replaceBody(res, re)
}

func (s *Server) readsBack(path string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[path] = fields
}

// asRegistered rewrites stripe-mock's answer to reading an object registered with
// PaymentIntent or CheckoutSession: the registered fields replace the fixture's. Expiring
// a Checkout Session registered as no longer open is refused, as Stripe refuses it, and
// so is a call registered with RefuseRead, RefuseRefund, RefuseSession or RefuseExpire.
func (s *Server) asRegistered(res *http.Response) error {
	if res.StatusCode != http.StatusOK {
		return nil
	}
	path := res.Request.URL.Path
	refunding := path == "/v1/refunds" && res.Request.Method == http.MethodPost
	form, _ := res.Request.Context().Value(formKey{}).(url.Values)
	if refusal, refused := s.refusalOf(res); refused {
		if refusal.Made && refunding {
			if err := s.refund(res, form); err != nil {
				return err
			}
		}
		return refuse(res, refusal)
	}
	if refunding {
		return s.refund(res, form)
	}
	session, expiring := strings.CutSuffix(path, "/expire")
	if expiring && res.Request.Method == http.MethodPost {
		s.mu.Lock()
		fields, known := s.objects[session]
		s.mu.Unlock()
		if known && fields["status"] != "open" {
			return refuse(res, Refusal{Status: http.StatusBadRequest, Message: "Only Checkout Sessions with a status of `open` can be expired."})
		}
		return nil
	}
	if res.Request.Method != http.MethodGet {
		return nil
	}
	s.mu.Lock()
	fields, known := s.objects[path]
	if ch := s.charges[strings.TrimPrefix(path, "/v1/payment_intents/")]; ch != nil {
		fields = maps.Clone(fields)
		fields["latest_charge"] = ch.id
		if asked := expanded(res.Request); slices.ContainsFunc(asked, func(v string) bool { return strings.HasPrefix(v, "latest_charge") }) {
			fields["latest_charge"] = ch.object(slices.Contains(asked, "latest_charge.refunds"))
		}
	}
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

// expanded is what request r asks Stripe to expand (expand[]=…; stripe-go numbers them).
func expanded(r *http.Request) []string {
	var asked []string
	for k, v := range r.URL.Query() {
		if strings.HasPrefix(k, "expand") {
			asked = append(asked, v...)
		}
	}
	return asked
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

	s := &Server{objects: map[string]map[string]any{}, charges: map[string]*charge{}, answered: map[string]answer{}, refusals: map[string]Refusal{}}
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
		if r.Method == http.MethodGet {
			form = r.URL.Query()
		}
		call := Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: form}
		if call.Status, call.Response = s.replay(w, call); call.Status == 0 {
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			proxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), formKey{}, form)))
			call.Status, call.Response = rec.status, rec.body.Bytes()
			s.keepAnswer(call)
		}
		s.mu.Lock()
		s.requests = append(s.requests, call)
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// formKey carries a request's parameters to the proxy's rewriting of its answer.
type formKey struct{}

// replays are the calls whose answers the proxy keeps under their idempotency keys, as
// Stripe keeps every POST's: a refund, a Checkout Session's creation and its expiry.
func replays(call Request) bool {
	return call.Method == http.MethodPost && call.IdempotencyKey != "" &&
		(call.Path == "/v1/refunds" || call.Path == "/v1/checkout/sessions" || expiry(call.Path))
}

// replay answers a refund, a session or an expiry asked again under an idempotency key
// as Stripe does: with its first answer when the parameters are the same, a refusal
// included, refused (idempotency_error) when they differ. stripe-mock answers each anew.
// status is 0 for a call not answered so.
func (s *Server) replay(w http.ResponseWriter, call Request) (status int, body []byte) {
	s.mu.Lock()
	first, seen := s.answered[call.IdempotencyKey]
	s.mu.Unlock()
	if !seen || !replays(call) {
		return 0, nil
	}
	status, body = first.status, first.body
	if !maps.EqualFunc(first.form, call.Form, slices.Equal) {
		status = http.StatusBadRequest
		body, _ = json.Marshal(map[string]any{"error": map[string]any{"type": "idempotency_error",
			"message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status, body
}

// keepAnswer keeps the answer to a refund, a session or an expiry asked under an
// idempotency key, to replay it. Stripe keeps what an endpoint answered once it began
// for 24 h, a refusal (4xx) included, and a failure of its own (500, its api_error),
// whether or not it made the object before failing; not what is answered before its
// idempotency layer: a key it does not take (401, 403), a limit of its rate (429), a
// request under a key in use by another (409), a gateway or a load balancer that found
// no API to ask (502, 503, 504).
func (s *Server) keepAnswer(call Request) {
	switch call.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusConflict, http.StatusTooManyRequests:
		return
	}
	if !replays(call) || call.Status > http.StatusInternalServerError {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answered[call.IdempotencyKey] = answer{form: call.Form, status: call.Status, body: call.Response}
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
