package orders

import (
	"context"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// notification is a claimed email waiting to go out.
type notification struct {
	id                               int64
	orderID, kind, to, subject, body string
}

// mailBatch is how many emails one claim takes.
const mailBatch = 20

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
func (s *Service) SendPending(ctx context.Context) (int, error) {
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
	for _, n := range batch {
		sendErr := s.deliver(n)
		var errText *string
		if sendErr != nil {
			e := sendErr.Error()
			errText = &e
			s.logger.ErrorContext(ctx, "email not sent", "order", n.orderID, "kind", n.kind, "err", sendErr)
		}
		if _, err := s.pool.Exec(ctx, `UPDATE orders.notifications SET sent_at = CASE WHEN $2::text IS NULL THEN now() END, error = $2 WHERE id = $1`, n.id, errText); err != nil {
			return len(batch), err
		}
	}
	return len(batch), nil
}

// deliver hands one email to SMTP when SMTP_URL is set; otherwise it is only logged.
func (s *Service) deliver(n notification) error {
	if s.cfg.SMTPURL == "" || n.to == "" {
		s.logger.Info("email recorded (no SMTP configured)", "order", n.orderID, "kind", n.kind, "to", n.to, "subject", n.subject)
		return nil
	}
	u, err := url.Parse(s.cfg.SMTPURL)
	if err != nil {
		return fmt.Errorf("SMTP_URL: %w", err)
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
	return smtp.SendMail(host, auth, from, []string{n.to}, []byte(msg))
}
