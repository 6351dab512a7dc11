package mailer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/eventstore/metrics"
)

// Notification is one recorded email and what became of it (Status).
type Notification struct {
	OrderID   string     `json:"orderId"`
	Kind      string     `json:"kind"`
	Recipient string     `json:"recipient"`
	Subject   string     `json:"subject"`
	CreatedAt time.Time  `json:"createdAt"`
	Status    string     `json:"status"`
	SentAt    *time.Time `json:"sentAt,omitempty"` // when it was sent, or settled unsent (no address)
	Error     *string    `json:"error,omitempty"`
	Attempts  int        `json:"attempts"`
	RetryAt   *time.Time `json:"retryAt,omitempty"`

	inDoubt bool // claimed longer ago than InDoubtAfter, and not settled
}

// What became of an email (Notification.Status).
const (
	StatusQueued   = "queued"   // waiting for its first try, or being sent
	StatusDeferred = "deferred" // the server did not take it; tried again at RetryAt
	StatusSent     = "sent"     // handed to the mail server
	StatusNotSent  = "not_sent" // recorded, never sent: no address, no mail server configured, or a confirmation of an order given up (Error says which)
	StatusFailed   = "failed"   // refused for good (Error)
	StatusInDoubt  = "in_doubt" // its send broke off once the server may have had it (a crash, no answer to the message): perhaps sent; never tried again
)

// InDoubtAfter is how long after it was claimed an email not settled is in doubt: longer
// than a send may take (smtpTimeout), so only an email whose send broke off reads so: its
// sender stopped mid-send (a crash), or the whole message got no answer (left so, noAnswer).
// The server may have taken it; it is never sent again (at most once, docs/RELIABILITY.md),
// so a person must look.
const InDoubtAfter = 2 * smtpTimeout

// status is what became of n, from its row.
func (n Notification) status() string {
	switch {
	case n.inDoubt:
		return StatusInDoubt
	case n.SentAt != nil && (n.Recipient == "" || n.Error != nil):
		return StatusNotSent
	case n.SentAt != nil:
		return StatusSent
	case n.RetryAt != nil:
		return StatusDeferred
	case n.Error != nil:
		return StatusFailed
	}
	return StatusQueued
}

// ForOrder reads the emails recorded for an order, oldest first.
func (s *Outbox) ForOrder(ctx context.Context, orderID string) ([]Notification, error) {
	// Only an email back in the queue waits for its retry_at: a release before retries
	// (during a rolling upgrade) claims and settles emails without clearing it.
	rows, err := s.pool.Query(ctx, `SELECT order_id, kind, recipient, subject, created_at, sent_at, error, attempts,
			CASE WHEN claimed_at IS NULL THEN retry_at END, `+inDoubt("$2")+`
		FROM orders.notifications WHERE order_id = $1 ORDER BY id`, orderID, InDoubtAfter.Seconds())
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notification, error) {
		var n Notification
		err := row.Scan(&n.OrderID, &n.Kind, &n.Recipient, &n.Subject, &n.CreatedAt, &n.SentAt, &n.Error, &n.Attempts, &n.RetryAt, &n.inDoubt)
		n.Status = n.status()
		return n, err
	})
}

// inDoubt is the condition that a notifications row is in doubt, with InDoubtAfter in
// seconds as the statement's parameter param ("$2"): claimed long ago, neither sent nor
// refused nor put back. The partial index notifications_claimed holds exactly the claimed
// rows not settled.
func inDoubt(param string) string {
	return `(claimed_at IS NOT NULL AND sent_at IS NULL AND error IS NULL AND claimed_at < now() - make_interval(secs => ` + param + `))`
}

// The emails' gauges, read at scrape time.
var (
	inDoubtDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "emails", "in_doubt"),
		"Emails whose send broke off once the server may have had them (a crash, no answer to the whole message), read at scrape time: perhaps sent, never tried again; see each order's notifications.", nil, nil)
	dueDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "emails", "due"),
		"Emails due to be sent and not handed to a sender yet (first tries, and retries whose time has come), read at scrape time.", nil, nil)
	oldestDueDesc = prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "emails", "due_oldest_seconds"),
		"How long the oldest email due to be sent has been due (0 when none is): a sender that has stopped, or a mail server refusing for long, shows here.", nil, nil)
)

// emailsCollector reads, at scrape time, the emails in doubt, through the partial index of
// claimed rows not settled, and those due and not claimed, through the partial index of
// unclaimed rows: the figures cost the same with a million emails sent. A worker that
// stopped claiming (a probe's, handed more emails than it had senders) showed in no
// figure while the customers' emails waited.
func (s *Outbox) emailsCollector() prometheus.Collector {
	return metrics.FromQuery("emails", []*prometheus.Desc{inDoubtDesc, dueDesc, oldestDueDesc}, func(ctx context.Context, ch chan<- prometheus.Metric) error {
		var inDoubtN, dueN int64
		var oldest float64
		err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders.notifications WHERE `+inDoubt("$1")+`), count(*),
				coalesce(extract(epoch FROM now() - min(coalesce(retry_at, created_at))), 0)::float8
			FROM orders.notifications WHERE claimed_at IS NULL AND (retry_at IS NULL OR retry_at <= now())`, InDoubtAfter.Seconds()).
			Scan(&inDoubtN, &dueN, &oldest)
		if err == nil {
			ch <- prometheus.MustNewConstMetric(inDoubtDesc, prometheus.GaugeValue, float64(inDoubtN))
			ch <- prometheus.MustNewConstMetric(dueDesc, prometheus.GaugeValue, float64(dueN))
			ch <- prometheus.MustNewConstMetric(oldestDueDesc, prometheus.GaugeValue, max(oldest, 0))
		}
		return err
	})
}

// How a person resolves an email in doubt (Outbox.Resolve), having asked the mail
// provider or the customer.
const (
	ResolvedSent      = "sent"       // it went out: recorded sent, when its send began
	ResolvedSendAgain = "send_again" // it did not: back in the queue, sent once more
)

// Resolve settles order orderID's email of kind, in doubt, as a person found it: sent, or
// not sent and so to be sent again (the one exception to at most once, on a person's
// word). An email in doubt stayed so for good, in the gauge and the alert, with nothing
// to do about it but edit the table by hand (a probe). Only an email in doubt is resolved:
// another is a conflict naming its status; none of that kind is not found.
func (s *Outbox) Resolve(ctx context.Context, orderID, kind, resolution string) (Notification, error) {
	var set string
	switch resolution {
	case ResolvedSent:
		set = `sent_at = claimed_at`
	case ResolvedSendAgain:
		set = `claimed_at = NULL, retry_at = NULL`
	default:
		return Notification{}, apperr.FieldErrorf("resolution", "resolution must be %s or %s, got %q", ResolvedSent, ResolvedSendAgain, apperr.Excerpt(resolution))
	}
	tag, err := s.pool.Exec(ctx, `UPDATE orders.notifications SET `+set+`
		WHERE order_id = $1 AND kind = $2 AND `+inDoubt("$3"), orderID, kind, InDoubtAfter.Seconds())
	if err != nil {
		return Notification{}, fmt.Errorf("resolve notification: %w", err)
	}
	emails, err := s.ForOrder(ctx, orderID)
	if err != nil {
		return Notification{}, err
	}
	i := slices.IndexFunc(emails, func(n Notification) bool { return n.Kind == kind })
	switch {
	case i < 0:
		return Notification{}, apperr.Errorf(apperr.CodeNotFound, "order %s has no %s email", apperr.Excerpt(orderID), apperr.Excerpt(kind))
	case tag.RowsAffected() == 0:
		return emails[i], apperr.Errorf(apperr.CodeConflict, "the %s email of order %s is not in doubt: it is %s", kind, orderID, emails[i].Status)
	}
	s.logger.InfoContext(ctx, "email in doubt resolved by a person", append(logging.Order(orderID), "kind", kind, "resolution", resolution)...)
	return emails[i], nil
}
