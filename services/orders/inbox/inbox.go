// Package inbox is the orders service's webhook inbox: it verifies the payment provider's
// and the courier's webhooks, records each once (a retry is a duplicate, not a second
// effect), hands it to the saga in the same transaction, and lists what it received.
package inbox

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stripe/stripe-go/v84"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/domain/shipping"
	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/eventstore/metrics"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/services/stripeevent"
	"github.com/ordermill/ordermill/services/webhooksig"
)

// Webhook outcomes, recorded in orders.webhook_inbox and returned to the caller.
const (
	outcomeAccepted     = "accepted"
	outcomeDuplicate    = "duplicate"
	outcomeUnknownOrder = "unknown_order"
	// outcomeIgnored: a Stripe event the workflow does not act on; answered 200, not stored.
	outcomeIgnored = "ignored"
)

// outcomeBadSignature counts a webhook refused for a missing or wrong signature,
// outcomeInvalid one whose signature held (or dev mode took unsigned) but whose body is
// refused (400): a provider that changed its format, and outcomeTooEarly one sent back
// (409) to be sent again later: a part of a payment refunded before the order recorded
// the payment. Unlike the other outcomes they are never recorded in the inbox.
const (
	outcomeBadSignature = "bad_signature"
	outcomeInvalid      = "invalid"
	outcomeTooEarly     = "too_early"
)

// Config is the inbox's configuration.
type Config struct {
	// Now is the clock the signatures' time windows are checked against.
	Now func() time.Time
	// DevMode accepts unsigned webhooks, with a warning.
	DevMode bool
	// PaymentWebhookSecret verifies Stripe-Signature headers.
	PaymentWebhookSecret string
	// DeliveryWebhookSecret verifies X-Courier-Signature headers.
	DeliveryWebhookSecret string
	// Retention is how long a webhook is kept (Keep); 0: DefaultRetention.
	Retention time.Duration
}

// Inbox receives the providers' webhooks into orders.webhook_inbox.
type Inbox struct {
	pool     *pgxpool.Pool
	logger   *slog.Logger
	saga     *sagas.Runner
	cfg      Config
	webhooks *prometheus.CounterVec
	// refused thins the warnings of bad signatures to a line a minute a path: anyone may
	// send them, and a probe grew the log a line a request (the counter counts each).
	refused *logging.Repeats
}

// New builds the inbox over pool; saga runs the workflow on each webhook it accepts.
func New(pool *pgxpool.Pool, logger *slog.Logger, saga *sagas.Runner, cfg Config) *Inbox {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	webhooks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Name: "webhooks_total",
		Help: "Provider webhooks received, by provider (payment, delivery) and outcome (accepted, duplicate, ignored: a Stripe event the workflow does not act on, bad_signature, invalid: signed but its body refused, unknown_order).",
	}, []string{"provider", "outcome"})
	// Every series starts at 0, so increase() sees the first bad signature after a restart.
	for _, provider := range []string{"payment", "delivery"} {
		for _, outcome := range []string{outcomeAccepted, outcomeDuplicate, outcomeUnknownOrder, outcomeIgnored, outcomeBadSignature, outcomeInvalid, outcomeTooEarly} {
			webhooks.WithLabelValues(provider, outcome)
		}
	}
	return &Inbox{pool: pool, logger: logger, saga: saga, cfg: cfg, refused: logging.NewRepeats(), webhooks: webhooks}
}

// Collectors are the inbox's metrics, for the host's registry.
func (s *Inbox) Collectors() []prometheus.Collector { return []prometheus.Collector{s.webhooks} }

// countWebhook counts a webhook on route /webhooks/<provider>.
func (s *Inbox) countWebhook(r *http.Request, outcome string) {
	s.webhooks.WithLabelValues(path.Base(r.URL.Path), outcome).Inc()
}

// refuseBody answers a webhook whose signature held but whose body is refused with err
// (400), and counts it as invalid.
func (s *Inbox) refuseBody(w http.ResponseWriter, r *http.Request, err error) {
	s.countWebhook(r, outcomeInvalid)
	httpx.WriteError(w, r, s.logger, err)
}

// now is the clock in UTC at Postgres's precision.
func (s *Inbox) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// inboundWebhook is a verified, parsed webhook ready to be recorded.
type inboundWebhook struct {
	provider string
	eventID  string
	orderID  string
	status   string
	name     string
	data     any
	// unknownIsFinal answers a webhook naming an unknown order 200, not 404: a Stripe event
	// about a Checkout Session. Ordermill opens a session only for an order it has recorded,
	// so a session naming an unknown order is another integration's on the same account (a
	// Payment Link's client_reference_id), and a 404 would have Stripe retry it for days and
	// then disable the endpoint, Ordermill's own payments with it. It is still kept in the
	// inbox as unknown_order, for inspection.
	unknownIsFinal bool
	// unsigned: dev mode took it without a signature, which is said in a line naming the
	// order (said before the body was read, it named none: a probe).
	unsigned bool
}

// Payment handles POST /webhooks/payment, signed with Stripe's scheme: Stripe's
// Event objects, and the simulator's flat body (the only one dev mode takes unsigned).
func (s *Inbox) Payment(w http.ResponseWriter, r *http.Request) {
	body, signed, ok := s.verifiedBody(w, r, webhooksig.StripeHeader, func(body []byte, header string) error {
		return webhooksig.VerifyStripe(body, header, s.cfg.PaymentWebhookSecret, s.now())
	})
	if !ok {
		return
	}
	var wh sagas.PaymentWebhook
	fromStripe := false
	if stripeevent.Is(body) {
		ev, err := s.stripeEvent(body, r.Header.Get(webhooksig.StripeHeader), signed)
		if err != nil {
			s.refuseBody(w, r, err)
			return
		}
		refund, isRefund, err := stripeevent.ReadRefund(ev)
		if isRefund {
			s.refundReport(w, r, refund, signed)
			return
		}
		p, handled, rerr := stripeevent.Read(ev)
		if err = errors.Join(err, rerr); err != nil {
			s.refuseBody(w, r, apperr.Errorf(apperr.CodeInvalid, "%v", err))
			return
		}
		if !handled {
			s.countWebhook(r, outcomeIgnored)
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"orderId": p.OrderID, "outcome": outcomeIgnored})
			return
		}
		wh, fromStripe = sagas.PaymentWebhook{Webhook: p}, true
	} else if err := httpx.DecodeLenient(body, &wh.Webhook); err != nil {
		s.refuseBody(w, r, err)
		return
	}
	wh.Currency = strings.ToUpper(wh.Currency) // in any case, as an order's is taken
	if err := wh.Validate(); err != nil {
		s.refuseBody(w, r, err)
		return
	}
	wh.Unsigned = !signed
	id := cmp.Or(wh.ID, webhookKey(wh.OrderID, wh.Status, "payment", wh.PaymentID, "session", wh.SessionID))
	s.recordWebhook(w, r, inboundWebhook{provider: "payment", eventID: id, orderID: wh.OrderID, status: wh.Status, name: sagas.PaymentWebhookName, data: wh, unknownIsFinal: fromStripe, unsigned: !signed})
}

// stripeEvent reads a Stripe Event: verified with stripe-go when signed (always, outside
// dev mode), decoded as it is when dev mode took it unsigned.
func (s *Inbox) stripeEvent(body []byte, header string, signed bool) (stripe.Event, error) {
	var ev stripe.Event
	if signed {
		var err error
		// The signature and its window were checked already: what can still fail is the body.
		if ev, err = stripeevent.Construct(body, header, s.cfg.PaymentWebhookSecret); err != nil {
			return ev, apperr.Errorf(apperr.CodeInvalid, "malformed Stripe event: %s", apperr.Excerpt(err.Error()))
		}
	} else if err := httpx.DecodeLenient(body, &ev); err != nil {
		return ev, apperr.Errorf(apperr.CodeInvalid, "malformed Stripe event: %s", apperr.ErrorMessage(err))
	}
	return ev, nil
}

// refundReport hands the saga a refund Stripe reports (charge.refunded), for the order the
// refunded payment paid: the order whose events record that payment, paid or refunded
// (sql/00089_events_payment_id.sql), else the order the charge's metadata names. Stripe
// sends events in any order: a refund made in its dashboard was reported before the
// payment, answered ignored, and the order then shipped on the refunded payment (a
// probe). The order records it first, and refuses the payment when it comes; a refund
// Ordermill asked for itself is the saga's to know (State.Refunding). A refund naming no
// order Ordermill has is ignored (200): a charge of another integration on the same
// Stripe account, for which a 404 would have Stripe retry it for days, and then disable
// the endpoint.
func (s *Inbox) refundReport(w http.ResponseWriter, r *http.Request, rf payment.RefundReport, signed bool) {
	// The charge's metadata is another integration's as likely as Ordermill's: an order id
	// Ordermill could not have given names no order (it was refused 400, which Stripe would
	// send again for days: the review).
	named := rf.OrderID
	if limits.Check(limits.ID("orderId", named)) != nil {
		named = ""
	}
	rf.OrderID = ""
	// What the report says is checked before it is looked up: a 5,000-character payment
	// id was queried and echoed back whole.
	if err := rf.ValidateReported(); err != nil {
		s.refuseBody(w, r, err)
		return
	}
	err := s.pool.QueryRow(r.Context(), paidOrderSQL, rf.PaymentID).Scan(&rf.OrderID)
	if errors.Is(err, pgx.ErrNoRows) && named != "" && !rf.Full {
		var waits bool
		if waits, err = s.waitsForPayment(r.Context(), named); err == nil && waits {
			err = errPartTooEarly
		} else if err == nil {
			err = pgx.ErrNoRows
		}
	}
	switch {
	case errors.Is(err, errPartTooEarly):
		// Recorded now, a part refunded would have the order refuse the whole payment, and
		// keep the rest when given up (the review). Sent again once the order records the
		// payment, it is a refund after payment: the order goes on, a person decides. Only
		// while the order may yet record it: another integration's order, or one past its
		// payment, was answered 409 until Stripe gave up (the second review).
		s.countWebhook(r, outcomeTooEarly)
		httpx.WriteError(w, r, s.logger, apperr.Errorf(apperr.CodeConflict,
			"a part of payment %s refunded before order %s recorded the payment: send it again once it has", apperr.Excerpt(rf.PaymentID), named))
		return
	case errors.Is(err, pgx.ErrNoRows) && named != "":
		rf.OrderID = named
	case errors.Is(err, pgx.ErrNoRows):
		s.countWebhook(r, outcomeIgnored)
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"orderId": "", "paymentId": rf.PaymentID, "outcome": outcomeIgnored})
		return
	case err != nil:
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	s.recordWebhook(w, r, inboundWebhook{provider: "payment", eventID: rf.ID, orderID: rf.OrderID, status: statusRefunded, name: payment.RefundReportName,
		data: rf, unsigned: !signed, unknownIsFinal: true})
}

// errPartTooEarly marks a part of a payment refunded before the order it names, still
// waiting for its payment, recorded the payment.
var errPartTooEarly = errors.New("a part refunded before the payment")

// waitsForPayment reports whether order id is here and has not reached the end of its
// payment wait, by its stream: its summary, which lags, did not know an order placed a
// moment before.
func (s *Inbox) waitsForPayment(ctx context.Context, id string) (bool, error) {
	o, err := orderstream.Load(ctx, s.pool, id)
	if apperr.ErrorCode(err) == apperr.CodeNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return o.Status == order.StatusAwaitingPayment || o.Status.CanReach(order.StatusAwaitingPayment), nil
}

// statusRefunded is the status an inbox row of a refund report records.
const statusRefunded = "refunded"

// paidOrderSQL finds the order whose events first record payment $1, paid or refunded, through
// the partial index of sql/00089_events_payment_id.sql.
const paidOrderSQL = `SELECT stream_id FROM events WHERE (payload->>'paymentId') = $1
	AND event_name IN ('` + order.NamePaymentCompleted + `', '` + order.NamePaymentRefunded + `') ORDER BY position LIMIT 1`

// Delivery handles POST /webhooks/delivery, signed with the courier's HMAC scheme.
func (s *Inbox) Delivery(w http.ResponseWriter, r *http.Request) {
	body, signed, ok := s.verifiedBody(w, r, webhooksig.CourierHeader, func(body []byte, header string) error {
		return webhooksig.VerifyCourier(body, header, s.cfg.DeliveryWebhookSecret, s.now())
	})
	if !ok {
		return
	}
	var wh shipping.Webhook
	if err := httpx.DecodeLenient(body, &wh); err != nil {
		s.refuseBody(w, r, err)
		return
	}
	if err := wh.Validate(); err != nil {
		s.refuseBody(w, r, err)
		return
	}
	// Statuses are words, whatever their case and the spaces around them: a courier's
	// "DELIVERED" (and " delivered", a review) was recorded as an intermediate status of
	// that name, shown to the customer, and never delivered the order.
	wh.Status = strings.ToLower(strings.TrimSpace(wh.Status))
	id := cmp.Or(wh.ID, webhookKey(wh.OrderID, wh.Status, "shipment", wh.ShipmentID))
	s.recordWebhook(w, r, inboundWebhook{provider: "delivery", eventID: id, orderID: wh.OrderID, status: wh.Status, name: sagas.DeliveryWebhookName, data: wh, unsigned: !signed})
}

// webhookKey identifies a webhook that came without an event id by what it reports: its
// order and status, and each payment, session or shipment it names (labels and values in
// pairs). The same report sent again is then a duplicate, but two that name different
// payments are not: a refused payment must not hide the order's own. A report naming none
// is keyed "order:status", as every one was before.
func webhookKey(orderID, status string, named ...string) string {
	key := orderID + ":" + status
	for i := 0; i+1 < len(named); i += 2 {
		if named[i+1] != "" {
			key += ":" + named[i] + "=" + named[i+1]
		}
	}
	return key
}

// verifiedBody reads the body and checks its signature, reporting whether it was signed.
// Only in dev mode is a webhook without a signature header accepted, with a warning; a
// present but wrong one never is.
func (s *Inbox) verifiedBody(w http.ResponseWriter, r *http.Request, header string, verify func([]byte, string) error) (body []byte, signed, ok bool) {
	body, err := httpx.ReadBody(w, r)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return nil, false, false
	}
	sig := r.Header.Get(header)
	// A 401 here names the signature the webhook lacks, not the API's bearer token.
	challenge := header + ` realm="ordermill"`
	if sig == "" && s.cfg.DevMode {
		return body, false, true // said by recordWebhook, naming the order
	}
	if sig == "" {
		s.countWebhook(r, outcomeBadSignature)
		w.Header().Set("WWW-Authenticate", challenge)
		httpx.WriteError(w, r, s.logger, apperr.Errorf(apperr.CodeUnauthorized, "missing %s header", header))
		return nil, false, false
	}
	if err := verify(body, sig); err != nil {
		s.countWebhook(r, outcomeBadSignature)
		if due, missed := s.refused.Due(r.URL.Path); due {
			s.logger.WarnContext(r.Context(), "webhook refused: bad signature", "path", r.URL.Path, "err", err, "repeated_since_last_line", missed)
		}
		if apperr.ErrorCode(err) == apperr.CodeUnauthorized {
			w.Header().Set("WWW-Authenticate", challenge)
		}
		httpx.WriteError(w, r, s.logger, err)
		return nil, false, false
	}
	return body, true, true
}

// recordWebhook stores the webhook in the inbox and hands it to the saga in one
// transaction: a second one with the same event id (webhookKey when it has none) has no
// second effect.
func (s *Inbox) recordWebhook(w http.ResponseWriter, r *http.Request, wh inboundWebhook) {
	// The order is named by the body alone, not the path: lines from here on carry it, and
	// the webhook's work goes on in the order's trace.
	ctx, span, err := eventstore.ResumeTrace(logging.With(r.Context(), func() []any { return logging.Order(wh.orderID) }),
		s.pool, wh.orderID, "resume order: "+wh.provider+" webhook")
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	defer span.End()
	r = r.WithContext(ctx)
	if wh.unsigned {
		s.logger.WarnContext(ctx, "accepting an UNSIGNED webhook: dev mode only", "path", r.URL.Path)
	}
	payload, err := json.Marshal(wh.data)
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	var outcome string
	// The saga runs on the webhook in its transaction (sagas.Runner.RunNow): its 2xx means
	// the order has taken the step the webhook brings, or, for a payment that comes before
	// the order's session is recorded (the order shows awaiting_payment from its
	// reservation on), has it on record to take once it is. The webhook goes to the log
	// (sagas.WebhooksTopic) only if that failed, for the saga's consumers to take.
	// The message the saga runs on. Its id is the causation id of all it causes, and the
	// inbox row of an accepted webhook keeps it (message_id), published or not.
	m := sagas.Message{Name: wh.name, ID: eventstore.NewID(), Payload: payload}
	var inserted string // the new inbox row's outcome; none when the webhook came before
	// Whether the order is known is decided in the statement that records the webhook,
	// which goes with the saga's lock and reads, in the transaction's first round trip.
	first := func(b *pgx.Batch) {
		inserted = ""
		b.Queue(`INSERT INTO orders.webhook_inbox (provider, event_id, order_id, status, outcome, payload, message_id)
			SELECT $1, $2, $3, $4, CASE WHEN known THEN $5 ELSE $6 END, $7::jsonb, CASE WHEN known THEN $8 END
			FROM (SELECT EXISTS (`+orderExistsSQL+`) AS known) k
			ON CONFLICT (provider, event_id) DO NOTHING RETURNING outcome`,
			wh.provider, wh.eventID, wh.orderID, wh.status, outcomeAccepted, outcomeUnknownOrder, payload, m.ID).QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&inserted); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("record webhook: %w", err)
			}
			return nil
		})
	}
	err = s.saga.RunNow(r.Context(), s.pool, wh.orderID, first, func(ctx context.Context, tx pgx.Tx, _ *order.Order, handledBy string) ([]sagas.Message, error) {
		outcome = inserted
		if outcome == "" {
			// Seen before. A provider retrying a webhook that first came for an order we did
			// not know yet (a race with placement, or a delayed import) is applied now, if
			// the order is known by now; the row update lets exactly one retry do so.
			err := tx.QueryRow(ctx, `UPDATE orders.webhook_inbox SET outcome = $4, message_id = $6
				WHERE provider = $1 AND event_id = $2 AND outcome = $5 AND EXISTS (`+orderExistsSQL+`)
				RETURNING outcome`, wh.provider, wh.eventID, wh.orderID, outcomeAccepted, outcomeUnknownOrder, m.ID).Scan(&outcome)
			if errors.Is(err, pgx.ErrNoRows) {
				// A duplicate, unless the order is still unknown: then it is answered as the
				// first was, so the provider keeps retrying until the order is known (a 200
				// duplicate stopped its retries, and the webhook was never applied).
				err = tx.QueryRow(ctx, `SELECT CASE WHEN outcome = $3 THEN $3 ELSE $4 END FROM orders.webhook_inbox WHERE provider = $1 AND event_id = $2`,
					wh.provider, wh.eventID, outcomeUnknownOrder, outcomeDuplicate).Scan(&outcome)
				return nil, err
			}
			if err != nil {
				return nil, err
			}
		}
		if outcome != outcomeAccepted {
			return nil, nil
		}
		if handledBy != "" {
			// The saga handles it here, in this transaction: the inbox row (with the payload
			// and the message's id) is the webhook's record, and the log carries only what a
			// consumer must still do, so the message is not published.
			return []sagas.Message{m}, nil
		}
		// Running the saga here failed: its consumers take the webhook from the log.
		return []sagas.Message{m}, eventstore.Send(ctx, tx, sagas.WebhooksTopic,
			eventstore.Metadata{CorrelationID: wh.orderID, Actor: wh.provider + "-webhook"},
			eventstore.Message{ID: m.ID, Name: m.Name, Data: m.Payload})
	})
	if err != nil {
		httpx.WriteError(w, r, s.logger, err)
		return
	}
	s.countWebhook(r, outcome)
	if outcome == outcomeUnknownOrder && wh.unknownIsFinal {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"orderId": wh.orderID, "outcome": outcome})
		return
	}
	if outcome == outcomeUnknownOrder {
		s.logger.WarnContext(r.Context(), "webhook for an unknown order kept in the inbox", "provider", wh.provider)
		httpx.WriteError(w, r, s.logger, apperr.Errorf(apperr.CodeNotFound, "order %s not found; the webhook was recorded for inspection", apperr.Excerpt(wh.orderID)))
		return
	}
	status := http.StatusAccepted
	if outcome == outcomeDuplicate {
		status = http.StatusOK
	}
	httpx.WriteJSON(w, status, map[string]string{"orderId": wh.orderID, "outcome": outcome})
}

// orderExistsSQL looks for the order whose id is the statement's third parameter by its
// first event only: one entry of the (stream_id, stream_version) index, whatever the
// length of its stream.
const orderExistsSQL = `SELECT 1 FROM events WHERE stream_id = $3 AND stream_version = 1 AND stream_type = '` + orderstream.StreamType + `'`
