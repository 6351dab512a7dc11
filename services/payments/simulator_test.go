package payments_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/simulator"
	"github.com/ordermill/ordermill/services/simulator/simulatortest"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// newOrdersStub plays the orders service's webhook endpoint, answering an accepted
// webhook with status (simulatortest.Receiver).
func newOrdersStub(status int) *simulatortest.Receiver[payment.Webhook] {
	return &simulatortest.Receiver[payment.Webhook]{Path: "/webhooks/payment", Status: status, Verify: func(body []byte, h http.Header) error {
		return webhooksig.VerifyStripe(body, h.Get(webhooksig.StripeHeader), secret, time.Now())
	}}
}

func TestSimulatorSendsASignedWebhook(t *testing.T) {
	ctx := testContext(t)
	stub := newOrdersStub(http.StatusAccepted)
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
	bodies, errs := stub.Received()
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
	bodies, _ = stub.Received()
	assert.Len(t, bodies, 2)
}

func TestSimulatedFailureCarriesItsReason(t *testing.T) {
	ctx := testContext(t)
	stub := newOrdersStub(http.StatusOK)
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

	bodies, errs := stub.Received()
	assert.Empty(t, errs)
	require.Len(t, bodies, 2)
	assert.Equal(t, payment.StatusFailed, bodies[0].Status)
	assert.Equal(t, "insufficient_funds", bodies[0].Reason)
	assert.Equal(t, payments.DefaultFailureReason, bodies[1].Reason)
	sess, err := svc.SessionByOrder(ctx, pool, "ord-1")
	require.NoError(t, err)
	assert.Equal(t, payment.StatusFailed, sess.Status)
}

// A provider pays only a session it opened: an order without one is 404, naming the order
// as GET /api/payments/sessions does, and the orders service hears nothing. The simulator
// made up a payment and sent it, which the orders service refused as an unknown order.
func TestSimulatorRefusesAnOrderWithoutASession(t *testing.T) {
	ctx := testContext(t)
	stub := newOrdersStub(http.StatusAccepted)
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, payments.Config{OrdersWebhookURL: orders.URL + "/webhooks/payment"})
	h := svc.Handler()

	for _, outcome := range []string{payment.StatusCompleted, payment.StatusFailed} {
		rec := postJSON(t, h, "/api/payments/process", `{"orderId":"nope","outcome":"`+outcome+`"}`)
		require.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
		got := decode[httpx.ErrorBody](t, rec).Error
		read := httptest.NewRecorder()
		h.ServeHTTP(read, asOrders(httptest.NewRequest(http.MethodGet, "/api/payments/sessions/nope", nil)))
		assert.Equal(t, decode[httpx.ErrorBody](t, read).Error, got, "answered as reading its session is")
		assert.Contains(t, got.Message, `"nope"`)
	}
	bodies, errs := stub.Received()
	assert.Empty(t, errs)
	assert.Empty(t, bodies, "no webhook is sent")
	_, err := svc.SessionByOrder(ctx, pool, "nope")
	assert.Error(t, err, "no session is invented")
}

// The orders service's refusal is reported, not hidden: a wrong secret shows up as 401.
func TestSimulatorReportsTheOrdersServiceAnswer(t *testing.T) {
	ctx := testContext(t)
	stub := newOrdersStub(http.StatusOK)
	orders := httptest.NewServer(stub)
	defer orders.Close()
	svc, pool := newService(t, payments.Config{WebhookSecret: "whsec_wrong", OrdersWebhookURL: orders.URL + "/webhooks/payment"})
	_, _, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)

	rec := postJSON(t, svc.Handler(), "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, http.StatusUnauthorized, decode[payments.ProcessResult](t, rec).OrdersStatus)
	_, errs := stub.Received()
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
	later := t0.Add(payment.SessionTTL + time.Second)
	now.Store(&later)

	rec := postJSON(t, svc.Handler(), "/api/payments/process", `{"orderId":"ord-1","outcome":"completed"}`)
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Contains(t, decode[httpx.ErrorBody](t, rec).Error.Message, "expired")
}

// A webhook the orders service did not take is logged naming its order, as every line
// about an order is: the line named none, so nobody could tell which payment the shop
// was never told of (a probe, during a rolling restart).
func TestAWebhookNotDeliveredIsLoggedWithItsOrder(t *testing.T) {
	ctx := testContext(t)
	pool := pgtest.Pool(t)
	var logs bytes.Buffer
	svc := payments.New(pool, slog.New(slog.NewTextHandler(&logs, nil)), payments.Config{WebhookSecret: secret, Simulator: true,
		OrdersWebhookURL: "http://127.0.0.1:1/webhooks/payment"})
	_, _, err := createInTx(ctx, pool, svc, cmd)
	require.NoError(t, err)
	_, err = svc.Process(ctx, payments.ProcessRequest{OrderID: cmd.OrderID, Outcome: payment.StatusCompleted})
	require.ErrorAs(t, err, new(*simulator.DeliveryError))
	assert.Regexp(t, `level=WARN msg="payments: webhook not delivered: sent again until the orders service answers" order_id=ord-1 correlation_id=ord-1 event_id=evt_\w+ err=`, logs.String())
}
