// Package mailer is the orders service's outbox of customer emails: the saga records an
// email in the transaction of the step that decides it (Record), and a worker hands each
// one to SMTP at most once (RunWorker, SendPending).
package mailer

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/url"
	"slices"
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
	// zero). Each holds at most one claimed email whose outcome is not on record, so a
	// process cut off mid-send leaves at most this many emails in doubt.
	Senders int
	// StopGrace is how long the emails being sent when the worker stops may take to finish:
	// the process's SHUTDOWN_TIMEOUT (zero: none, they are cut off at once). One still with
	// SMTP then is cut off and recorded failed; it may have gone out, so it is never sent
	// again.
	StopGrace time.Duration
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

// mailOutcome is what became of a claimed email: sent, or the error that stopped it.
type mailOutcome struct {
	id  int64
	err *string
}

// smtpTimeout bounds one email's SMTP conversation: a server that stops answering must not
// stall the sender (and its claimed batch) forever.
const smtpTimeout = 30 * time.Second

// RunWorker sends recorded notifications with Config.Senders senders until ctx ends. An
// email is claimed (and the claim committed) before it is handed to SMTP, so a crash can
// lose an email but never send one twice: notifications are sent at most once.
//
// One loop claims for all the senders (see run). Claiming per sender cost a synchronous
// commit per email and one more per sender running dry (2.3 an order at saturation);
// under load a claim now takes several, and an email waits at most a PollInterval to be
// claimed (docs/BENCHMARKS.md, twenty-sixth session).
func (s *Outbox) RunWorker(ctx context.Context) error {
	if _, err := s.run(ctx, s.cfg.Senders, false); err != nil {
		// Logged, not returned: a stopping process is not failing for it. The emails stay
		// claimed without an outcome, in doubt, and are never sent again.
		s.logger.ErrorContext(context.WithoutCancel(ctx), "recording the last emails' outcomes", "err", err)
	}
	return nil
}

// SendPending sends every unsent notification with one sender, as the worker does, and
// returns how many it claimed: each email is claimed (and the claim committed) just
// before it is handed to SMTP, never ahead of it, so a process killed while sending leaves
// only that one email in doubt (claimed, no outcome; never retried, since it may have gone
// out). Claiming a batch at once, as it used to, lost every email of the batch not yet
// handed over when the process was killed: the crash test (make chaos) found up to a batch
// of customers never told per kill of the orders service.
func (s *Outbox) SendPending(ctx context.Context) (int, error) {
	return s.run(ctx, 1, true)
}

// run sends with the given number of senders until ctx ends, or, when drain is set, until
// a claim finds the queue empty and every outcome is on record (or a statement fails);
// it returns how many emails it claimed, and the error that stopped a drain or that kept
// the last outcomes off the record.
//
// Each claim is one statement that records what became of the emails sent since the last
// one and claims as many emails as senders are idle, with SKIP LOCKED, so replicas never
// wait for one another. While claims come back full, it claims again as soon as a sender
// is free; once one comes back short the queue is empty, and the loop waits for the next
// PollInterval, recording the last outcomes when every sender is idle. A sender so holds
// at most one email that is claimed and has no outcome on record: a crash leaves at most
// as many emails in doubt as there are senders.
func (s *Outbox) run(ctx context.Context, senders int, drain bool) (claimedAll int, err error) {
	jobs := make(chan notification, senders)
	done := make(chan mailOutcome, senders) // a sender has at most one outcome not yet taken
	// The emails with SMTP when ctx ends may finish, for StopGrace: cut off at once, an
	// email the server had taken was recorded failed, and never sent again.
	sending, cutOff := context.WithCancel(context.WithoutCancel(ctx))
	defer cutOff()
	graceOver := context.AfterFunc(ctx, func() { time.AfterFunc(s.cfg.StopGrace, cutOff) })
	defer graceOver()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for n := range jobs {
				done <- s.send(sending, n)
			}
		})
	}
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	idle := senders
	var outcomes []mailOutcome // sent since the last claim, not on record yet
	look := true               // claim at once: at the start, at each tick, while claims come back full
	hold := false              // a statement failed: nothing more until the next tick
	// A drain is over when a statement failed, or when the queue came up short and every
	// sender is idle with its outcome on record.
	drained := func() bool { return drain && (hold || !look && idle == senders && len(outcomes) == 0) }
	for ctx.Err() == nil && !drained() {
		switch {
		case hold:
		case look && idle > 0:
			claimed, cerr := s.claim(ctx, outcomes, idle)
			if cerr != nil {
				s.logFailure(ctx, cerr)
				err, hold = cerr, true
				continue
			}
			claimedAll += len(claimed)
			outcomes, look = outcomes[:0], len(claimed) == idle
			idle -= len(claimed)
			for _, n := range claimed {
				jobs <- n
			}
			continue // a drain may be over
		case len(outcomes) > 0 && idle == senders:
			if _, rerr := s.claim(ctx, outcomes, 0); rerr != nil {
				s.logFailure(ctx, rerr)
				err, hold = rerr, true
				continue
			}
			outcomes = outcomes[:0]
			continue // a drain may be over
		}
		select {
		case o := <-done:
			idle++
			outcomes = append(outcomes, o)
			for len(done) > 0 { // and every other sender that is done by now (this loop alone receives from done)
				idle++
				outcomes = append(outcomes, <-done)
			}
		case <-tick.C:
			look, hold = true, false
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	close(done)
	for o := range done {
		outcomes = append(outcomes, o)
	}
	if rerr := s.recordLast(ctx, outcomes); rerr != nil {
		return claimedAll, rerr
	}
	if drain && ctx.Err() == nil {
		return claimedAll, err
	}
	return claimedAll, nil
}

// logFailure logs a claim or record that failed, unless the worker is stopping.
func (s *Outbox) logFailure(ctx context.Context, err error) {
	if ctx.Err() == nil {
		s.logger.ErrorContext(ctx, "sending notifications", "err", err)
	}
}

// recordLast records outcomes even when ctx has ended: a claimed email is never retried, so
// its row must say what became of it.
func (s *Outbox) recordLast(ctx context.Context, outcomes []mailOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := s.claim(recordCtx, outcomes, 0)
	return err
}

// send hands a claimed email to SMTP (deliver), counts it and says what became of it.
func (s *Outbox) send(ctx context.Context, n notification) mailOutcome {
	outcome, err := s.deliver(ctx, n)
	s.emails.WithLabelValues(n.kind, outcome).Inc()
	o := mailOutcome{id: n.id}
	if err != nil {
		e := err.Error()
		o.err = &e
		s.logger.ErrorContext(ctx, "email not sent", append(logging.Order(n.orderID), "kind", n.kind, "err", err)...)
	}
	return o
}

// claim records outcomes and claims the n oldest unclaimed emails (fewer when fewer are
// left, none when n is 0), in one committed statement; the emails come oldest first.
func (s *Outbox) claim(ctx context.Context, outcomes []mailOutcome, n int) ([]notification, error) {
	ids := make([]int64, len(outcomes))
	errs := make([]*string, len(outcomes))
	for i, o := range outcomes {
		ids[i], errs[i] = o.id, o.err
	}
	rows, err := s.pool.Query(ctx, `
		WITH recorded AS (
			UPDATE orders.notifications n SET sent_at = CASE WHEN o.err IS NULL THEN now() END, error = o.err
			FROM unnest($1::bigint[], $2::text[]) AS o(id, err) WHERE n.id = o.id)
		UPDATE orders.notifications SET claimed_at = now()
		WHERE id IN (SELECT id FROM orders.notifications WHERE claimed_at IS NULL ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING id, order_id, kind, recipient, subject, body`, ids, errs, n)
	if err != nil {
		return nil, err
	}
	claimed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (notification, error) {
		var n notification
		err := row.Scan(&n.id, &n.orderID, &n.kind, &n.to, &n.subject, &n.body)
		return n, err
	})
	slices.SortFunc(claimed, func(a, b notification) int { return cmp.Compare(a.id, b.id) })
	return claimed, err
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
