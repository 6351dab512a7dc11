// Package stripeevent reads the Event objects Stripe posts to the payment webhook into the
// workflow's payment webhooks: which order, which Checkout Session and payment intent,
// completed or failed, for what amount and currency. It decides nothing about the order:
// the workflow checks the session, amount and currency against the order's own.
// Amounts cross from Stripe's unit to Ordermill's here, by payment.FromProviderUnit.
package stripeevent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// Failure reasons the workflow records for the failures Stripe reports.
const (
	ReasonExpired     = payment.ReasonSessionExpired
	ReasonAsyncFailed = "async_payment_failed"
)

// Is reports whether body is a Stripe Event object rather than the simulator's flat body.
func Is(body []byte) bool {
	var probe struct {
		Object string `json:"object"`
	}
	return json.Unmarshal(body, &probe) == nil && probe.Object == "event"
}

// Construct verifies a signed Event with stripe-go's webhook.ConstructEvent rules within
// webhooksig.Tolerance. The account's API version may differ from stripe-go's: only fields
// stable across versions are read.
func Construct(body []byte, header, secret string) (stripe.Event, error) {
	return webhook.ConstructEventWithOptions(body, header, secret, webhook.ConstructEventOptions{
		Tolerance: webhooksig.Tolerance, IgnoreAPIVersionMismatch: true,
	})
}

// ReadRefund reads a charge.refunded event: money given back at Stripe for a payment
// intent, by Ordermill or in Stripe's dashboard. ok is false for other event types, and
// for a charge made without a payment intent (not through Ordermill's Checkout). The
// charge does not name the order: the orders service finds it by the payment intent. The
// refund named is the charge's latest, when the event carries its refunds (older API
// versions), else the charge itself: every refund of the charge then names it, and what
// tells them apart is the running total, amount_refunded (order.Order.RefundAdds).
func ReadRefund(ev stripe.Event) (r payment.RefundReport, ok bool, err error) {
	if ev.Type != stripe.EventTypeChargeRefunded {
		return r, false, nil
	}
	var ch stripe.Charge
	if err := decodeObject(ev, &ch, "charge"); err != nil {
		return r, false, err
	}
	if ch.PaymentIntent == nil || ch.PaymentIntent.ID == "" {
		return r, false, nil
	}
	currency := strings.ToUpper(string(ch.Currency))
	refunded, err := payment.FromProviderUnit(ch.AmountRefunded, currency)
	if err != nil {
		return r, false, fmt.Errorf("%s: amount_refunded %w", ev.Type, err)
	}
	// The order is the one the charge's metadata names, which Stripe copies from the payment
	// intent's when it confirms it (the session's payment_intent_data): what the inbox
	// goes by when no order records the payment yet.
	r = payment.RefundReport{ID: ev.ID, OrderID: ch.Metadata["order_id"], PaymentID: ch.PaymentIntent.ID, RefundID: ch.ID,
		Amount: refunded, Currency: currency, Full: ch.Refunded}
	if ch.Refunds != nil && len(ch.Refunds.Data) > 0 && ch.Refunds.Data[0].ID != "" {
		r.RefundID = ch.Refunds.Data[0].ID
	}
	return r, true, nil
}

// Read maps ev onto the workflow: what it says about an order's payment. handled is false
// for event types the workflow does not act on, and for sessions that name no order (not
// opened by Ordermill); Stripe is then told 200 and nothing happens.
//
//   - checkout.session.completed with payment_status=paid, and
//     checkout.session.async_payment_succeeded: completed;
//   - checkout.session.completed still unpaid (a delayed method): nothing yet;
//   - checkout.session.async_payment_failed and checkout.session.expired: failed.
//
// payment_intent.payment_failed is one declined attempt: Checkout keeps the session open
// and lets the customer try again, so it ends nothing (until 2026-12-07 it cancelled the
// order at the first decline, and the customer's second try was refunded). The session's
// expiry, at the payment deadline at the latest, is the failure.
func Read(ev stripe.Event) (p payment.Webhook, handled bool, err error) {
	p.ID = ev.ID
	switch ev.Type {
	case stripe.EventTypeCheckoutSessionCompleted, stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded,
		stripe.EventTypeCheckoutSessionAsyncPaymentFailed, stripe.EventTypeCheckoutSessionExpired:
	default:
		return p, false, nil
	}
	var cs stripe.CheckoutSession
	if err := decodeObject(ev, &cs, "Checkout Session"); err != nil {
		return p, false, err
	}
	p.OrderID = cs.Metadata["order_id"]
	if p.OrderID == "" {
		p.OrderID = cs.ClientReferenceID
	}
	p.SessionID, p.Currency = cs.ID, strings.ToUpper(string(cs.Currency))
	// An amount Ordermill cannot count stays 0, which pays no order: the payment is
	// refused as not the order's (a payment_mismatch ticket, and refunded), where rounded
	// down it could equal the order's total.
	p.Amount, _ = payment.FromProviderUnit(cs.AmountTotal, p.Currency)
	if cs.PaymentIntent != nil {
		p.PaymentID = cs.PaymentIntent.ID
	}
	switch ev.Type {
	case stripe.EventTypeCheckoutSessionCompleted:
		if cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
			return p, false, nil
		}
		p.Status = payment.StatusCompleted
	case stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded:
		p.Status = payment.StatusCompleted
	case stripe.EventTypeCheckoutSessionAsyncPaymentFailed:
		p.Status, p.Reason = payment.StatusFailed, ReasonAsyncFailed
	default:
		p.Status, p.Reason = payment.StatusFailed, ReasonExpired
	}
	return p, p.OrderID != "", nil
}

// decodeObject decodes the object ev is about into v, a what. An event of a type the
// workflow acts on that carries no object is refused, not read as an empty one (a
// missing data field panicked here; a null object was answered 200 ignored, and Stripe
// would not have sent it again).
func decodeObject(ev stripe.Event, v any, what string) error {
	if ev.Data == nil || len(bytes.TrimSpace(ev.Data.Raw)) == 0 || string(bytes.TrimSpace(ev.Data.Raw)) == "null" {
		return fmt.Errorf("%s carries no data.object", ev.Type)
	}
	// Told in JSON's terms (amount_total must be an integer), as the API tells a body's
	// faults, not Go's (a struct field's type), which this said to the sender.
	if err := json.Unmarshal(ev.Data.Raw, v); err != nil {
		return fmt.Errorf("the %s of %s: %s", what, ev.Type, apperr.ErrorMessage(httpx.DecodeError(err, ev.Data.Raw)))
	}
	return nil
}
