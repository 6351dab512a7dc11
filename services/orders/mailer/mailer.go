// Package mailer is the orders service's outbox of customer emails: the saga records an
// email in the transaction of the step that decides it (Record), and a worker hands each
// one to SMTP at most once (RunWorker; SendPending, for tests, with one sender). An email the server certainly did
// not take (unreachable, or refusing for now) is tried again later, for RetryFor.
package mailer

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/idna"

	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/eventstore/metrics"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/sagas"
)

// DefaultFrom is the sender address when none is configured (MAIL_FROM).
const DefaultFrom = "orders@ordermill.local"

// Config is the sender's configuration.
type Config struct {
	// Now is the clock, for the Date header; tests may fix it.
	Now func() time.Time
	// SMTPURL (smtp:// or smtps://, CheckSMTPURL) sends emails; empty only records them.
	SMTPURL string
	// RootCAs are the certificate authorities the mail server's certificate is checked
	// against; nil: the system's (which SSL_CERT_FILE and SSL_CERT_DIR may name).
	RootCAs *x509.CertPool
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
	// SMTP then is cut off: recorded failed if the server may have taken it (it is never
	// sent again), otherwise put back for a later try.
	StopGrace time.Duration
}

// RetryFor is how long after it was recorded an email the mail server did not take is
// still tried again: a customer told a day late is still told, one told a week late is
// told something stale.
const RetryFor = 24 * time.Hour

// retryDelay is how long an email the server did not take waits before its next try, after
// attempts tries: 10 s, doubling to at most 10 minutes.
func retryDelay(attempts int) time.Duration {
	return min(10*time.Second<<min(attempts, 10), 10*time.Minute)
}

// pauseFor is how long the worker claims nothing after n sends in a row that the server
// did not take: the rest would most likely meet the same outage. 1 s, doubling to 1 minute.
func pauseFor(n int) time.Duration {
	return min(time.Second<<min(n-1, 6), time.Minute)
}

// DefaultSenders is Config.Senders' default. One sender sends an email per committed claim
// plus an SMTP conversation, one after the other: about 30 a second on a loaded 2-core
// machine against a local mailbox, fewer against a distant provider, while 100 orders a
// second record 200 (docs/BENCHMARKS.md, fifteenth session).
const DefaultSenders = 8

// Email outcomes, the outcome label of ordermill_emails_total.
const (
	emailSent     = "sent"     // accepted by the SMTP server
	emailDeferred = "deferred" // certainly not taken (server unreachable, refusing for now): tried again later
	emailFailed   = "failed"   // refused for good, or not taken for RetryFor: never retried (at most once)
	emailRecorded = "recorded" // no SMTP configured, or no address: only logged
	emailInDoubt  = "in_doubt" // the whole message went out and no answer came back: perhaps sent, never again
)

// Outbox is the table orders.notifications and its sender.
type Outbox struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	cfg    Config
	emails *prometheus.CounterVec
	// server is where cfg.SMTPURL sends, read once (parseServer), or why it cannot be.
	server    server
	serverErr error
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
	emails := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Name: "emails_total",
		Help: "Emails handled by the sender, a try each, by kind and outcome (sent, deferred: not taken by the server, tried again later, failed, recorded: no SMTP configured, no address or a confirmation of an order given up, in_doubt: no answer to the whole message).",
	}, []string{"kind", "outcome"})
	// Every series starts at 0, so increase() sees the first failure after a restart.
	for _, kind := range []string{sagas.KindOrderConfirmed, sagas.KindOrderCompleted, sagas.KindOrderCancelled, sagas.KindOrderRejected} {
		for _, outcome := range []string{emailSent, emailDeferred, emailFailed, emailRecorded, emailInDoubt} {
			emails.WithLabelValues(kind, outcome)
		}
	}
	o := &Outbox{pool: pool, logger: logger, cfg: cfg, emails: emails}
	if cfg.SMTPURL != "" {
		o.server, o.serverErr = parseServer(cfg.SMTPURL)
	}
	return o
}

// Collectors are the sender's metrics, for the host's registry.
func (s *Outbox) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.emails, s.emailsCollector()}
}

// Record stores the email n in the saga step's transaction tx; the sender delivers it at
// most once. An order gets each kind of email once: a second one is ignored.
func (s *Outbox) Record(ctx context.Context, tx pgx.Tx, orderID string, n sagas.Notify) error {
	_, err := tx.Exec(ctx, `INSERT INTO orders.notifications (order_id, kind, recipient, subject, body)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id, kind) DO NOTHING`, orderID, n.Kind, n.Recipient, n.Subject, n.Body)
	return err
}

// notification is a claimed email waiting to go out: attempts earlier tries, recorded at
// created.
type notification struct {
	id                               int64
	orderID, kind, to, subject, body string
	attempts                         int
	created                          time.Time
	claimed                          time.Time // this claim's, which its outcome names
}

// mailOutcome is what became of a claimed email: sent, or the error that stopped it, and
// when it is to be tried again if the server certainly did not take it.
type mailOutcome struct {
	id int64
	// claimed is the claim the outcome is of: recorded only on the email still so
	// claimed. A statement that committed but whose answer was lost is sent again with its
	// outcomes, and a deferral recorded a second time put back in the queue an email
	// another replica had claimed and sent since (a review): sent twice.
	claimed time.Time
	err     *string
	retryAt *time.Time
	// settled: recorded without being sent (no mail server configured, or no address);
	// err says why.
	settled bool
	// down: the server took no email at all (not reached, or broke off), rather than
	// refusing this one for now, or gave no answer to a whole message (in doubt); only that
	// pauses the worker.
	down bool
	// inDoubt: the whole message went out and no answer came back. It is left claimed
	// without an outcome, as a crash leaves one: in doubt, never sent again (err is for
	// the log).
	inDoubt bool
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
	var down outage            // the server is not taking emails: no claims until it is worth a try
	// A drain is over when a statement failed, or when the queue came up short (or the
	// server is down) and every sender is idle with its outcome on record.
	drained := func() bool {
		return drain && (hold || (!look || down.pausing()) && idle == senders && len(outcomes) == 0)
	}
	taken := func(o mailOutcome) {
		idle++
		outcomes = append(outcomes, o)
		down.observe(ctx, s.logger, o)
	}
	// settled reports whether a statement worked; one that failed holds the loop until the
	// next tick, and is logged once a spell (a database outage is one line, not five a
	// second), unless the worker is stopping.
	failing := false
	settled := func(serr error) bool {
		switch {
		case serr != nil && !failing && ctx.Err() == nil:
			s.logger.ErrorContext(ctx, "sending notifications: the outbox's statement failed; tried again each poll", "err", serr)
		case serr == nil && failing:
			s.logger.InfoContext(ctx, "sending notifications: the outbox's statements work again")
		}
		failing = serr != nil
		if failing {
			err, hold = serr, true
		}
		return !failing
	}
	for ctx.Err() == nil && !drained() {
		switch {
		case hold:
		case look && idle > 0 && !down.pausing():
			// The claim is not cut by the stop: a claim cancelled mid-statement could commit
			// with its answer lost, and its emails, claimed and never handed to a sender,
			// were never sent (a probe's SIGTERMs under load left seven). Claimed, they are
			// sent within the stop's grace.
			stmt, done := statement(ctx)
			claimed, cerr := s.claim(stmt, outcomes, idle)
			done()
			if !settled(cerr) {
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
			stmt, done := statement(ctx)
			_, rerr := s.claim(stmt, outcomes, 0)
			done()
			if !settled(rerr) {
				continue
			}
			outcomes = outcomes[:0]
			continue // a drain may be over
		}
		select {
		case o := <-done:
			taken(o)
			for len(done) > 0 { // and every other sender that is done by now (this loop alone receives from done)
				taken(<-done)
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

// outage follows sends the server did not take because it took none, or left in doubt
// (mailOutcome.down):
// after one, the worker claims nothing for pauseFor, longer for each try in a row (sends
// that fail while a pause runs were in flight with the one that began it: one try),
// and the spell is logged once when it begins and once when an email goes out again. A
// server refusing one recipient for now (greylisting, a full mailbox) is no outage: a
// probe's greylisted recipients, counted as one, held every other email up for 16 minutes.
type outage struct {
	inARow int
	until  time.Time
}

func (d *outage) pausing() bool { return d.inARow > 0 && time.Now().Before(d.until) }

func (d *outage) observe(ctx context.Context, logger *slog.Logger, o mailOutcome) {
	switch {
	case o.down && d.pausing():
		// Sent alongside the one that began this pause: the same try at the server, not
		// another in a row (eight senders failing together paused the worker a minute at
		// once, and an outage of seconds held emails up that long).
	case o.down:
		if d.inARow == 0 {
			logger.WarnContext(ctx, "the mail server is not taking emails: they wait and are tried again", "err", *o.err)
		}
		d.inARow++
		d.until = time.Now().Add(pauseFor(d.inARow))
	case o.err == nil && d.inARow > 0:
		logger.InfoContext(ctx, "the mail server takes emails again", "not_taken_in_a_row", d.inARow)
		d.inARow = 0
	}
}

// recordLast records outcomes even when ctx has ended: a claimed email is retried only when
// its row says so, so the row must say what became of it.
func (s *Outbox) recordLast(ctx context.Context, outcomes []mailOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	stmt, done := statement(ctx)
	defer done()
	_, err := s.claim(stmt, outcomes, 0)
	return err
}

// statementTimeout bounds one of the outbox's statements, which a stop does not cut.
const statementTimeout = 5 * time.Second

// statement is the context of one outbox statement: ctx's values, not its end, within
// statementTimeout.
func statement(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
}

// send hands a claimed email to SMTP (deliver), counts it and says what became of it. One
// the server certainly did not take is tried again after retryDelay, until RetryFor after
// it was recorded; the worker logs those once a spell (outage), not one by one.
func (s *Outbox) send(ctx context.Context, n notification) mailOutcome {
	outcome, err := s.deliver(ctx, n)
	if err != nil && ctx.Err() != nil {
		// ctx ends only when the stop's grace is over: say so, in the log and on the email,
		// rather than a bare i/o timeout.
		err = fmt.Errorf("cut off by the process's stop (its grace, SHUTDOWN_TIMEOUT, was over): %w", err)
	}
	now := time.Now()
	if outcome == emailDeferred && now.Sub(n.created) >= RetryFor {
		outcome, err = emailFailed, fmt.Errorf("not taken by the mail server in %s of tries (%d): %w", RetryFor, n.attempts+1, err)
	}
	s.emails.WithLabelValues(n.kind, outcome).Inc()
	o := mailOutcome{id: n.id, claimed: n.claimed, settled: outcome == emailRecorded}
	if err != nil {
		e := err.Error()
		o.err = &e
	}
	switch outcome {
	case emailDeferred:
		at := now.Add(retryDelay(n.attempts))
		var later notTaken
		o.retryAt, o.down = &at, errors.As(err, &later) && !later.forNow
		s.logger.DebugContext(ctx, "email not taken: tried again later", append(logging.Order(n.orderID), "kind", n.kind, "attempt", n.attempts+1, "retry_at", at, "err", err)...)
	case emailFailed:
		s.logger.ErrorContext(ctx, "email not sent", append(logging.Order(n.orderID), "kind", n.kind, "err", err)...)
	case emailInDoubt:
		// A server that drops every connection after the message (a crashing filter, a
		// proxy cutting it) put the whole queue in doubt in seconds, never to be sent (a
		// probe: 749 emails in 20 s): it pauses the worker as an outage does, so a spell
		// costs about one email a sender a pause.
		o.inDoubt, o.down = true, true
		s.logger.WarnContext(ctx, "email in doubt: the mail server had the whole message and gave no answer; perhaps sent, not sent again",
			append(logging.Order(n.orderID), "kind", n.kind, "err", err)...)
	}
	return o
}

// claim records outcomes and claims the n oldest unclaimed emails that are due (fewer
// when fewer are left, none when n is 0), in one committed statement; the emails come
// oldest first. An outcome with a retryAt puts its email back, unclaimed, due then.
//
// The emails are picked once, in a CTE kept MATERIALIZED: as a subquery under IN, a plan
// may run it again for each row (a nested loop, which a table whose statistics say it is
// empty gets), and each run, skipping the rows claimed so far, claimed more: LIMIT 6
// claimed 40, and with more emails than senders the worker stopped for good (a probe).
func (s *Outbox) claim(ctx context.Context, outcomes []mailOutcome, n int) ([]notification, error) {
	ids := make([]int64, len(outcomes))
	claims := make([]time.Time, len(outcomes))
	errs := make([]*string, len(outcomes))
	retries := make([]*time.Time, len(outcomes))
	settled := make([]bool, len(outcomes))
	for i, o := range outcomes {
		if o.inDoubt {
			continue // left claimed, with no outcome: in doubt (ids[i] 0 matches no row)
		}
		ids[i], claims[i], errs[i], retries[i], settled[i] = o.id, o.claimed, o.err, o.retryAt, o.settled
	}
	rows, err := s.pool.Query(ctx, `
		WITH recorded AS (
			UPDATE orders.notifications n SET sent_at = CASE WHEN o.err IS NULL OR o.settled THEN now() END, error = o.err,
				claimed_at = CASE WHEN o.retry_at IS NULL THEN n.claimed_at END, retry_at = o.retry_at, attempts = n.attempts + 1
			FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $5::boolean[], $6::timestamptz[]) AS o(id, err, retry_at, settled, claimed_at)
			WHERE n.id = o.id AND n.claimed_at = o.claimed_at),
		picked AS MATERIALIZED (SELECT id FROM orders.notifications WHERE claimed_at IS NULL AND (retry_at IS NULL OR retry_at <= now())
			ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
		UPDATE orders.notifications n SET claimed_at = now(), error = NULL, retry_at = NULL FROM picked WHERE n.id = picked.id
		RETURNING n.id, order_id, kind, recipient, subject, body, attempts, created_at, n.claimed_at`, ids, errs, retries, n, settled, claims)
	if err != nil {
		return nil, err
	}
	claimed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (notification, error) {
		var n notification
		err := row.Scan(&n.id, &n.orderID, &n.kind, &n.to, &n.subject, &n.body, &n.attempts, &n.created, &n.claimed)
		return n, err
	})
	slices.SortFunc(claimed, func(a, b notification) int { return cmp.Compare(a.id, b.id) })
	return claimed, err
}

// deliver hands one email to SMTP when SMTP_URL is set and the order has an email
// address; otherwise it is only logged, and the error says why (emailRecorded). It says
// what became of it (emailSent, emailDeferred, emailFailed or emailRecorded).
func (s *Outbox) deliver(ctx context.Context, n notification) (string, error) {
	if s.cfg.SMTPURL == "" || n.to == "" {
		reason := "no mail server configured (SMTP_URL): logged, not sent"
		if n.to == "" {
			reason = "the order has no email address"
		}
		s.logger.Info("email recorded, not sent", append(logging.Order(n.orderID), "reason", reason, "kind", n.kind, "to", n.to, "subject", n.subject)...)
		return emailRecorded, errors.New(reason)
	}
	if why, err := s.overtaken(ctx, n); err != nil {
		return emailDeferred, err
	} else if why != "" {
		s.logger.InfoContext(ctx, "email not sent: overtaken by its order", append(logging.Order(n.orderID), "kind", n.kind, "why", why)...)
		return emailRecorded, errors.New(why)
	}
	if s.serverErr != nil {
		return emailFailed, s.serverErr
	}
	from := s.cfg.From
	to := ASCIIDomain(n.to)
	msg := strings.Join([]string{
		"From: " + from,
		"To: " + to,
		"Subject: " + n.subject,
		"Date: " + s.cfg.Now().UTC().Format(time.RFC1123Z),
		"Message-ID: <" + n.orderID + "." + n.kind + "@ordermill>",
		"MIME-Version: 1.0", // without it a reader may ignore the charset (RFC 2045)
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit",
		"",
		n.body,
	}, "\r\n")
	if err := s.sendMail(ctx, from, to, []byte(msg)); err != nil {
		switch {
		case errors.As(err, new(notTaken)):
			return emailDeferred, err
		case errors.As(err, new(noAnswer)):
			return emailInDoubt, err
		}
		return emailFailed, err
	}
	return emailSent, nil
}

// overtaken says why confirmation n is not to be sent now that its order has been given
// up, or "": a confirmation asks the customer to pay, and one held back by the mail server
// went out after the order had been cancelled (a probe: "Pay at … to have it shipped", for
// a cancelled order). A first try is asked too: one that comes late (a backlog, a mailer
// stopped for a while) is as stale as a retry. A paid order's still goes: it says there is
// nothing more to do once paid, and it is the customer's only confirmation (the review).
// Its order's summary may lag behind, never run ahead; one not written yet is an order
// placed a moment ago, whose confirmation goes.
func (s *Outbox) overtaken(ctx context.Context, n notification) (string, error) {
	if n.kind != sagas.KindOrderConfirmed {
		return "", nil
	}
	stmt, done := statement(ctx)
	defer done()
	st, _, err := projections.SummaryStatus(stmt, s.pool, n.orderID)
	switch {
	case err != nil:
		// Tried again later, as an email refused for now: not an outage of the mail server.
		return "", notTaken{err: err, forNow: true}
	case st == order.StatusCancelled || st == order.StatusRejected:
		return fmt.Sprintf("not sent: the order is %s by now, and the confirmation asks for a payment", st), nil
	}
	return "", nil
}

// ASCIIDomain is address with its domain in ASCII (IDNA's A-labels, xn--…), which every
// mail server takes: an internationalised domain went out as raw UTF-8 to servers that do
// not offer SMTPUTF8, and one that refused it failed the email for good (a probe's
// user@bücher.example, where user@xn--bcher-kva.example was delivered). A domain IDNA
// cannot convert is left as it is.
func ASCIIDomain(address string) string {
	at := strings.LastIndexByte(address, '@')
	if at < 0 || IsASCII(address[at+1:]) {
		return address
	}
	domain, err := idna.Lookup.ToASCII(address[at+1:])
	if err != nil {
		return address
	}
	return address[:at+1] + domain
}

// IsASCII says whether s holds only ASCII characters.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// noAnswer is an error after the end of the message went out, with no answer back: the
// server may have taken the email, so it is left in doubt, as a crash leaves one (it was
// recorded failed, "refused for good", until a probe's server answered 250 after the
// timeout).
type noAnswer struct{ err error }

func (e noAnswer) Error() string { return e.err.Error() }
func (e noAnswer) Unwrap() error { return e.err }

// notTaken is an error after which the server certainly does not have the email, and
// which may pass: it could not be reached, the conversation broke off before the end of
// the message, or it refused for now (4xx; forNow: this email, a server that works).
// Trying again cannot send the email twice.
type notTaken struct {
	err    error
	forNow bool
}

func (e notTaken) Error() string { return e.err.Error() }

// refusal classifies an error of the conversation before the end of the message: a reply
// refusing for good (5xx) fails the email, and so does an error of ours (a recipient
// smuggling a line break); a reply refusing for now, or a connection that broke, leaves it
// for later.
func refusal(err error) error {
	var reply *textproto.Error
	var netErr net.Error
	switch {
	case errors.As(err, &reply):
		if reply.Code >= 500 {
			return err
		}
		// 421 is the server closing for everyone; another 4xx refuses this email for now.
		return notTaken{err: err, forNow: reply.Code != 421}
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.Canceled):
	default:
		return err
	}
	return notTaken{err: err}
}

// sendMail is smtp.SendMail bounded by ctx and smtpTimeout (SendMail has no deadline: a
// silent server would block it forever). It says whether the server can have the email:
// every failure before the end of the message is a refusal (a 5xx, or an input it cannot
// carry) or notTaken; a failure of the end of the message itself is notTaken only when the
// server answered 4xx, and in doubt otherwise. Once the server took the message, a failed
// QUIT changes nothing.
func (s *Outbox) sendMail(ctx context.Context, from, to string, msg []byte) error {
	srv := s.server
	ctx, cancel := context.WithTimeout(ctx, smtpTimeout)
	defer cancel()
	tlsConfig := &tls.Config{ServerName: srv.host, RootCAs: s.cfg.RootCAs}
	var conn net.Conn
	var err error
	if srv.implicitTLS {
		conn, err = (&tls.Dialer{Config: tlsConfig}).DialContext(ctx, "tcp", srv.addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", srv.addr)
	}
	if err != nil {
		return notTaken{err: err}
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) }) // a cancel unblocks I/O
	defer stop()
	// Reaching the server, TLS and signing in concern the server, not this email: whatever
	// fails there (a certificate, a password), the email waits for it to be mended.
	c, err := smtp.NewClient(conn, srv.name)
	if err != nil {
		return notTaken{err: err}
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && !srv.implicitTLS {
		if err := c.StartTLS(tlsConfig); err != nil {
			return notTaken{err: err}
		}
	} else if !ok && !srv.implicitTLS && !srv.clearAllowed {
		return notTaken{err: fmt.Errorf("the mail server %s does not offer STARTTLS, and an email is not sent in clear over a network: use smtps:// if it takes TLS from the start, or add ?tls=optional to SMTP_URL to send in clear", srv.addr)}
	}
	if auth := srv.auth; auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return notTaken{err: errors.New("smtp: server doesn't support AUTH")}
		}
		if err := c.Auth(auth); err != nil {
			return notTaken{err: err}
		}
	}
	if ok, _ := c.Extension("SMTPUTF8"); !ok && !IsASCII(to) {
		// Sent raw, it broke RFC 6531, and a server refusing it failed the email all the same.
		return fmt.Errorf("the address %q is not ASCII (its domain, when IDNA could make it so, is sent as xn--…), and the mail server does not take such addresses (no SMTPUTF8)", to)
	}
	if err := c.Mail(from); err != nil { // with SMTPUTF8 when the server offers it (net/smtp)
		return refusal(err)
	}
	if err := c.Rcpt(to); err != nil {
		return refusal(err)
	}
	w, err := c.Data()
	if err != nil {
		return refusal(err)
	}
	if _, err := w.Write(msg); err != nil {
		return refusal(err)
	}
	if err := w.Close(); err != nil {
		var reply *textproto.Error
		if errors.As(err, &reply) {
			return refusal(err)
		}
		return noAnswer{err} // the end of the message went out, and no answer came back: in doubt
	}
	_ = c.Quit() // taken: a QUIT that fails now leaves it taken
	return nil
}
