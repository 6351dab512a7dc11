package payments_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/services/payments"
	"github.com/ordermill/ordermill/services/payments/stripemock"
)

func stripeProvider(mock *stripemock.Server) *payments.Stripe {
	return payments.NewStripe(payments.StripeConfig{
		SecretKey: "sk_test_ordermill", APIBase: mock.URL,
		SuccessURL: "https://shop.example/paid?session={CHECKOUT_SESSION_ID}",
	})
}

// The Stripe provider opens a Checkout Session through stripe-go against stripe-mock,
// which refuses any request Stripe's API would refuse: the order's lines, amount and
// currency, both references to the order, and an idempotency key derived from the order,
// the same when the command comes again after its commit was lost, with the same
// parameters however much later it comes: Stripe refuses a repeated key whose parameters
// differ (stripe-mock does not check that), and the order could never be paid.
func TestStripeOpensACheckoutSessionForTheOrder(t *testing.T) {
	ctx := testContext(t)
	mock := stripemock.Start(t)
	minutes := 0 // every attempt comes a minute after the one before
	clock := func() time.Time { minutes++; return time.Now().Add(time.Duration(minutes) * time.Minute) }
	svc, pool := newService(t, payments.Config{Provider: stripeProvider(mock), Now: clock})
	c := payment.CreateSession{OrderID: "ord-stripe", Amount: 2*1999 + 500, Currency: "EUR", CustomerEmail: "ann@example.com",
		Lines: []payment.Line{{SKU: "SKU-001", Name: "Espresso cup", Quantity: 2, UnitPrice: 1999}, {SKU: "SKU-002", Quantity: 1, UnitPrice: 500}}}

	// A first attempt whose transaction never commits, as when the process dies after
	// the call: Stripe was asked, nothing was recorded.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, created, err := svc.CreateSession(ctx, tx, c)
	require.NoError(t, err)
	require.True(t, created)
	require.NoError(t, tx.Rollback(ctx))

	sess, created, err := createInTx(ctx, pool, svc, c)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Regexp(t, `^cs_`, sess.SessionID, "the session is Stripe's")
	assert.Regexp(t, `^https://`, sess.URL, "the customer pays at Stripe's URL")

	_, created, err = createInTx(ctx, pool, svc, c)
	require.NoError(t, err)
	assert.False(t, created, "a redelivered command finds the recorded session and asks Stripe nothing")

	calls := mock.Requests("/v1/checkout/sessions")
	require.Len(t, calls, 2, "one call per attempt that found no recorded session")
	for _, call := range calls {
		assert.Equal(t, 200, call.Status, "stripe-mock accepted the request as Stripe's API would")
		assert.Equal(t, payments.SessionIdempotencyKey("ord-stripe"), call.IdempotencyKey)
		f := call.Form
		assert.Equal(t, "payment", f.Get("mode"))
		assert.Equal(t, "eur", f.Get("currency"))
		assert.Equal(t, "ord-stripe", f.Get("client_reference_id"))
		assert.Equal(t, "ord-stripe", f.Get("metadata[order_id]"))
		assert.Equal(t, "ord-stripe", f.Get("payment_intent_data[metadata][order_id]"))
		assert.Equal(t, "ann@example.com", f.Get("customer_email"))
		assert.Equal(t, "Espresso cup", f.Get("line_items[0][price_data][product_data][name]"), "the catalog's name")
		assert.Equal(t, "2", f.Get("line_items[0][quantity]"))
		assert.Equal(t, "1999", f.Get("line_items[0][price_data][unit_amount]"))
		assert.Equal(t, "eur", f.Get("line_items[0][price_data][currency]"))
		assert.Equal(t, "SKU-002", f.Get("line_items[1][price_data][product_data][name]"), "an order placed before names were kept")
		assert.Equal(t, "500", f.Get("line_items[1][price_data][unit_amount]"))
		assert.Equal(t, "https://shop.example/paid?session={CHECKOUT_SESSION_ID}", f.Get("success_url"))
	}
	assert.Equal(t, calls[0].Form, calls[1].Form, "the repeated request asks Stripe the same")
	events := sessionEvents(t, ctx, pool, "ord-stripe")
	require.Len(t, events, 1)
	assert.Equal(t, sess.SessionID, events[0].SessionID)
	assert.Equal(t, int64(4498), events[0].Amount)
}

// Lines that do not add up to the amount (or a command from before lines existed) are
// shown as one line for the amount: the customer is never asked for another sum.
func TestStripeChargesTheAmountWhenLinesDisagree(t *testing.T) {
	ctx := testContext(t)
	mock := stripemock.Start(t)
	svc, pool := newService(t, payments.Config{Provider: stripeProvider(mock)})
	c := payment.CreateSession{OrderID: "ord-total", Amount: 10_000, Currency: "USD",
		Lines: []payment.Line{{SKU: "SKU-001", Quantity: 1, UnitPrice: 1}}}
	_, _, err := createInTx(ctx, pool, svc, c)
	require.NoError(t, err)
	calls := mock.Requests("/v1/checkout/sessions")
	require.Len(t, calls, 1)
	f := calls[0].Form
	assert.Equal(t, "Order ord-total", f.Get("line_items[0][price_data][product_data][name]"))
	assert.Equal(t, "10000", f.Get("line_items[0][price_data][unit_amount]"))
	assert.Equal(t, "1", f.Get("line_items[0][quantity]"))
	assert.Empty(t, f.Get("line_items[1][quantity]"))
}

// A provider that refuses leaves nothing recorded, so the command is retried.
func TestStripeRefusalRecordsNoSession(t *testing.T) {
	ctx := testContext(t)
	svc, pool := newService(t, payments.Config{Provider: payments.NewStripe(payments.StripeConfig{
		SecretKey: "sk_test_ordermill", APIBase: "http://127.0.0.1:1", SuccessURL: "https://shop.example/paid",
	})})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _, err := createInTx(ctx, pool, svc, cmd)
	require.Error(t, err)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM payments.sessions`).Scan(&n))
	assert.Zero(t, n)
}

// A refund command handled again (redelivered, or after a commit that was lost) refunds
// the payment once: the call repeated after the lost commit carries the same idempotency
// key, so Stripe answers it with the first refund, and once recorded nobody calls again.
func TestStripeRefundsAPaymentOnce(t *testing.T) {
	ctx := testContext(t)
	mock := stripemock.Start(t)
	svc, pool := newService(t, payments.Config{Provider: stripeProvider(mock)})
	mock.PaymentIntent("pi_late", "ord-late")
	r := payment.Refund{OrderID: "ord-late", PaymentID: "pi_late", SessionID: "cs_late", Amount: 4200, Currency: "EUR", Reason: "order cancelled"}
	refundInTx := func(commit bool) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		require.NoError(t, svc.Refund(ctx, tx, r))
		if commit {
			require.NoError(t, tx.Commit(ctx))
		}
	}
	refundInTx(false) // the process dies before its commit
	refundInTx(true)
	refundInTx(true) // delivered again

	calls := mock.Requests("/v1/refunds")
	require.Len(t, calls, 2, "the lost attempt and the one that committed; none once recorded")
	for _, call := range calls {
		assert.Equal(t, 200, call.Status)
		assert.Equal(t, payments.RefundIdempotencyKey("pi_late"), call.IdempotencyKey)
		assert.Equal(t, "pi_late", call.Form.Get("payment_intent"))
		assert.Equal(t, "ord-late", call.Form.Get("metadata[order_id]"))
	}
	assert.Equal(t, calls[0].Form, calls[1].Form, "the repeated request asks Stripe the same, so Stripe answers it with the first refund")
	assert.Equal(t, stripeRefund(t, calls[0]), stripeRefund(t, calls[1]))
	recs, err := eventstore.Load(ctx, pool, payment.StreamID("ord-late"))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, payment.RefundedName, recs[0].Name)
	var ev payment.Refunded
	require.NoError(t, json.Unmarshal(recs[0].Payload, &ev))
	assert.Equal(t, "pi_late", ev.PaymentID)
	assert.Regexp(t, `^re_`, ev.RefundID)
	given := stripeRefund(t, calls[1])
	assert.Equal(t, given.Amount, ev.Amount, "what Stripe says it gave back")
	assert.Equal(t, given.Currency, ev.Currency)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM payments.refunds WHERE payment_id = 'pi_late'`).Scan(&n))
	assert.Equal(t, 1, n)
}

// A payment reported without its amount (a signed report that named none) is refunded
// whole, and the refund is recorded for what Stripe says it gave back, not for nothing.
func TestStripeRefundOfAnUnreportedAmountRecordsWhatStripeGaveBack(t *testing.T) {
	ctx := testContext(t)
	mock := stripemock.Start(t)
	svc, pool := newService(t, payments.Config{Provider: stripeProvider(mock)})
	mock.PaymentIntent("pi_unsaid", "ord-unsaid")
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, svc.Refund(ctx, tx, payment.Refund{OrderID: "ord-unsaid", PaymentID: "pi_unsaid", Reason: "a payment the order refused"}))
	require.NoError(t, tx.Commit(ctx))

	calls := mock.Requests("/v1/refunds")
	require.Len(t, calls, 1)
	assert.Empty(t, calls[0].Form.Get("amount"), "the whole payment")
	given := stripeRefund(t, calls[0])
	require.Positive(t, given.Amount)
	var amount int64
	var currency string
	require.NoError(t, pool.QueryRow(ctx, `SELECT amount, currency FROM payments.refunds WHERE payment_id = 'pi_unsaid'`).Scan(&amount, &currency))
	assert.Equal(t, given.Amount, amount)
	assert.Equal(t, given.Currency, currency)
	recs, err := eventstore.Load(ctx, pool, payment.StreamID("ord-unsaid"))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	var ev payment.Refunded
	require.NoError(t, json.Unmarshal(recs[0].Payload, &ev))
	assert.Equal(t, given.Amount, ev.Amount)
	assert.Equal(t, given.Currency, ev.Currency)
}

// A refund asked for a payment a part of which was given back in Stripe's dashboard
// already gives back the rest: Stripe is asked for no amount (it then refunds what is
// left, which a refund for an amount read a moment before could exceed), and the refund
// is recorded as the 70.00 it gave back, with the 100.00 Stripe shows refunded of the
// payment now, so the order can tell the 30.00 it may not know of yet. The attempt after a
// lost commit reads the payment refunded in full by that refund, Ordermill's own (its
// metadata names the order), and records it without asking Stripe again; before, it asked
// again, under the same key.
func TestStripeRefundsWhatIsLeftOfAPaymentRefundedInPart(t *testing.T) {
	ctx := testContext(t)
	mock := stripemock.Start(t)
	svc, pool := newService(t, payments.Config{Provider: stripeProvider(mock)})
	mock.PaymentIntent("pi_part", "ord-part")
	mock.Charge("pi_part", 100_00, 30_00, "usd")
	r := payment.Refund{OrderID: "ord-part", PaymentID: "pi_part", SessionID: "cs_part", Amount: 100_00, Currency: "USD", Reason: "order cancelled"}
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, svc.Refund(ctx, tx, r))
	require.NoError(t, tx.Rollback(ctx)) // the process dies before its commit
	require.NoError(t, refundIn(ctx, t, svc, pool, r))
	require.NoError(t, refundIn(ctx, t, svc, pool, r)) // delivered again

	calls := mock.Requests("/v1/refunds")
	require.Len(t, calls, 1, "one refund asked of Stripe")
	assert.Equal(t, payments.RefundIdempotencyKey("pi_part"), calls[0].IdempotencyKey)
	assert.Empty(t, calls[0].Form.Get("amount"), "what is left, as Stripe counts it")
	given := stripeRefund(t, calls[0])
	require.Equal(t, int64(70_00), given.Amount)
	for _, read := range mock.Requests("/v1/payment_intents/pi_part") {
		assert.Contains(t, read.Form["expand[0]"], "latest_charge.refunds", "the intent read with what is refunded of it")
	}

	recs, err := eventstore.Load(ctx, pool, payment.StreamID("ord-part"))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, payment.RefundedName, recs[0].Name)
	var ev struct {
		RefundID      string
		Amount, Total int64
		Currency      string
		Charge        string
	}
	require.NoError(t, json.Unmarshal(recs[0].Payload, &ev))
	assert.Equal(t, given.RefundID, ev.RefundID, "the refund Stripe made at the first attempt")
	assert.Equal(t, int64(70_00), ev.Amount, "what this refund gave back")
	assert.Equal(t, int64(100_00), ev.Total, "what Stripe shows refunded of the payment with it")
	assert.Equal(t, "USD", ev.Currency)
	assert.Equal(t, "ch_part", ev.Charge)
}

// A payment refunded in full at Stripe already (in its dashboard) has nothing left: no
// refund is asked of Stripe, the command is done (before, Stripe refused the refund, and
// the command was retried and dead-lettered), and the payment stream says so, with what
// Stripe shows refunded, for the order to record it. A command delivered again asks
// nothing.
func TestStripeAsksNoRefundOfAPaymentRefundedInFullAlready(t *testing.T) {
	ctx := testContext(t)
	mock := stripemock.Start(t)
	svc, pool := newService(t, payments.Config{Provider: stripeProvider(mock)})
	mock.PaymentIntent("pi_back", "ord-back")
	mock.Charge("pi_back", 100_00, 100_00, "usd")
	r := payment.Refund{OrderID: "ord-back", PaymentID: "pi_back", Amount: 100_00, Currency: "USD", Reason: "order cancelled"}
	require.NoError(t, refundIn(ctx, t, svc, pool, r))
	require.NoError(t, refundIn(ctx, t, svc, pool, r))

	assert.Empty(t, mock.Requests("/v1/refunds"), "nothing asked of Stripe")
	assert.Len(t, mock.Requests("/v1/payment_intents/pi_back"), 1, "once done, a command delivered again reads nothing")
	recs, err := eventstore.Load(ctx, pool, payment.StreamID("ord-back"))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "payment.already_refunded.v1", recs[0].Name)
	var ev struct {
		PaymentID, Currency, Charge, Reason string
		Total                               int64
	}
	require.NoError(t, json.Unmarshal(recs[0].Payload, &ev))
	assert.Equal(t, "pi_back", ev.PaymentID)
	assert.Equal(t, int64(100_00), ev.Total)
	assert.Equal(t, "USD", ev.Currency)
	assert.Equal(t, "ch_back", ev.Charge)
	assert.Equal(t, "order cancelled", ev.Reason)
}

// A payment whose rest is refunded in Stripe's dashboard between the read and the refund
// (Stripe refuses it: charge_already_refunded) had nothing left: the command is done, as
// for a payment read refunded in full, and is not retried into a dead letter.
func TestStripeRefundRefusedAsRefundedAlreadyHadNothingLeft(t *testing.T) {
	ctx := testContext(t)
	stripeAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(`{"id":"pi_race","object":"payment_intent","metadata":{"order_id":"ord-race"},` +
				`"latest_charge":{"id":"ch_race","object":"charge","amount":10000,"amount_refunded":3000,"currency":"eur","refunded":false}}`))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"charge_already_refunded","message":"Charge ch_race has already been refunded."}}`))
	}))
	t.Cleanup(stripeAPI.Close)
	provider := payments.NewStripe(payments.StripeConfig{SecretKey: "sk_test_ordermill", APIBase: stripeAPI.URL, SuccessURL: "https://shop.example/paid"})
	given, err := provider.Refund(ctx, payment.Refund{OrderID: "ord-race", PaymentID: "pi_race", Amount: 100_00, Currency: "EUR", Reason: "order cancelled"}, 0)
	require.NoError(t, err)
	assert.Equal(t, payments.GivenBack{Currency: "EUR", Total: 100_00, Charge: "ch_race"}, given, "no refund made: the whole charge refunded")
}

// stripeRefund is the amount and currency (upper case, as the service keeps currencies) of
// the refund object stripe-mock answered call with.
func stripeRefund(t *testing.T, call stripemock.Request) payments.GivenBack {
	t.Helper()
	var re struct {
		ID       string `json:"id"`
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}
	require.NoError(t, json.Unmarshal(call.Response, &re), "%s", call.Response)
	return payments.GivenBack{RefundID: re.ID, Amount: re.Amount, Currency: strings.ToUpper(re.Currency)}
}

// An order given up has its Checkout Session expired at Stripe (stripe-mock checks the
// request as Stripe's API would), so the customer can no longer pay it there.
func TestStripeExpiresTheSessionOfAnOrderGivenUp(t *testing.T) {
	ctx := testContext(t)
	mock := stripemock.Start(t)
	provider := stripeProvider(mock)
	svc, pool := newService(t, payments.Config{Provider: provider})
	sess, _, err := createInTx(ctx, pool, svc, payment.CreateSession{OrderID: "ord-given-up", Amount: 500, Currency: "EUR"})
	require.NoError(t, err)

	paid, err := provider.ExpireSession(ctx, sess.SessionID, 0)
	require.NoError(t, err)
	assert.Empty(t, paid.PaymentID)
	calls := mock.Requests("/v1/checkout/sessions/" + sess.SessionID + "/expire")
	require.Len(t, calls, 1)
	assert.Equal(t, "POST", calls[0].Method)
	assert.Equal(t, 200, calls[0].Status)
	assert.Equal(t, payments.ExpireIdempotencyKey(sess.SessionID), calls[0].IdempotencyKey)
}

// With Stripe the session's status is read from Stripe, where the customer pays: the
// service's row stayed "open" after the order was paid (the payment comes to the orders
// service as a webhook). Paid: completed, with its payment intent; expired at Stripe:
// expired; complete but not paid yet (a delayed method): still open.
func TestStripeSessionsReadAsStripeHasThem(t *testing.T) {
	ctx := testContext(t)
	mock := stripemock.Start(t)
	svc, pool := newService(t, payments.Config{Provider: stripeProvider(mock)})
	sess, _, err := createInTx(ctx, pool, svc, payment.CreateSession{OrderID: "ord-paid-at-stripe", Amount: 500, Currency: "EUR"})
	require.NoError(t, err)
	read := func() payments.Session {
		t.Helper()
		rec := httptest.NewRecorder()
		svc.Handler().ServeHTTP(rec, asOrders(httptest.NewRequest(http.MethodGet, "/api/payments/sessions/ord-paid-at-stripe", nil)))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		return decode[payments.Session](t, rec)
	}
	mock.CheckoutSession(sess.SessionID, "open", "unpaid", "")
	assert.Equal(t, payments.StatusOpen, read().Status)
	mock.CheckoutSession(sess.SessionID, "complete", "unpaid", "")
	assert.Equal(t, payments.StatusOpen, read().Status, "a delayed payment method has not paid yet")
	mock.CheckoutSession(sess.SessionID, "complete", "paid", "pi_paid_at_stripe")
	paid := read()
	assert.Equal(t, payment.StatusCompleted, paid.Status)
	assert.Equal(t, "pi_paid_at_stripe", paid.PaymentID)
	mock.CheckoutSession(sess.SessionID, "expired", "unpaid", "")
	assert.Equal(t, payments.StatusExpired, read().Status)
	assert.Len(t, mock.Requests("/v1/checkout/sessions/"+sess.SessionID), 4, "each read asks Stripe")
}

// Stripe down (no answer, or a 5xx after stripe-go's own retries) is an outage: the
// command is retried for as long as eventstore.Outage allows, not merely the ~3 s of a
// failing message, so a refund asked for during an outage of minutes is still made. A
// request Stripe refuses on its merits is not: it fails as before, Stripe's message kept.
func TestStripeDownIsAnOutageAndARefusalIsNot(t *testing.T) {
	ctx := testContext(t)
	refund := payment.Refund{OrderID: "ord-out", PaymentID: "pi_out", Reason: "order cancelled"}
	provider := func(base string) *payments.Stripe {
		return payments.NewStripe(payments.StripeConfig{SecretKey: "sk_test_ordermill", APIBase: base, SuccessURL: "https://shop.example/paid"})
	}
	answering := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}

	_, err := provider("http://127.0.0.1:1").Refund(ctx, refund, 0)
	require.Error(t, err)
	assert.True(t, eventstore.IsOutage(err), "no answer at all: %v", err)

	_, err = provider(answering(http.StatusServiceUnavailable, `{"error":{"type":"api_error","message":"Stripe is down"}}`)).Refund(ctx, refund, 0)
	require.Error(t, err)
	assert.True(t, eventstore.IsOutage(err), "a 503: %v", err)

	_, err = provider(answering(http.StatusTooManyRequests, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`)).Refund(ctx, refund, 0)
	require.Error(t, err)
	assert.True(t, eventstore.IsOutage(err), "rate limited: %v", err)

	_, err = provider(answering(http.StatusBadRequest, `{"error":{"type":"invalid_request_error","message":"No such payment_intent: 'pi_out'"}}`)).Refund(ctx, refund, 0)
	require.Error(t, err)
	assert.False(t, eventstore.IsOutage(err), "a refusal is no outage: %v", err)
	assert.Contains(t, err.Error(), "No such payment_intent")

	// A session Stripe would not expire is read back; Stripe down while reading is an
	// outage, not the refusal before it (which dead-lettered the expiry in seconds).
	refusingThenDown := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/expire") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"Only Checkout Sessions with a status in [\"open\"] can be expired."}}`))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"type":"api_error","message":"Stripe is down"}}`))
	}))
	t.Cleanup(refusingThenDown.Close)
	_, err = provider(refusingThenDown.URL).ExpireSession(ctx, "cs_out", 0)
	require.Error(t, err)
	assert.True(t, eventstore.IsOutage(err), "the read back failed: %v", err)
}

// stripe-go printed a plain-text "[ERROR] Request failed" line on stderr for each failed
// try, in the middle of the JSON log (a probe counted thousands during a Stripe outage).
// The error reaches the caller, which logs it; stripe-go itself says nothing.
func TestStripeWritesNothingOfItsOwnToStderr(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // a Stripe that does not answer
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stderr := os.Stderr
	os.Stderr = w
	_, callErr := payments.NewStripe(payments.StripeConfig{SecretKey: "sk_test_ordermill", APIBase: closed.URL, SuccessURL: "https://shop.example/paid"}).
		OpenSession(testContext(t), payment.CreateSession{OrderID: "ord-outage", Amount: 500, Currency: "EUR", Lines: []payment.Line{{SKU: "SKU-002", Quantity: 1, UnitPrice: 500}}}, 0)
	os.Stderr = stderr
	require.NoError(t, w.Close())
	written, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Error(t, callErr, "Stripe did not answer")
	assert.Empty(t, string(written))
}
