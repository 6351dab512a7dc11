package orders

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordermill/ordermill/eventstore/logging"
)

// notification is a claimed email waiting to go out.
type notification struct {
	id                               int64
	orderID, kind, to, subject, body string
}

// mailBatch is how many emails one claim takes.
const mailBatch = 20

// smtpTimeout bounds one email's SMTP conversation: a server that stops answering must not
// stall the sender (and its claimed batch) forever.
const smtpTimeout = 30 * time.Second

// RunWorker sends recorded notifications until ctx ends. An email is claimed (and the
// claim committed) before it is handed to SMTP, so a crash can lose an email but never
// send one twice: notifications are sent at most once.
func (s *Service) RunWorker(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.MailPollInterval)
	defer tick.Stop()
	for {
		for {
			n, err := s.SendPending(ctx)
			if err != nil && ctx.Err() == nil {
				s.logger.ErrorContext(ctx, "sending notifications", "err", err)
			}
			if n < mailBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// SendPending claims and sends one batch of unsent notifications; it returns how many.
func (s *Service) SendPending(ctx context.Context) (sent int, err error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE orders.notifications SET claimed_at = now()
		WHERE id IN (SELECT id FROM orders.notifications WHERE claimed_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, order_id, kind, recipient, subject, body`, mailBatch)
	if err != nil {
		return 0, err
	}
	batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (notification, error) {
		var n notification
		return n, row.Scan(&n.id, &n.orderID, &n.kind, &n.to, &n.subject, &n.body)
	})
	if err != nil {
		return 0, err
	}
	// Each outcome is recorded even when ctx ended meanwhile: a claimed email is never
	// retried, so its row must say what became of it. The batch's outcomes go in one
	// statement, after the last email of the batch has been handed over.
	ids, errs := make([]int64, 0, len(batch)), make([]*string, 0, len(batch))
	defer func() {
		if len(ids) == 0 {
			return
		}
		recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, rerr := s.pool.Exec(recordCtx, `
			UPDATE orders.notifications n SET sent_at = CASE WHEN v.error IS NULL THEN now() END, error = v.error
			FROM unnest($1::bigint[], $2::text[]) AS v(id, error) WHERE n.id = v.id`, ids, errs)
		err = errors.Join(err, rerr)
	}()
	for i, n := range batch {
		if ctx.Err() != nil {
			// Stopping: the rest of the batch never reached SMTP, so give it back.
			return i, s.unclaim(batch[i:])
		}
		outcome, sendErr := s.deliver(ctx, n)
		s.metrics.emails.WithLabelValues(n.kind, outcome).Inc()
		var errText *string
		if sendErr != nil {
			e := sendErr.Error()
			errText = &e
			s.logger.ErrorContext(ctx, "email not sent", append(logging.Order(n.orderID), "kind", n.kind, "err", sendErr)...)
		}
		ids, errs = append(ids, n.id), append(errs, errText)
	}
	return len(batch), nil
}

// unclaim returns emails that were claimed but never handed to SMTP to the queue.
func (s *Service) unclaim(batch []notification) error {
	ids := make([]int64, len(batch))
	for i, n := range batch {
		ids[i] = n.id
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE orders.notifications SET claimed_at = NULL WHERE id = ANY($1) AND sent_at IS NULL AND error IS NULL`, ids)
	return err
}

// deliver hands one email to SMTP when SMTP_URL is set; otherwise it is only logged. It
// says which of the two it did (emailSent, emailFailed or emailRecorded).
func (s *Service) deliver(ctx context.Context, n notification) (string, error) {
	if s.cfg.SMTPURL == "" || n.to == "" {
		s.logger.Info("email recorded (no SMTP configured)", append(logging.Order(n.orderID), "kind", n.kind, "to", n.to, "subject", n.subject)...)
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
	from := s.cfg.MailFrom
	msg := strings.Join([]string{
		"From: " + from,
		"To: " + n.to,
		"Subject: " + n.subject,
		"Date: " + s.now().Format(time.RFC1123Z),
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
