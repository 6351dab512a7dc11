// Package mailer is the orders service's outbox of customer emails: the saga records an
// email in the transaction of the step that decides it (Record), and a worker hands each
// one to SMTP at most once (RunWorker, SendPending).
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/eventstore/metrics"
	"github.com/ordermill/ordermill/sagas"
)

// DefaultFrom is the sender address when none is configured (MAIL_FROM).
const DefaultFrom = "orders@ordermill.local"

// Config is the sender's configuration.
type Config struct {
	// Now is the clock, for the Date header; tests may fix it.
	Now func() time.Time
	// SMTPURL (smtp://user:pass@host:port) sends emails; empty only records them.
	SMTPURL string
	// From is the sender address of every email (DefaultFrom when empty).
	From string
	// PollInterval is how often the worker looks for new emails (200 ms when zero).
	PollInterval time.Duration
	// Senders is how many emails the worker hands to SMTP at once (DefaultSenders when
	// zero). Each claims its email on its own, so a process cut off mid-send leaves at most
	// this many emails in doubt.
	Senders int
}

// DefaultSenders is Config.Senders' default. One sender sends an email per committed claim
// plus an SMTP conversation, one after the other: about 30 a second on a loaded 2-core
// machine against a local mailbox, fewer against a distant provider, while 100 orders a
// second record 200 (docs/BENCHMARKS.md, fifteenth session).
const DefaultSenders = 8

// Email outcomes, the outcome label of ordermill_emails_total.
const (
	emailSent     = "sent"     // accepted by the SMTP server
	emailFailed   = "failed"   // refused, or SMTP unreachable: never retried (at most once)
	emailRecorded = "recorded" // no SMTP configured, or no address: only logged
)

// Outbox is the table orders.notifications and its sender.
type Outbox struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	cfg    Config
	emails *prometheus.CounterVec
}

// New builds the outbox over pool.
func New(pool *pgxpool.Pool, logger *slog.Logger, cfg Config) *Outbox {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.From == "" {
		cfg.From = DefaultFrom
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.Senders <= 0 {
		cfg.Senders = DefaultSenders
	}
	return &Outbox{pool: pool, logger: logger, cfg: cfg, emails: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Name: "emails_total",
		Help: "Emails handled by the sender, by kind and outcome (sent, failed, recorded: no SMTP configured or no address).",
	}, []string{"kind", "outcome"})}
}

// Collectors are the sender's metrics, for the host's registry.
func (s *Outbox) Collectors() []prometheus.Collector { return []prometheus.Collector{s.emails} }

// Record stores the email n in the saga step's transaction tx; the sender delivers it at
// most once. An order gets each kind of email once: a second one is ignored.
func (s *Outbox) Record(ctx context.Context, tx pgx.Tx, orderID string, n sagas.Notify) error {
	_, err := tx.Exec(ctx, `INSERT INTO orders.notifications (order_id, kind, recipient, subject, body)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id, kind) DO NOTHING`, orderID, n.Kind, n.Recipient, n.Subject, n.Body)
	return err
}

// notification is a claimed email waiting to go out.
type notification struct {
	id                               int64
	orderID, kind, to, subject, body string
}

// mailBatch is how many emails one SendPending sends at most (each claimed on its own).
const mailBatch = 20

// smtpTimeout bounds one email's SMTP conversation: a server that stops answering must not
// stall the sender (and its claimed batch) forever.
const smtpTimeout = 30 * time.Second

// RunWorker sends recorded notifications with Config.Senders senders until ctx ends. An
// email is claimed (and the claim committed) before it is handed to SMTP, so a crash can
// lose an email but never send one twice: notifications are sent at most once. The
// senders claim with SKIP LOCKED, so they never wait for one another. Only one of them
// looks for emails every PollInterval; each sender that claims an email wakes one more,
// so a backlog brings in one sender after another until all are sending, and each sends
// until nothing is left. An idle worker so costs one query a tick, however many senders
// it has, and a lone email three claims (the one that finds it, the woken sender's and
// its sender's next, both finding nothing). Waking every sender at each claim, as it
// used to, cost up to Senders+1 claims for a lone email: 13 claims an order at 5 orders/s
// (docs/BENCHMARKS.md, twenty-second session).
func (s *Outbox) RunWorker(ctx context.Context) error {
	wake := make(chan struct{}, s.cfg.Senders-1)
	wakeOne := func() {
		select {
		case wake <- struct{}{}:
		default: // every other sender is awake already or about to be
		}
	}
	var wg sync.WaitGroup
	for range s.cfg.Senders - 1 {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-wake:
				}
				s.drain(ctx, wakeOne)
			}
		})
	}
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		s.drain(ctx, wakeOne)
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
		}
	}
}

// drain sends while emails are pending, calling claimed (when not nil) at each one claimed.
func (s *Outbox) drain(ctx context.Context, claimed func()) {
	for {
		n, err := s.sendPending(ctx, claimed)
		if err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "sending notifications", "err", err)
		}
		if n < mailBatch {
			return
		}
	}
}

// SendPending sends up to mailBatch unsent notifications, one at a time; it returns how
// many. Each email is claimed (and the claim committed) just before it is handed to SMTP,
// never ahead of it: a process killed while sending leaves only that one email in doubt
// (claimed, no outcome; never retried, since it may have gone out). Claiming a whole batch
// at once, as it used to, lost every email of the batch not yet handed over when the
// process was killed: the crash test (make chaos) found up to a batch of customers never
// told per kill of the orders service. One statement records an email's outcome and
// claims the next, so an email costs one committed statement.
func (s *Outbox) SendPending(ctx context.Context) (int, error) {
	return s.sendPending(ctx, nil)
}

// sendPending is SendPending, calling claimed (when not nil) as each email is claimed.
func (s *Outbox) sendPending(ctx context.Context, claimed func()) (int, error) {
	sent := 0
	var last *mailOutcome // the email handed over last, its outcome not recorded yet
	for sent < mailBatch && ctx.Err() == nil {
		n, err := s.claimNext(ctx, last)
		if err != nil && ctx.Err() != nil {
			break // stopping: the last outcome is still recorded, below
		}
		last = nil // recorded with the claim, whether or not an email was claimed
		if errors.Is(err, pgx.ErrNoRows) {
			return sent, nil
		}
		if err != nil {
			return sent, err
		}
		sent++
		if claimed != nil {
			claimed()
		}
		outcome, sendErr := s.deliver(ctx, n)
		s.emails.WithLabelValues(n.kind, outcome).Inc()
		last = &mailOutcome{id: n.id}
		if sendErr != nil {
			e := sendErr.Error()
			last.err = &e
			s.logger.ErrorContext(ctx, "email not sent", append(logging.Order(n.orderID), "kind", n.kind, "err", sendErr)...)
		}
	}
	if last == nil {
		return sent, nil
	}
	// The outcome is recorded even when ctx ended meanwhile: a claimed email is never
	// retried, so its row must say what became of it.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := s.pool.Exec(recordCtx, `UPDATE orders.notifications SET sent_at = CASE WHEN $2::text IS NULL THEN now() END, error = $2 WHERE id = $1`, last.id, last.err)
	return sent, err
}

// mailOutcome is what became of a claimed email: sent, or the error that stopped it.
type mailOutcome struct {
	id  int64
	err *string
}

// claimNext records last's outcome, if any, and claims the oldest unclaimed email, in one
// statement; pgx.ErrNoRows when there is none.
func (s *Outbox) claimNext(ctx context.Context, last *mailOutcome) (notification, error) {
	var lastID *int64
	var lastErr *string
	if last != nil {
		lastID, lastErr = &last.id, last.err
	}
	var n notification
	err := s.pool.QueryRow(ctx, `
		WITH recorded AS (
			UPDATE orders.notifications SET sent_at = CASE WHEN $2::text IS NULL THEN now() END, error = $2
			WHERE id = $1)
		UPDATE orders.notifications SET claimed_at = now()
		WHERE id = (SELECT id FROM orders.notifications WHERE claimed_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id, order_id, kind, recipient, subject, body`, lastID, lastErr).
		Scan(&n.id, &n.orderID, &n.kind, &n.to, &n.subject, &n.body)
	return n, err
}

// deliver hands one email to SMTP when SMTP_URL is set and the order has an email
// address; otherwise it is only logged, with the reason. It says which of the two it did
// (emailSent, emailFailed or emailRecorded).
func (s *Outbox) deliver(ctx context.Context, n notification) (string, error) {
	if s.cfg.SMTPURL == "" || n.to == "" {
		reason := "no SMTP configured"
		if n.to == "" {
			reason = "the order has no email address"
		}
		s.logger.Info("email recorded, not sent", append(logging.Order(n.orderID), "reason", reason, "kind", n.kind, "to", n.to, "subject", n.subject)...)
		return emailRecorded, nil
	}
	u, err := url.Parse(s.cfg.SMTPURL)
	if err != nil {
		return emailFailed, fmt.Errorf("SMTP_URL: %w", err)
	}
	var auth smtp.Auth
	if u.User != nil {
		pass, _ := u.User.Password()
		auth = smtp.PlainAuth("", u.User.Username(), pass, u.Hostname())
	}
	from := s.cfg.From
	msg := strings.Join([]string{
		"From: " + from,
		"To: " + n.to,
		"Subject: " + n.subject,
		"Date: " + s.cfg.Now().UTC().Format(time.RFC1123Z),
		"Message-ID: <" + n.orderID + "." + n.kind + "@ordermill>",
		"Content-Type: text/plain; charset=utf-8",
		"",
		n.body,
	}, "\r\n")
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "25")
	}
	if err := sendMail(ctx, host, u.Hostname(), auth, from, n.to, []byte(msg)); err != nil {
		return emailFailed, err
	}
	return emailSent, nil
}

// sendMail is smtp.SendMail bounded by ctx and smtpTimeout (SendMail has no deadline: a
// silent server would block it forever).
func sendMail(ctx context.Context, addr, hostname string, auth smtp.Auth, from, to string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, smtpTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) }) // a cancel unblocks I/O
	defer stop()
	c, err := smtp.NewClient(conn, hostname)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: hostname}); err != nil {
			return err
		}
	}
	if auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("smtp: server doesn't support AUTH")
		}
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
