package payments

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v84"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
)

// Stripe is the provider of production: Stripe Checkout sessions and Stripe refunds,
// through stripe-go. Every call carries an idempotency key derived from the order (a
// session), the payment (a refund) or the session (its expiry), so a command run again
// after a lost commit gets Stripe's first answer back instead of a second session or
// refund; after a refusal Stripe keeps under the key (keepsRefusal), or a failure of its
// own it replays under it (replayedFailure), the next key (IdempotencyKeyAfter).
type Stripe struct {
	client     *stripe.Client
	successURL string
}

// StripeConfig configures the Stripe provider.
type StripeConfig struct {
	// SecretKey is the account's secret API key (sk_…).
	SecretKey string
	// APIBase replaces https://api.stripe.com; tests point it at stripe-mock.
	APIBase string
	// SuccessURL is where Checkout sends the customer after paying; Stripe replaces
	// {CHECKOUT_SESSION_ID} in it.
	SuccessURL string
	// HTTPClient makes the calls; one with a 10 s timeout if nil. A call runs in the
	// command's transaction, so a command's calls, with their retries, end within
	// callBudget, well within eventstore.IdleInTransactionTimeout.
	HTTPClient *http.Client
}

// NewStripe builds the Stripe provider.
func NewStripe(cfg StripeConfig) *Stripe {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	backend := &stripe.BackendConfig{
		HTTPClient:        cfg.HTTPClient,
		MaxNetworkRetries: stripe.Int64(2),
		// stripe-go's own lines are plain text on stderr, one per failed try, in the middle
		// of a JSON log (a probe counted thousands in an outage); every error they report
		// reaches the caller, whose log line (thinned, with the order) says it.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.APIBase != "" {
		backend.URL = stripe.String(strings.TrimSuffix(cfg.APIBase, "/"))
	}
	return &Stripe{
		client:     stripe.NewClient(cfg.SecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(backend))),
		successURL: cfg.SuccessURL,
	}
}

// SessionIdempotencyKey is the key of the one Checkout Session of an order.
func SessionIdempotencyKey(orderID string) string { return "ordermill-checkout-" + orderID }

// IdempotencyKeyAfter is the key a session, a refund or an expiry whose first key is key
// is asked under once Stripe refused it under spent of its keys (ErrKeySpent): key
// itself, then key-1, key-2 … Stripe keeps a refusal under its key for 24 h, and a 500 of
// its own.
func IdempotencyKeyAfter(key string, spent int) string {
	if spent == 0 {
		return key
	}
	return key + "-" + strconv.Itoa(spent)
}

// callBudget bounds a command's calls to Stripe, each with its retries (a refund's intent
// read and refund, an expiry and its read back): they run in the command's transaction,
// which must end well inside eventstore.IdleInTransactionTimeout, or the command comes
// again (the idempotency keys make that safe).
const callBudget = 30 * time.Second

// ExpireIdempotencyKey is the first key of the expiry of a Checkout Session: a command
// retried after an expiry whose answer was lost is answered as that one was, where a key
// of its own (stripe-go's random one) asked again, was refused, and read the session
// back. After a 500 Stripe replayed under it, the expiry is asked under the next key
// (IdempotencyKeyAfter), as a session or a refund is: the replayed 500 closed the
// session at no try for 24 h.
func ExpireIdempotencyKey(sessionID string) string { return "ordermill-expire-" + sessionID }

// RefundIdempotencyKey is the key of the one refund Ordermill makes of a payment: of what
// is left of it, asked with no amount. Parts given back in Stripe's dashboard are made
// under keys of Stripe's own, so it names no other refund of the payment, and every
// attempt of the command asks Stripe the same under it, or, once Stripe refused it
// under it, under the next (IdempotencyKeyAfter).
func RefundIdempotencyKey(paymentID string) string { return "ordermill-refund-" + paymentID }

// OpenSession creates a Checkout Session in payment mode for the order's lines (or, when
// they do not add up to the amount, one line for the amount), referenced by the order id
// both as client_reference_id and as metadata.order_id, on the session and on its payment
// intent, so every event about it names the order.
// It leaves the session's expiry to Stripe (payment.SessionTTL): a time of ours would differ when
// the command comes again, and Stripe refuses a repeated idempotency key whose parameters
// differ, so the order could never be paid.
//
// Asked under the next key after a 500 Stripe replayed (replayedFailure), it opens a
// session without looking for one Stripe may have made before failing: that one's URL
// was never given to anybody (the 500 carries none), so nobody can pay it, and Stripe
// expires it unpaid within 24 h; its expiry names another session than the order's, and
// is refused as such (a payment_mismatch ticket, should the order still wait then).
// Stripe lists no sessions by order (no filter on client_reference_id or metadata), and
// paging through the account's recent sessions at such a try would cost more than the
// rare orphan.
func (s *Stripe) OpenSession(ctx context.Context, cmd payment.CreateSession, spent int) (OpenedSession, error) {
	ctx, cancel := context.WithTimeout(ctx, callBudget)
	defer cancel()
	lines, err := lineItems(cmd)
	if err != nil {
		return OpenedSession{}, fmt.Errorf("stripe: open a Checkout Session for order %s: %w", cmd.OrderID, err)
	}
	currency := strings.ToLower(cmd.Currency)
	meta := map[string]string{"order_id": cmd.OrderID}
	params := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		LineItems:         lines,
		Currency:          stripe.String(currency),
		ClientReferenceID: stripe.String(cmd.OrderID),
		Metadata:          meta,
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{Metadata: meta},
		SuccessURL:        stripe.String(s.successURL),
	}
	if cmd.CustomerEmail != "" {
		params.CustomerEmail = stripe.String(cmd.CustomerEmail)
	}
	params.SetIdempotencyKey(IdempotencyKeyAfter(SessionIdempotencyKey(cmd.OrderID), spent))
	cs, err := s.client.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return OpenedSession{}, keyed(err, stripeError("open a Checkout Session", err))
	}
	opened := OpenedSession{ID: cs.ID, URL: cs.URL}
	if cs.ExpiresAt != 0 {
		opened.ExpiresAt = time.Unix(cs.ExpiresAt, 0)
	}
	return opened, nil
}

// lineItems are what the customer is billed at Stripe, in its unit of the currency: the
// order's lines when they add up to its amount and each is priced in a unit Stripe can
// charge, else one line for the amount (a line priced in a fraction of a yen may still
// add up to whole yen).
func lineItems(cmd payment.CreateSession) ([]*stripe.CheckoutSessionCreateLineItemParams, error) {
	if cmd.LinesMatch() {
		if lines, err := stripeLines(cmd.Currency, cmd.Lines); err == nil {
			return lines, nil
		}
	}
	return stripeLines(cmd.Currency, []payment.Line{{Name: "Order " + cmd.OrderID, Quantity: 1, UnitPrice: cmd.Amount}})
}

// stripeLines are lines priced in currency as Stripe's line items.
func stripeLines(currency string, lines []payment.Line) ([]*stripe.CheckoutSessionCreateLineItemParams, error) {
	out := make([]*stripe.CheckoutSessionCreateLineItemParams, 0, len(lines))
	for _, l := range lines {
		unit, err := payment.ToProviderUnit(l.UnitPrice, currency)
		if err != nil {
			return nil, err
		}
		out = append(out, &stripe.CheckoutSessionCreateLineItemParams{
			Quantity: stripe.Int64(l.Quantity),
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(strings.ToLower(currency)),
				UnitAmount:  stripe.Int64(unit),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String(l.Label())},
			},
		})
	}
	return out, nil
}

// Refund gives back what is still taken of the payment intent: a part of it may have been
// refunded in Stripe's dashboard already. It reads the intent first, with its charge and
// the charge's refunds. One whose metadata.order_id (set on every session OpenSession
// opens) names another order, or none, is not refunded (ErrNotTheOrders); nor is one
// Stripe refuses to read or refund for a cause of its own (ErrProviderRefuses: disputed,
// not at Stripe, not refundable; refusesRefund). One refunded in full already is not
// asked for a refund either: GivenBack says nothing was left, unless the refund that took
// the rest is Ordermill's own (its metadata names the order), made by an attempt whose
// commit was lost, which is given back as that attempt's. Otherwise the
// refund asks for no amount, and Stripe gives back what is left as it counts it: an amount
// read a moment before would be refused had a part been refunded meanwhile, and an attempt
// after a lost commit would ask another amount under the same key, which Stripe refuses.
func (s *Stripe) Refund(ctx context.Context, r payment.Refund, spent int) (GivenBack, error) {
	ctx, cancel := context.WithTimeout(ctx, callBudget)
	defer cancel()
	read := &stripe.PaymentIntentRetrieveParams{}
	read.AddExpand("latest_charge.refunds")
	pi, err := s.client.V1PaymentIntents.Retrieve(ctx, r.PaymentID, read)
	if err != nil {
		return GivenBack{}, refundError("read payment "+r.PaymentID, r, err)
	}
	if owner := pi.Metadata["order_id"]; owner != r.OrderID {
		return GivenBack{}, notTheOrders(r, owner)
	}
	ch := pi.LatestCharge
	if ch != nil && ch.Refunded {
		return takenRest(ch, r.OrderID), nil
	}
	params := &stripe.RefundCreateParams{
		PaymentIntent: stripe.String(r.PaymentID),
		Reason:        stripe.String(string(stripe.RefundReasonRequestedByCustomer)),
		Metadata:      map[string]string{"order_id": r.OrderID, "reason": r.Reason},
	}
	params.SetIdempotencyKey(IdempotencyKeyAfter(RefundIdempotencyKey(r.PaymentID), spent))
	re, err := s.client.V1Refunds.Create(ctx, params)
	var refused *stripe.Error
	if ch != nil && errors.As(err, &refused) && refused.Code == stripe.ErrorCodeChargeAlreadyRefunded {
		return givenBack(nil, ch), nil // the rest refunded in Stripe's dashboard since the read
	}
	if err != nil {
		return GivenBack{}, keyed(err, refundError("refund payment "+r.PaymentID, r, err))
	}
	return givenBack(re, ch), nil
}

// refundError is what Stripe's failure err to what (the read of r's payment, or its
// refund) means for the refund: a refusal for good (refusesRefund), which the command is
// answered with (ErrProviderRefuses, and ErrDisputed for a disputed charge; RefundRefused
// and a ticket), or else stripeError's
// failure, tried again, then dead-lettered for a re-drive.
func refundError(what string, r payment.Refund, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) || !refusesRefund(se) {
		return stripeError(what, err)
	}
	refused := ErrProviderRefuses
	if se.Code == stripe.ErrorCodeChargeDisputed || se.Code == stripe.ErrorCodeRefundDisputedPayment {
		refused = fmt.Errorf("%w: %w", ErrProviderRefuses, ErrDisputed)
	}
	return eventstore.Permanent(fmt.Errorf("stripe: %s of order %s: %w: %w", what, r.OrderID, refused,
		apperr.Errorf(apperr.CodeUnprocessable, "Stripe refuses it: %s (%s, request %s); nothing refunded", se.Msg, se.Code, se.RequestID)))
}

// keyed is failure, Stripe's failure err of a call under an idempotency key, marked
// ErrKeySpent when Stripe keeps err under the key (keepsRefusal) or answered it replayed
// (replayedFailure).
func keyed(err, failure error) error {
	var se *stripe.Error
	if errors.As(err, &se) && (keepsRefusal(se) || replayedFailure(se)) {
		return fmt.Errorf("%w; %w", failure, ErrKeySpent)
	}
	return failure
}

// keepsRefusal reports whether Stripe keeps its refusal se under the call's idempotency
// key, answering every repeat under it with se for 24 h: a 4xx once the endpoint began
// (a balance too low, a payment method off, a refusal of the payment's own). Not what
// it answers before its idempotency layer, which a repeat may find mended: a key it does
// not take (401, 403), its rate limit (429, lock_timeout), the key in use by a request
// still running (409); nor an idempotency_error, which says the key holds another
// request's answer, perhaps the session or the refund that request made. A failure of
// its own (5xx) is replayedFailure's.
func keepsRefusal(se *stripe.Error) bool {
	switch se.HTTPStatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.Type != stripe.ErrorTypeIdempotency &&
		se.Code != stripe.ErrorCodeLockTimeout && se.Code != stripe.ErrorCodeIdempotencyKeyInUse
}

// replayedFailure reports whether se is a failure of Stripe's own (5xx) that Stripe
// answered from what it keeps under the call's idempotency key (Idempotent-Replayed:
// true): it keeps a 500 of its API as it keeps a refusal, and answers every repeat under
// the key with it for 24 h, however well it is again. Whether it made the session or the
// refund before it failed it does not say; the next key is safe all the same (see
// docs/ARCHITECTURE.md, "Payment providers"). A 5xx answered afresh may be one Stripe
// does not keep (a gateway's 502, 503, 504, before the API), so it spends no key: the
// next try asks under the same one, and meets the object made or the 500 replayed.
func replayedFailure(se *stripe.Error) bool {
	return se.HTTPStatusCode >= 500 && se.LastResponse != nil && se.LastResponse.Header.Get("Idempotent-Replayed") == "true"
}

// refusesRefund reports whether Stripe refused a refund, or the read of its payment, for
// a cause of the payment's own, which no later try and no fix of Ordermill's mends: the
// payment is disputed (the dispute decides where its money goes), Stripe has no such
// payment or charge, it has no charge Stripe can refund (not succeeded, or of a method
// refunds do not reach), or not for what is left of it (the refund asks for no amount, so
// Stripe counts that itself). Everything else is no refusal of the payment: Stripe down
// or busy (stripeError's outages), a key Stripe does not take (wrong, expired, restricted,
// of the other mode: its "no such" names the mode the object is in), a balance too low
// for now, a request Ordermill shaped wrong, an idempotency key in use: a later try, or a
// person's fix and a re-drive, mends them. charge_already_refunded is no failure at all
// (Refund).
func refusesRefund(se *stripe.Error) bool {
	switch se.Code {
	case stripe.ErrorCodeChargeDisputed, stripe.ErrorCodeRefundDisputedPayment,
		stripe.ErrorCodeChargeNotRefundable, stripe.ErrorCodePaymentIntentUnexpectedState,
		stripe.ErrorCodeAmountTooLarge, stripe.ErrorCodeAmountTooSmall:
		return true
	case stripe.ErrorCodeResourceMissing:
		return !strings.Contains(se.Msg, "a similar object exists in")
	}
	return false
}

// takenRest is what became of charge ch, refunded in full: Ordermill's own refund of
// order orderID's payment took the rest (an attempt whose commit was lost made it), or
// nothing was left for it.
func takenRest(ch *stripe.Charge, orderID string) GivenBack {
	if ch.Refunds != nil {
		for _, re := range ch.Refunds.Data {
			if re.Metadata["order_id"] == orderID && re.Status != stripe.RefundStatusFailed && re.Status != stripe.RefundStatusCanceled {
				return givenBack(re, ch)
			}
		}
	}
	return givenBack(nil, ch)
}

// givenBack is what refund re of charge ch gave back, the whole charge refunded with it;
// re nil, nothing was left to give back. ch may be nil (an intent read without one), and
// what it would tell is then not said. An amount Ordermill cannot count (see
// payment.FromProviderUnit) is not said either: 0, as the simulator's.
func givenBack(re *stripe.Refund, ch *stripe.Charge) GivenBack {
	var g GivenBack
	if ch != nil {
		g.Charge, g.Currency = ch.ID, strings.ToUpper(string(ch.Currency))
		g.Total, _ = payment.FromProviderUnit(ch.Amount, g.Currency)
	}
	if re != nil {
		g.RefundID, g.Currency = re.ID, strings.ToUpper(string(re.Currency))
		g.Amount, _ = payment.FromProviderUnit(re.Amount, g.Currency)
	}
	return g
}

// ExpireSession expires the Checkout Session. Stripe refuses to expire one that is no
// longer open (paid, or expired already); it is then read back, and one not open is no
// error: there is nothing left to close. One paid is said so: the order was given up
// meanwhile, and its money must come back even if Stripe's webhook never does.
//
// A read back that fails is the error, not the refusal it followed: an outage while reading
// is retried as one, where the refusal alone (a plain invalid request) became a dead letter
// within seconds and left the order waiting for its payment (a review).
//
// A failure Stripe keeps under the key (keyed) spends it: a 500 replayed, or a refusal
// the read back does not explain, the session still open. Asking anew is always safe: an
// expiry Stripe made before its 500 leaves the session expired, and the next key's is
// refused and read back as one no longer open.
func (s *Stripe) ExpireSession(ctx context.Context, sessionID string, spent int) (Paid, error) {
	ctx, cancel := context.WithTimeout(ctx, callBudget)
	defer cancel()
	params := &stripe.CheckoutSessionExpireParams{}
	params.SetIdempotencyKey(IdempotencyKeyAfter(ExpireIdempotencyKey(sessionID), spent))
	_, err := s.client.V1CheckoutSessions.Expire(ctx, sessionID, params)
	if err == nil {
		return Paid{}, nil
	}
	var refused *stripe.Error
	if errors.As(err, &refused) && refused.Type == stripe.ErrorTypeInvalidRequest {
		cs, rerr := s.client.V1CheckoutSessions.Retrieve(ctx, sessionID, &stripe.CheckoutSessionRetrieveParams{})
		if rerr != nil {
			return Paid{}, stripeError("read back Checkout Session "+sessionID+", which Stripe would not expire", rerr)
		}
		if cs.Status != stripe.CheckoutSessionStatusOpen {
			return paidOf(cs), nil
		}
	}
	return Paid{}, keyed(err, stripeError("expire Checkout Session "+sessionID, err))
}

// paidOf is the payment of a Checkout Session Stripe shows complete and paid; zero when
// it shows none.
func paidOf(cs *stripe.CheckoutSession) Paid {
	if cs.Status != stripe.CheckoutSessionStatusComplete || cs.PaymentStatus == stripe.CheckoutSessionPaymentStatusUnpaid || cs.PaymentIntent == nil {
		return Paid{}
	}
	currency := strings.ToUpper(string(cs.Currency))
	// An amount Ordermill cannot count (see payment.FromProviderUnit) stays 0, which pays no order.
	amount, _ := payment.FromProviderUnit(cs.AmountTotal, currency)
	return Paid{PaymentID: cs.PaymentIntent.ID, Amount: amount, Currency: currency}
}

// Observe reads an open session back from Stripe, where the customer pays: its payment
// comes to the orders service as a webhook, and the service's row stayed "open" after
// the order was paid. A paid session is completed, with its payment intent; one Stripe
// expired is expired; one complete but not paid yet (a delayed method) is still open. A
// session the service closed itself is as it recorded it.
func (s *Stripe) Observe(ctx context.Context, sess Session) (Session, error) {
	if sess.Status != StatusOpen {
		return sess, nil
	}
	cs, err := s.client.V1CheckoutSessions.Retrieve(ctx, sess.SessionID, &stripe.CheckoutSessionRetrieveParams{})
	if err != nil {
		return sess, stripeError("read Checkout Session "+sess.SessionID, err)
	}
	switch {
	case cs.Status == stripe.CheckoutSessionStatusComplete && cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusUnpaid:
		sess.Status, sess.PaymentID = payment.StatusCompleted, paidOf(cs).PaymentID
	case cs.Status == stripe.CheckoutSessionStatusExpired:
		sess.Status = StatusExpired
	}
	return sess, nil
}

// stripeError keeps Stripe's own message and request id, which support needs to find the
// call in the Stripe dashboard. The command is retried, then dead-lettered; while Stripe
// is down (no answer, a 5xx, a 429 after stripe-go's own retries, a request of ours still
// in flight there) it is retried for as long as eventstore.Outage allows, since a refund
// or a session asked for during an outage of minutes must still be made.
func stripeError(what string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return eventstore.Outage(fmt.Errorf("stripe: %s: %w", what, err))
	}
	err = fmt.Errorf("stripe: %s: %s (HTTP %d, %s, request %s)", what, se.Msg, se.HTTPStatusCode, se.Code, se.RequestID)
	if se.HTTPStatusCode >= 500 || se.HTTPStatusCode == http.StatusTooManyRequests ||
		se.Code == stripe.ErrorCodeLockTimeout || se.Code == stripe.ErrorCodeIdempotencyKeyInUse {
		return eventstore.Outage(err)
	}
	return err
}
