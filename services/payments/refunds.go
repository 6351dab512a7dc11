package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
)

// Refund is the payments.refund command's handling in tx, for tests that hold the
// transaction themselves, but for the answer to a refusal: the refusal is returned
// (ErrNotTheOrders, an invalid command), where the command on the log is answered with
// RefundRefused (refuseRefund).
func (s *Service) Refund(ctx context.Context, tx pgx.Tx, r payment.Refund) error {
	return s.refund(ctx, tx, eventstore.Metadata{CorrelationID: r.OrderID}, r)
}

// refund gives back what is still taken of r's payment through the provider, once: a
// payment refunded already by the service is acknowledged without a call, a payment of
// another order is refused (ErrNotTheOrders), as is one the provider refuses to refund
// for a cause of its own (ErrProviderRefuses), and the provider call carries an
// idempotency key derived from the payment (so a call repeated after a lost commit returns
// the first refund), the next one once the provider kept a refusal under it (spendKey). The refund, for the amount the provider says it gave back, is
// recorded with payment.Refunded on the order's payment stream in tx; a payment the
// provider shows refunded in full already, not by the service, is recorded with
// payment.AlreadyRefunded, nothing given back, so that the order knows and the command is
// not asked again.
func (s *Service) refund(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, r payment.Refund) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var done bool
	var owner *string
	var spent int
	var paidAt struct {
		amount   *int64
		currency *string
	}
	if err := tx.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM payments.refunds WHERE payment_id = $1),
		       (SELECT order_id FROM payments.sessions WHERE payment_id = $1 LIMIT 1),
		       coalesce((SELECT spent FROM payments.spent_keys WHERE call = 'refund' AND subject = $1), 0),
		       (SELECT amount FROM payments.sessions WHERE session_id = $2 AND order_id = $3),
		       (SELECT currency FROM payments.sessions WHERE session_id = $2 AND order_id = $3)`,
		r.PaymentID, r.SessionID, r.OrderID).Scan(&done, &owner, &spent, &paidAt.amount, &paidAt.currency); err != nil {
		return fmt.Errorf("read refunds: %w", err)
	}
	if done {
		s.logger.InfoContext(ctx, "payments: payment already refunded", "order_id", r.OrderID, "payment_id", r.PaymentID)
		return nil
	}
	if owner != nil && *owner != r.OrderID {
		return notTheOrders(r, *owner)
	}
	given, err := s.cfg.Provider.Refund(ctx, r, spent)
	err = s.spendKey(ctx, "refund", r.PaymentID, spent, err)
	if errors.Is(err, ErrNotTheOrders) || errors.Is(err, ErrProviderRefuses) {
		return err // the provider's refusal says it all, and it is permanent
	}
	if err != nil {
		return fmt.Errorf("refund payment %s of order %s: %w", r.PaymentID, r.OrderID, err)
	}
	// What the provider gave back is recorded when it says; otherwise what the order knows
	// is still taken: the payment's report, less the parts it knows refunded at the provider.
	// A payment reported without its amount was paid at the order's session it names, for
	// that session's amount; paid at none, its refund's amount is not said (until
	// 2026-12-07 it was not said either way, and the order's ticket could not say the rest).
	// The refund gave back all that was left, so the whole payment is refunded now: its
	// total, which bounds what the order records it as adding when a part was reported
	// after the order asked (the saga's recordRefund).
	if given.RefundID != "" && given.Amount == 0 {
		if r.Amount == 0 && paidAt.amount != nil {
			r.Amount, r.Currency = *paidAt.amount, *paidAt.currency
		}
		given.Amount, given.Currency = r.Rest(), r.Currency
		if given.Total == 0 {
			given.Total = r.Amount
		}
	}
	stream, recs, err := paymentStream(ctx, tx, r.OrderID)
	if err != nil {
		return err
	}
	version := len(recs) // a stream's versions run from 1 without gaps
	now := s.now()
	// ON CONFLICT waits for a concurrent refund of the same payment, then records nothing.
	// On the pipeline the tag is not known: the concurrent refund appended to the stream
	// too, so the append below fails on its version and the command comes again. A payment
	// with nothing left has its row too, with no refund id: asked again, it asks nobody.
	tag, err := tx.Exec(ctx, `
		INSERT INTO payments.refunds (payment_id, order_id, refund_id, amount, currency, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (payment_id) DO NOTHING`,
		r.PaymentID, r.OrderID, given.RefundID, given.Amount, given.Currency, r.Reason, now)
	if err != nil {
		return fmt.Errorf("record refund: %w", err)
	}
	if !eventstore.Queues(tx) && tag.RowsAffected() == 0 {
		return nil
	}
	ev := eventstore.Event{Name: payment.RefundedName, Data: payment.Refunded{
		OrderID: r.OrderID, PaymentID: r.PaymentID, RefundID: given.RefundID, Amount: given.Amount, Total: given.Total,
		Currency: given.Currency, Charge: given.Charge, Reason: r.Reason, At: now,
	}}
	if given.RefundID == "" {
		s.logger.InfoContext(ctx, "payments: payment refunded in full already, not by Ordermill: nothing left to give back",
			"order_id", r.OrderID, "payment_id", r.PaymentID)
		ev = eventstore.Event{Name: payment.AlreadyRefundedName, Data: payment.AlreadyRefunded{
			OrderID: r.OrderID, PaymentID: r.PaymentID, Total: given.Total, Currency: given.Currency, Charge: given.Charge, Reason: r.Reason, At: now,
		}}
	} else {
		s.logger.InfoContext(ctx, "payments: payment refunded", "order_id", r.OrderID, "payment_id", r.PaymentID, "refund_id", given.RefundID)
	}
	_, err = eventstore.Append(ctx, tx, stream, version, meta, ev)
	return err
}

// paymentStream is the order's payment stream and its events. A payment stream is short
// (its session, its refunds): it is read before anything is written, so on the
// consumer's pipeline every write goes with the commit, and a concurrent append fails
// this one on its version.
func paymentStream(ctx context.Context, tx pgx.Tx, orderID string) (eventstore.Stream, []eventstore.Recorded, error) {
	stream := eventstore.Stream{Type: payment.StreamType, ID: payment.StreamID(orderID)}
	recs, err := eventstore.Load(ctx, tx, stream.ID)
	return stream, recs, err
}

// aboutPayment is whether an event is one of names about payment id.
func aboutPayment(id string, names ...string) func(eventstore.Recorded) bool {
	return func(rec eventstore.Recorded) bool {
		var about struct {
			PaymentID string `json:"paymentId"`
		}
		return slices.Contains(names, rec.Name) && json.Unmarshal(rec.Payload, &about) == nil && about.PaymentID == id
	}
}

// ErrNotTheOrders refuses a refund of a payment made for another order than the one that
// asks for it. The order asks on the strength of a signed payment report naming the
// payment; a report that names another order's payment (a bug, or a signing secret in the
// wrong hands) must not give that order's money back. Nothing is given back, and the
// command is answered with RefundRefused, for a person to look at (refuseRefund).
var ErrNotTheOrders = errors.New("the payment was made for another order")

// notTheOrders is the permanent failure of r, whose payment the provider or the service's
// own sessions say was made for order owner ("" when it names none). Its message
// (apperr.ErrorMessage) says whose the payment is, for the order's ticket.
func notTheOrders(r payment.Refund, owner string) error {
	if owner == "" {
		owner = "no order of ours"
	} else {
		owner = "order " + owner
	}
	return eventstore.Permanent(fmt.Errorf("refund payment %s of order %s: %w: %w", r.PaymentID, r.OrderID, ErrNotTheOrders,
		apperr.Errorf(apperr.CodeUnprocessable, "it was made for %s; nothing refunded", owner)))
}

// ErrProviderRefuses is the provider's refusal of a refund for a cause of the payment's
// own, whenever asked (at Stripe: the payment disputed, not there, not refundable; see
// refusesRefund). Nothing is given back, and the command is answered with RefundRefused,
// its reason the provider's word, for a person to settle (refuseRefund).
var ErrProviderRefuses = errors.New("the payment provider refuses to refund the payment")

// ErrDisputed is the provider's refusal (ErrProviderRefuses) of a refund of a payment whose
// charge the customer disputed: the dispute decides where its money goes, and the
// RefundRefused says so (Disputed), so that the order's ticket asks for the dispute to be
// answered rather than for a refund by hand.
var ErrDisputed = errors.New("the customer disputed the payment")

// refusedForGood reports whether a refund failed with err because it is refused whenever
// asked: a command the service's contract refuses (payment.Refund.Validate), a payment of
// another order, or a refund the provider refuses for a cause of the payment's own. Any
// other failure (the provider down, a refusal of its key, a balance too low for now) may
// be mended, and is retried, then dead-lettered for a re-drive.
func refusedForGood(err error) bool {
	return errors.Is(err, ErrNotTheOrders) || errors.Is(err, ErrProviderRefuses) || apperr.ErrorCode(err) == apperr.CodeInvalid
}

// refuseRefund answers a Refund command the service refuses for good (refused) with
// RefundRefused, so the saga opens a ticket on its order: dead-lettered, it left the money
// taken, with nothing on the order to say so, until a person found the dead letter. It
// is answered once a payment: a command that comes again (redelivered, or sent again by
// hand) meets the answer, or the payment's refund, and is acknowledged; a corrected
// command for the payment is carried out after it (refund). A command naming no order it
// could be about cannot be answered, and is dead-lettered.
func (s *Service) refuseRefund(ctx context.Context, tx pgx.Tx, meta eventstore.Metadata, r payment.Refund, refused error) error {
	if err := limits.OrderID(r.OrderID); err != nil {
		return err
	}
	paymentID := r.PaymentID
	if limits.Check(limits.ID("paymentId", paymentID)) != nil {
		paymentID = apperr.Excerpt(paymentID) // no provider's id: enough of it to recognise
	}
	answered, err := s.reportOnce(ctx, tx, meta, r.OrderID, eventstore.Event{Name: payment.RefundRefusedName,
		Data: payment.RefundRefused{OrderID: r.OrderID, PaymentID: paymentID, Reason: apperr.ErrorMessage(refused), Disputed: errors.Is(refused, ErrDisputed)}},
		aboutPayment(paymentID, payment.RefundRefusedName, payment.RefundedName))
	if answered {
		s.logger.WarnContext(ctx, "payments: refund refused", "order_id", r.OrderID, "payment_id", paymentID, "err", refused)
	}
	return err
}
