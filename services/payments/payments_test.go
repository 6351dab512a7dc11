package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/webhooksig"
)

const secret = "whsec_test"

// ordersToken is the token the orders service presents in these tests.
const ordersToken = "test-orders-token"

// newService builds the service as in dev mode: the simulator on, the orders service the
// one caller.
func newService(t *testing.T, cfg payments.Config) (*payments.Service, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = secret
	}
	cfg.Simulator = true
	cfg.Callers = httpx.Tokens{"orders": ordersToken}
	return payments.New(pool, slog.New(slog.DiscardHandler), cfg), pool
}

// asOrders makes r a call from the orders service, with its token.
func asOrders(r *http.Request) *http.Request {
	r.Header.Set("Authorization", "Bearer "+ordersToken)
	return r
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var cmd = payment.CreateSession{OrderID: "ord-1", Amount: 12_345, Currency: "EUR", CustomerEmail: "ann@example.com"}

func createInTx(ctx context.Context, pool *pgxpool.Pool, svc *payments.Service, c payment.CreateSession) (payments.Session, bool, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return payments.Session{}, false, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sess, created, err := svc.CreateSession(ctx, tx, c)
	if err != nil {
		return sess, created, err
	}
	return sess, created, tx.Commit(ctx)
}

func sessionEvents(t *testing.T, ctx context.Context, pool *pgxpool.Pool, orderID string) []payment.SessionCreated {
	t.Helper()
	recs, err := eventstore.Load(ctx, pool, payment.StreamID(orderID))
	require.NoError(t, err)
	var out []payment.SessionCreated
	for _, r := range recs {
		require.Equal(t, payment.SessionCreatedName, r.Name)
		require.Equal(t, payment.StreamType, r.StreamType)
		var ev payment.SessionCreated
		require.NoError(t, json.Unmarshal(r.Payload, &ev))
		out = append(out, ev)
	}
	return out
}

func TestCreateSessionIsAtMostOncePerOrder(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{})

	first, created, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Regexp(t, `^cs_[A-Z2-7]{26}$`, first.SessionID)
	assert.Equal(t, "http://localhost:3002/pay/"+first.SessionID, first.URL)
	assert.Equal(t, payments.StatusOpen, first.Status)
	assert.Equal(t, payments.SessionTTL, first.ExpiresAt.Sub(first.CreatedAt))

	again := cmd
	again.Amount = 999 // a differing retry still gets the first session, never a second one
	second, created, err := createInTx(ctx, pool, svc, again)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first, second)

	assert.Equal(t, []payment.SessionCreated{{
		OrderID: "ord-1", SessionID: first.SessionID, URL: first.URL,
		Amount: 12_345, Currency: "EUR", ExpiresAt: first.ExpiresAt,
	}}, sessionEvents(t, ctx, pool, "ord-1"))
}

func TestConcurrentCreateSessionOpensOneSession(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{})

	const n = 8
	var (
		wg      sync.WaitGroup
		ids     [n]string
		errs    [n]error
		created atomic.Int32
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			sess, c, err := createInTx(ctx, pool, svc, cmd)
			ids[i], errs[i] = sess.SessionID, err
			if c {
				created.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, ids[0], ids[i])
	}
	assert.EqualValues(t, 1, created.Load())
	assert.Len(t, sessionEvents(t, ctx, pool, "ord-1"), 1)
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM payments.sessions`).Scan(&rows))
	assert.Equal(t, 1, rows)
}

// A command sent on the log opens the session and announces it on payment_events; an
// unknown command before it is acked, not dead-lettered, and does not block it.
func TestCreateSessionCommandOverTheLog(t *testing.T) {
	svc, pool := newService(t, payments.Config{})
	// Cancelled before the pool's cleanup closes it, which waits for the listener's connection.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	meta := eventstore.Metadata{CorrelationID: "corr-1", Actor: "saga"}
	require.NoError(t, eventstore.Send(ctx, tx, payment.CommandsTopic, meta, eventstore.Message{Name: "payments.refund.v9", Data: map[string]string{"orderId": "ord-1"}}))
	require.NoError(t, eventstore.Send(ctx, tx, payment.CommandsTopic, meta, eventstore.Message{Name: payment.CreateSessionName, Data: cmd}))
	require.NoError(t, tx.Commit(ctx))

	log := eventstore.NewLog(pool, watermill.NopLogger{}, eventstore.LogConfig{})
	go func() { _ = log.Listen(ctx) }()
	router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	require.NoError(t, err)
	require.NoError(t, svc.RegisterConsumers(log, router))
	announced := make(chan struct{})
	var (
		once sync.Once
		got  eventstore.Recorded
	)
	require.NoError(t, log.Consume(router, "test", eventstore.EventsTopic(payment.StreamType), func(_ context.Context, _ pgx.Tx, msg *message.Message) error {
		if msg.Metadata.Get("name") != payment.SessionCreatedName {
			return nil
		}
		r, err := eventstore.DecodeRecorded(msg)
		if err != nil {
			return err
		}
		got = r
		once.Do(func() { close(announced) })
		return nil
	}))
	go func() { _ = router.Run(ctx) }()
	select {
	case <-announced:
	case <-ctx.Done():
		t.Fatal("SessionCreated never arrived on payment_events")
	}
	require.NoError(t, router.Close())

	sess, err := svc.SessionByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, int64(12_345), sess.Amount)
	assert.Equal(t, "ann@example.com", sess.CustomerEmail)
	assert.Equal(t, payment.StreamID("ord-1"), got.StreamID)
	assert.Equal(t, "corr-1", got.Metadata.CorrelationID, "the command's correlation id carries over")
	var ev payment.SessionCreated
	require.NoError(t, json.Unmarshal(got.Payload, &ev))
	assert.Equal(t, sess.SessionID, ev.SessionID)
	var dead int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&dead))
	assert.Zero(t, dead)
}

// ordersStub plays the orders service's webhook endpoint: it verifies the signature as the
// orders service must and records what it was sent.
type ordersStub struct {
	mu     sync.Mutex
	bodies []payment.Webhook
	errs   []error
	status int
}

func (o *ordersStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/webhooks/payment" {
		http.NotFound(w, r)
		return
	}
	if err := webhooksig.VerifyStripe(body, r.Header.Get(webhooksig.StripeHeader), secret, time.Now()); err != nil {
		o.errs = append(o.errs, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var wh payment.Webhook
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wh); err != nil {
		o.errs = append(o.errs, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	o.bodies = append(o.bodies, wh)
	w.WriteHeader(o.status)
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (o *ordersStub) received() ([]payment.Webhook, []error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]payment.Webhook(nil), o.bodies...), append([]error(nil), o.errs...)
}

func postJSON(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))))
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

func TestSimulatorSendsASignedWebhook(t *testing.T) {
	ctx := testContext(t)
	stub := &ordersStub{status: http.StatusAccepted}
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, payments.Config{OrdersWebhookURL: orders.URL + "/webhooks/payment"})
	sess, _, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)
	h := svc.Handler()

	rec := postJSON(t, h, "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	res := decode[payments.ProcessResult](t, rec)
	assert.Equal(t, http.StatusAccepted, res.OrdersStatus)
	assert.Equal(t, `{"ok":true}`, res.OrdersBody)
	assert.Regexp(t, `^evt_`, res.Webhook.ID)
	assert.Regexp(t, `^pi_`, res.Webhook.PaymentID)
	want := payment.Webhook{
		ID: res.Webhook.ID, OrderID: "ord-1", Status: payment.StatusCompleted,
		PaymentID: res.Webhook.PaymentID, SessionID: sess.SessionID, Amount: 12_345, Currency: "EUR",
	}
	assert.Equal(t, want, res.Webhook)
	bodies, errs := stub.received()
	assert.Empty(t, errs)
	assert.Equal(t, []payment.Webhook{want}, bodies)

	got, err := svc.SessionByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, payment.StatusCompleted, got.Status)
	assert.Equal(t, want.PaymentID, got.PaymentID)

	// Repeating the outcome notifies again, under a new event id, about the same payment.
	rec = postJSON(t, h, "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	again := decode[payments.ProcessResult](t, rec).Webhook
	assert.NotEqual(t, want.ID, again.ID)
	again.ID = want.ID
	assert.Equal(t, want, again)

	// A settled payment cannot change its outcome.
	rec = postJSON(t, h, "/api/payments/process", `{"orderId":"ord-1","outcome":"failed"}`)
	assert.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	bodies, _ = stub.received()
	assert.Len(t, bodies, 2)
}

func TestSimulatedFailureCarriesItsReason(t *testing.T) {
	ctx := testContext(t)
	stub := &ordersStub{status: http.StatusOK}
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, payments.Config{OrdersWebhookURL: orders.URL + "/webhooks/payment"})
	_, _, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)
	other := cmd
	other.OrderID = "ord-2"
	_, _, err = createInTx(ctx, pool, svc, other)
	require.NoError(t, err)

	rec := postJSON(t, svc.Handler(), "/api/payments/process", `{"orderId":"ord-1","outcome":"failed","reason":"insufficient_funds"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = postJSON(t, svc.Handler(), "/api/payments/process", `{"orderId":"ord-2","outcome":"failed"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	bodies, errs := stub.received()
	assert.Empty(t, errs)
	require.Len(t, bodies, 2)
	assert.Equal(t, payment.StatusFailed, bodies[0].Status)
	assert.Equal(t, "insufficient_funds", bodies[0].Reason)
	assert.Equal(t, payments.DefaultFailureReason, bodies[1].Reason)
	sess, err := svc.SessionByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, payment.StatusFailed, sess.Status)
}

// A payment can be simulated before the order asked for a session: the early webhook the
// saga must remember.
func TestSimulatorPaysAnOrderWithoutASession(t *testing.T) {
	ctx := testContext(t)
	stub := &ordersStub{status: http.StatusAccepted}
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, payments.Config{OrdersWebhookURL: orders.URL + "/webhooks/payment"})

	rec := postJSON(t, svc.Handler(), "/api/payments/process", `{"orderId":"early","outcome":"completed"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	wh := decode[payments.ProcessResult](t, rec).Webhook
	assert.Regexp(t, `^pi_`, wh.PaymentID)
	assert.Equal(t, payment.Webhook{ID: wh.ID, OrderID: "early", Status: payment.StatusCompleted, PaymentID: wh.PaymentID}, wh)
	bodies, errs := stub.received()
	assert.Empty(t, errs)
	assert.Equal(t, []payment.Webhook{wh}, bodies)
	_, err := svc.SessionByOrder(ctx, pool, "early")
	assert.Error(t, err, "no session is invented")
}

// The orders service's refusal is reported, not hidden: a wrong secret shows up as 401.
func TestSimulatorReportsTheOrdersServiceAnswer(t *testing.T) {
	ctx := testContext(t)
	stub := &ordersStub{status: http.StatusOK}
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, payments.Config{WebhookSecret: "whsec_wrong", OrdersWebhookURL: orders.URL + "/webhooks/payment"})
	_, _, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)

	rec := postJSON(t, svc.Handler(), "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, http.StatusUnauthorized, decode[payments.ProcessResult](t, rec).OrdersStatus)
	_, errs := stub.received()
	assert.Len(t, errs, 1)
}

func TestSimulatorWithUnreachableOrdersIsABadGateway(t *testing.T) {
	ctx := testContext(t)
	orders := httptest.NewServer(http.NotFoundHandler())
	url := orders.URL
	orders.Close() // nothing listens there any more
	svc, pool := newService(t, payments.Config{OrdersWebhookURL: url})
	_, _, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)

	rec := postJSON(t, svc.Handler(), "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`)
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Equal(t, "bad_gateway", decode[httpx.ErrorBody](t, rec).Error.Code)
	sess, err := svc.SessionByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, payment.StatusCompleted, sess.Status, "the money moved even though the notice did not arrive")
}

func TestSimulatorRefusesAnExpiredSession(t *testing.T) {
	ctx := testContext(t)
	var now atomic.Pointer[time.Time]
	t0 := time.Now()
	now.Store(&t0)
	svc, pool := newService(t, payments.Config{Now: func() time.Time { return *now.Load() }})
	_, _, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)
	later := t0.Add(payments.SessionTTL + time.Second)
	now.Store(&later)

	rec := postJSON(t, svc.Handler(), "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`)
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Contains(t, decode[httpx.ErrorBody](t, rec).Error.Message, "expired")
}

func TestSessionHTTP(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{PublicURL: "https://pay.example.com/"})
	h := svc.Handler()

	created, _, err := createInTx(ctx, pool, svc, payment.CreateSession{OrderID: "ord-9", Amount: 500, Currency: "USD", CustomerEmail: "bo@example.com"})
	require.NoError(t, err)
	assert.Equal(t, "https://pay.example.com/pay/"+created.SessionID, created.URL)

	// Issue 8, finding 3: a session for 0.01 was opened over HTTP for a 50,000 order. Only
	// the order workflow's command opens one now, for the order's own total.
	rec := postJSON(t, h, "/api/payments/sessions", `{"orderId":"ord-10","amount":1,"currency":"USD"}`)
	assert.Equal(t, http.StatusNotFound, rec.Code, "no session is opened over HTTP, even with the orders service's token")
	_, err = svc.SessionByOrder(ctx, pool, "ord-10")
	assert.Equal(t, apperr.CodeNotFound, apperr.ErrorCode(err))

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/payments/sessions/ord-9", nil)))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, created, decode[payments.Session](t, rec))

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/payments/sessions/nope", nil)))
	assert.Equal(t, http.StatusNotFound, rec.Code)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pay/"+created.SessionID, nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `data-testid="pay"`)
}

func TestBadInputIsA400NamingTheField(t *testing.T) {
	svc, _ := newService(t, payments.Config{})
	h := svc.Handler()
	cases := []struct{ name, path, body, field string }{
		{"unknown field", "/api/payments/process", `{"orderId":"o","outcome":"completed","tip":5}`, "tip"},
		{"process without order", "/api/payments/process", `{"outcome":"completed"}`, "orderId"},
		{"unknown outcome", "/api/payments/process", `{"orderId":"o","outcome":"maybe"}`, "outcome"},
		{"reason on success", "/api/payments/process", `{"orderId":"o","outcome":"completed","reason":"x"}`, "reason"},
		{"process long order id", "/api/payments/process", `{"orderId":"` + strings.Repeat("o", 129) + `","outcome":"completed"}`, "orderId"},
		{"long reason", "/api/payments/process", `{"orderId":"o","outcome":"failed","reason":"` + strings.Repeat("r", 1001) + `"}`, "reason"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := postJSON(t, h, c.path, c.body)
			require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			body := decode[httpx.ErrorBody](t, rec)
			assert.Equal(t, "invalid", body.Error.Code)
			assert.Equal(t, c.field, body.Error.Field)
		})
	}
	rec := postJSON(t, h, "/api/payments/process", `{"orderId":`)
	assert.Equal(t, http.StatusBadRequest, rec.Code)

	// A refused outcome is quoted only in part.
	rec = postJSON(t, h, "/api/payments/process", `{"orderId":"o","outcome":"`+strings.Repeat("x", 100_000)+`"}`)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Less(t, rec.Body.Len(), 300)

	// An id in the path is bounded like one in a body.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/payments/sessions/"+strings.Repeat("o", 129), nil)))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "orderId", decode[httpx.ErrorBody](t, rec).Error.Field)
}
