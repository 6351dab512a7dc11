package payments

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/domain/payment"
	"github.com/ordermill/ordermill/eventstore"
)

// Provider is the payment provider the service opens checkout sessions, issues refunds
// and expires sessions at. Its calls are made before the transaction that records their
// outcome commits, so a lost commit makes the command run again: a provider must answer a
// repeated call for the same order (OpenSession) or payment (Refund) with the first
// outcome, never with a second session or a second refund.
//
// All three are asked under the idempotency key of spent, how many keys of the call the
// provider refused before (ErrKeySpent, recorded by spendKey): a provider that keeps a
// refusal under its key (Stripe, for 24 h, a 500 of its own too) answers every repeat
// with it, whatever a person mended meanwhile, so the next try asks under the next one.
// A try after no answer, or after a lost commit, asks under the same key as the one
// before, and meets what the provider made.
type Provider interface {
	// OpenSession opens the order's checkout session. Asked again for the same command, it
	// asks the provider the same: a provider that keys a repeated request (Stripe's
	// idempotency key) refuses one whose parameters differ, so none depends on the clock.
	OpenSession(ctx context.Context, cmd payment.CreateSession, spent int) (OpenedSession, error)
	// Refund gives back what is still taken of r's payment, and says what it gave back:
	// nothing (no RefundID) when the payment is refunded in full already, not by this
	// refund. A payment the provider knows was made for another order it refuses with
	// notTheOrders, and gives nothing back.
	Refund(ctx context.Context, r payment.Refund, spent int) (GivenBack, error)
	// ExpireSession closes a session so that it can no longer be paid. A session already
	// closed or paid is no error: asked again, the provider's answer is the same. A session
	// found paid is said so (paid.PaymentID not empty), with what was paid.
	ExpireSession(ctx context.Context, sessionID string, spent int) (paid Paid, err error)
	// Observe is sess as the provider has it now: paid (with its payment), closed or still
	// open. A provider whose sessions are the service's own rows (the simulator) returns
	// sess as it is.
	Observe(ctx context.Context, sess Session) (Session, error)
}

// ErrKeySpent marks a provider's refusal of OpenSession, Refund or ExpireSession that it
// keeps under the call's idempotency key, and answers every repeat under it with (Stripe
// keeps a 4xx answer for 24 h, and a 500 of its own, which it replays): the service asks
// the next try under the next one (spendKey). After a 4xx nothing was made under the key;
// after a 500 a refund may have been, which the next try finds on the charge before it
// asks, or a session, which nobody was given and which expires unpaid, or an expiry,
// which the next one meets as a session no longer open.
var ErrKeySpent = errors.New("the provider keeps this refusal under the call's idempotency key: the next try asks under a new one")

// spentKeys is how many keys of call (refund, session, expire) of subject the provider
// refused (spendKey). The simulator keeps no answer under a key, and nothing is read for
// it.
func (s *Service) spentKeys(ctx context.Context, q eventstore.Querier, call, subject string) (int, error) {
	var spent int
	if s.simulated() {
		return 0, nil
	}
	err := q.QueryRow(ctx, `SELECT spent FROM payments.spent_keys WHERE call = $1 AND subject = $2`, call, subject).Scan(&spent)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("read the provider's spent keys: %w", err)
	}
	return spent, nil
}

// simulated reports whether the provider is the simulator, which answers in-process.
func (s *Service) simulated() bool {
	_, here := s.cfg.Provider.(simulatedProvider)
	return here
}

// spendKey records, in a transaction of its own, that the provider refused call (refund,
// session, expire) of subject (the payment, the order, the session) under its key of
// spent, when failed is such a refusal (ErrKeySpent): the command fails, its transaction
// is rolled back, and its next try, or its re-drive once a person mended the cause, asks
// under the next key.
// It returns failed, with the record's own failure if it failed (the next try then meets
// the kept refusal, and records it again).
func (s *Service) spendKey(ctx context.Context, call, subject string, spent int, failed error) error {
	if !errors.Is(failed, ErrKeySpent) {
		return failed
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO payments.spent_keys (call, subject, spent, spent_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (call, subject) DO UPDATE SET spent = excluded.spent, spent_at = excluded.spent_at
		WHERE spent_keys.spent < excluded.spent`, call, subject, spent+1, s.now())
	if err != nil {
		return errors.Join(failed, fmt.Errorf("record the provider's refusal kept under its key: %w", err))
	}
	return failed
}

// Paid is a payment the provider took for a session: its id, amount (minor units) and
// currency.
type Paid struct {
	PaymentID string
	Amount    int64
	Currency  string
}

// GivenBack is what the provider says of a refund it made: its id, and the amount (minor
// units) and currency it gave back, zero when it does not say (the simulator). No RefundID
// means none was made: nothing was left to give back. Total is what the provider shows
// refunded of the payment now, every part given back before included, and Charge the
// charge it shows them on; zero when it keeps no such account (the simulator: the service
// then records the payment's amount as the total, refund).
type GivenBack struct {
	RefundID string
	Amount   int64
	Currency string
	Total    int64
	Charge   string
}

// OpenedSession is what the provider says about a session it opened: its id, the URL the
// customer pays at, and when the provider closes it; zero when the service does that
// (the simulator's sessions), payment.SessionTTL after it opened it.
type OpenedSession struct {
	ID        string
	URL       string
	ExpiresAt time.Time
}

// simulatedProvider is the provider of development: sessions live only in
// payments.sessions and are paid at the service's own checkout page. It has no state of its
// own, so a repeated call cannot open a second session: payments.sessions holds one per
// order, and the simulator's refunds are recorded once per payment there too.
type simulatedProvider struct {
	publicURL string
	db        eventstore.Querier // payments.sessions, the simulator's state
}

func (p simulatedProvider) OpenSession(context.Context, payment.CreateSession, int) (OpenedSession, error) {
	id := "cs_" + rand.Text()
	return OpenedSession{ID: id, URL: p.publicURL + "/pay/" + id}, nil
}

// ExpireSession closes nothing: payments.sessions is the simulator's state, and the service
// records the session closed there. A session it settled paid is found paid, as Stripe
// finds one: paid at the checkout page while the orders service could not be told (its
// webhook refused, never sent again), it was recorded "expired" and its money kept, the
// order cancelled unpaid (a probe).
func (p simulatedProvider) ExpireSession(ctx context.Context, sessionID string, _ int) (Paid, error) {
	var paid Paid
	err := p.db.QueryRow(ctx, `SELECT payment_id, amount, currency FROM payments.sessions
		WHERE session_id = $1 AND status = $2 AND payment_id IS NOT NULL`, sessionID, payment.StatusCompleted).Scan(&paid.PaymentID, &paid.Amount, &paid.Currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return Paid{}, nil
	}
	if err != nil {
		return Paid{}, fmt.Errorf("read payment session %s: %w", sessionID, err)
	}
	return paid, nil
}

// Observe has nothing to ask: the simulator settles its sessions in payments.sessions.
func (simulatedProvider) Observe(_ context.Context, sess Session) (Session, error) { return sess, nil }

func (simulatedProvider) Refund(context.Context, payment.Refund, int) (GivenBack, error) {
	return GivenBack{RefundID: "re_" + rand.Text()}, nil
}
