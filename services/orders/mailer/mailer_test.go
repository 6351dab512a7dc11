package orders_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/orders"
)

// mailFrom is the sender the tests configure.
const mailFrom = "shop@ordermill.test"

// receivedMail is one message an SMTP server accepted.
type receivedMail struct {
	from string   // MAIL FROM
	to   []string // RCPT TO
	data string   // the message as transferred (headers, blank line, body)
	user string   // who authenticated, "" without AUTH
}

// smtpServer is a real SMTP server (go-smtp) on a loopback port that records what it is
// given. With user set it offers AUTH PLAIN and refuses mail from unauthenticated
// sessions; rcptErr makes it refuse every recipient.
type smtpServer struct {
	addr       string
	user, pass string
	rcptErr    error

	mu        sync.Mutex
	mails     []receivedMail
	rcpts     int      // RCPT commands seen, accepted or not
	authTries []string // "user:pass" of every AUTH attempt
}

type smtpConfig struct {
	host       string // listen address host; 127.0.0.1 unless set
	user, pass string
	rcptErr    error
}

func startSMTP(t *testing.T, cfg smtpConfig) *smtpServer {
	t.Helper()
	if cfg.host == "" {
		cfg.host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, "0"))
	require.NoError(t, err)
	s := &smtpServer{addr: ln.Addr().String(), user: cfg.user, pass: cfg.pass, rcptErr: cfg.rcptErr}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		assert.NoError(t, srv.Close())
		<-served
	})
	return s
}

// url is an SMTP_URL for the server, with credentials when user is non-empty.
func (s *smtpServer) url(host, user, pass string) string {
	_, port, _ := net.SplitHostPort(s.addr)
	cred := ""
	if user != "" {
		cred = user + ":" + pass + "@"
	}
	return "smtp://" + cred + net.JoinHostPort(host, port)
}

func (s *smtpServer) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.mails...)
}

func (s *smtpServer) rcptCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcpts
}

func (s *smtpServer) authAttempts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.authTries...)
}

// NewSession implements smtp.Backend.
func (s *smtpServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{srv: s}, nil
}

type smtpSession struct {
	srv  *smtpServer
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (ss *smtpSession) AuthMechanisms() []string {
	if ss.srv.user == "" {
		return nil // no AUTH advertised
	}
	return []string{sasl.Plain}
}

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.srv.user == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		ss.srv.mu.Lock()
		ss.srv.authTries = append(ss.srv.authTries, username+":"+password)
		ss.srv.mu.Unlock()
		if username != ss.srv.user || password != ss.srv.pass {
			return errors.New("invalid credentials")
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.user != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.srv.mu.Lock()
	ss.srv.rcpts++
	ss.srv.mu.Unlock()
	if ss.srv.rcptErr != nil {
		return ss.srv.rcptErr
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.srv.mu.Lock()
	ss.srv.mails = append(ss.srv.mails, receivedMail{from: ss.from, to: ss.to, data: string(raw), user: ss.user})
	ss.srv.mu.Unlock()
	return nil
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

// notificationRow is an orders.notifications row as the tests insert and read it.
type notificationRow struct {
	id                               int64
	orderID, kind, to, subject, body string
	claimed, sent                    bool
	errText                          string
}

// insertNotification records an email the way the saga does.
func insertNotification(t *testing.T, pool *pgxpool.Pool, orderID, kind, to, subject, body string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, pool.QueryRow(context.Background(), `
		INSERT INTO orders.notifications (order_id, kind, recipient, subject, body)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, orderID, kind, to, subject, body).Scan(&id))
	return id
}

func notificationByID(t *testing.T, pool *pgxpool.Pool, id int64) notificationRow {
	t.Helper()
	n := notificationRow{id: id}
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT order_id, kind, recipient, subject, body, claimed_at IS NOT NULL, sent_at IS NOT NULL, coalesce(error, '')
		FROM orders.notifications WHERE id = $1`, id).
		Scan(&n.orderID, &n.kind, &n.to, &n.subject, &n.body, &n.claimed, &n.sent, &n.errText))
	return n
}

func newMailer(pool *pgxpool.Pool, smtpURL string) *orders.Service {
	return orders.New(pool, slog.New(slog.DiscardHandler), orders.Config{SMTPURL: smtpURL, MailFrom: mailFrom})
}

// parseMail splits a received message into its headers and body.
func parseMail(t *testing.T, m receivedMail) (*mail.Message, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(m.data))
	require.NoError(t, err, "message: %q", m.data)
	body, err := io.ReadAll(msg.Body)
	require.NoError(t, err)
	return msg, string(body)
}

func TestSendPendingDeliversEachEmailOnceOverSMTP(t *testing.T) {
	for _, tc := range []struct {
		name       string
		user, pass string // what the server requires; "" offers no AUTH
		urlHost    string
	}{
		{name: "no auth", urlHost: "127.0.0.1"},
		{name: "PLAIN auth on 127.0.0.1", user: "mailer", pass: "s3cret", urlHost: "127.0.0.1"},
		{name: "PLAIN auth on localhost", user: "mailer", pass: "s3cret", urlHost: "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := pgtest.Pool(t)
			srv := startSMTP(t, smtpConfig{user: tc.user, pass: tc.pass})
			svc := newMailer(pool, srv.url(tc.urlHost, tc.user, tc.pass))

			rows := []notificationRow{
				{orderID: "ord-1", kind: "order_confirmed", to: "ann@example.com", subject: "Your order is confirmed",
					body: "We have reserved your items for order ord-1 (1.00 EUR). Complete payment to have it shipped."},
				{orderID: "ord-2", kind: "order_cancelled", to: "bob@example.com", subject: "Your order has been cancelled",
					// A line starting with a dot must survive SMTP's dot-stuffing.
					body: "Order ord-2 was cancelled (timed_out).\r\n.Any reserved items were released.\r\nBye"},
				{orderID: "ord-3", kind: "order_confirmed", to: "", subject: "Your order is confirmed", body: "no address given"},
			}
			for i := range rows {
				r := &rows[i]
				r.id = insertNotification(t, pool, r.orderID, r.kind, r.to, r.subject, r.body)
			}

			n, err := svc.SendPending(t.Context())
			require.NoError(t, err)
			assert.Equal(t, 3, n, "every pending row is claimed, the one without recipient too")

			got := srv.received()
			require.Len(t, got, 2, "one message per row with a recipient, none for the empty recipient")
			byTo := map[string]receivedMail{}
			for _, m := range got {
				require.Len(t, m.to, 1)
				byTo[m.to[0]] = m
			}
			for _, r := range rows[:2] {
				m, ok := byTo[r.to]
				require.True(t, ok, "no message to %s", r.to)
				assert.Equal(t, mailFrom, m.from, "envelope sender")
				assert.Equal(t, tc.user, m.user, "authenticated as")
				msg, body := parseMail(t, m)
				assert.Equal(t, mailFrom, msg.Header.Get("From"))
				assert.Equal(t, r.to, msg.Header.Get("To"))
				assert.Equal(t, r.subject, msg.Header.Get("Subject"))
				assert.Equal(t, "<"+r.orderID+"."+r.kind+"@ordermill>", msg.Header.Get("Message-Id"))
				assert.Equal(t, "text/plain; charset=utf-8", msg.Header.Get("Content-Type"))
				date, err := msg.Header.Date()
				if assert.NoError(t, err) {
					assert.WithinDuration(t, time.Now(), date, time.Minute)
				}
				assert.Equal(t, r.body+"\r\n", body)

				row := notificationByID(t, pool, r.id)
				assert.True(t, row.claimed)
				assert.True(t, row.sent, "sent_at is set once SMTP accepted the message")
				assert.Empty(t, row.errText)
			}
			noRecipient := notificationByID(t, pool, rows[2].id)
			assert.True(t, noRecipient.claimed)
			assert.True(t, noRecipient.sent, "an email without recipient is recorded (logged), not retried")
			assert.Empty(t, noRecipient.errText)
			if tc.user != "" {
				assert.Equal(t, []string{tc.user + ":" + tc.pass, tc.user + ":" + tc.pass}, srv.authAttempts(), "one AUTH per message")
			}

			// At most once: a second pass finds nothing to send.
			n, err = svc.SendPending(t.Context())
			require.NoError(t, err)
			assert.Zero(t, n)
			assert.Len(t, srv.received(), 2)

			// A row recorded later is sent on the next pass, alone.
			late := insertNotification(t, pool, "ord-4", "order_completed", "cat@example.com", "Your order has been delivered", "Delivered.")
			n, err = svc.SendPending(t.Context())
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			got = srv.received()
			require.Len(t, got, 3)
			assert.Equal(t, []string{"cat@example.com"}, got[2].to)
			assert.True(t, notificationByID(t, pool, late).sent)
		})
	}
}

func TestSendPendingRecordsRefusalAndDoesNotRetry(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}})
	svc := newMailer(pool, srv.url("127.0.0.1", "", ""))
	id := insertNotification(t, pool, "ord-1", "order_confirmed", "nobody@example.com", "Your order is confirmed", "body")

	n, err := svc.SendPending(t.Context())
	require.NoError(t, err, "a refused email is the row's error, not the sender's")
	assert.Equal(t, 1, n)
	assert.Empty(t, srv.received())
	assert.Equal(t, 1, srv.rcptCount())
	row := notificationByID(t, pool, id)
	assert.True(t, row.claimed)
	assert.False(t, row.sent)
	assert.Contains(t, row.errText, "550")
	assert.Contains(t, row.errText, "mailbox unavailable")

	// At most once: a refused email stays claimed and is not offered to SMTP again.
	n, err = svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, 1, srv.rcptCount())
	assert.False(t, notificationByID(t, pool, id).sent)
}

func TestSendPendingRecordsMisconfiguredSMTP(t *testing.T) {
	// Credentials for a server that offers no AUTH: the password is never sent in clear
	// to a server that did not ask for it, and the row says why.
	t.Run("credentials but no AUTH offered", func(t *testing.T) {
		pool := pgtest.Pool(t)
		srv := startSMTP(t, smtpConfig{})
		svc := newMailer(pool, srv.url("127.0.0.1", "mailer", "s3cret"))
		id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")
		_, err := svc.SendPending(t.Context())
		require.NoError(t, err)
		assert.Empty(t, srv.received())
		row := notificationByID(t, pool, id)
		assert.False(t, row.sent)
		assert.Contains(t, row.errText, "AUTH")
	})
	t.Run("wrong password", func(t *testing.T) {
		pool := pgtest.Pool(t)
		srv := startSMTP(t, smtpConfig{user: "mailer", pass: "s3cret"})
		svc := newMailer(pool, srv.url("127.0.0.1", "mailer", "wrong"))
		id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")
		_, err := svc.SendPending(t.Context())
		require.NoError(t, err)
		assert.Empty(t, srv.received())
		assert.Equal(t, []string{"mailer:wrong"}, srv.authAttempts())
		row := notificationByID(t, pool, id)
		assert.False(t, row.sent)
		assert.NotEmpty(t, row.errText)
	})
	t.Run("nothing listening", func(t *testing.T) {
		pool := pgtest.Pool(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		svc := newMailer(pool, "smtp://"+addr)
		id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")
		_, err = svc.SendPending(t.Context())
		require.NoError(t, err)
		row := notificationByID(t, pool, id)
		assert.True(t, row.claimed)
		assert.False(t, row.sent)
		assert.Contains(t, row.errText, "connect")
	})
}

// The recipient comes from the order (customer input) and goes into a header: one that
// smuggles a line break must not add headers or recipients.
func TestSendPendingRefusesHeaderInjection(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{})
	svc := newMailer(pool, srv.url("127.0.0.1", "", ""))
	id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com\r\nBcc: mallory@example.com", "s", "b")
	_, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Empty(t, srv.received())
	row := notificationByID(t, pool, id)
	assert.False(t, row.sent)
	assert.Contains(t, row.errText, "CR or LF")
}

// net/smtp's PLAIN auth refuses to send a password over an unencrypted connection unless
// the server is localhost (by name: localhost, 127.0.0.1 or ::1). 127.0.0.1 works (see
// above); any other address without TLS fails before the password leaves the process.
func TestPlainAuthRefusedOverPlaintextToNonLocalhost(t *testing.T) {
	// 127.0.0.2 is a loopback address too, but not one net/smtp trusts by name.
	probe, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	require.NoError(t, probe.Close())

	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{host: "127.0.0.2", user: "mailer", pass: "s3cret"})
	svc := newMailer(pool, srv.url("127.0.0.2", "mailer", "s3cret"))
	id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")

	n, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Empty(t, srv.received())
	assert.Empty(t, srv.authAttempts(), "the password must not reach a server over plaintext")
	row := notificationByID(t, pool, id)
	assert.False(t, row.sent)
	assert.Contains(t, row.errText, "unencrypted connection")
}

func TestSendPendingWithoutSMTPOnlyRecords(t *testing.T) {
	pool := pgtest.Pool(t)
	// A server exists but is not configured: nothing may reach it.
	srv := startSMTP(t, smtpConfig{})
	svc := newMailer(pool, "")
	ids := []int64{
		insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b"),
		insertNotification(t, pool, "ord-2", "order_confirmed", "bob@example.com", "s", "b"),
	}
	n, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	for _, id := range ids {
		row := notificationByID(t, pool, id)
		assert.True(t, row.claimed)
		assert.True(t, row.sent, "without SMTP_URL an email counts as sent once logged")
		assert.Empty(t, row.errText)
	}
	assert.Empty(t, srv.received())
	n, err = svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
}

// Concurrent senders (replicas, or the worker and a manual pass) claim disjoint rows:
// every email goes out exactly once.
func TestConcurrentSendPendingSendsEachEmailOnce(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{user: "mailer", pass: "s3cret"})
	const rows = 30
	ids := map[string]int64{}
	for i := range rows {
		to := fmt.Sprintf("customer-%02d@example.com", i)
		ids[to] = insertNotification(t, pool, fmt.Sprintf("ord-%02d", i), "order_confirmed", to, "Your order is confirmed", "body "+to)
	}

	const senders = 2
	counts := make([]int, senders)
	errs := make([]error, senders)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range senders {
		// Each sender is its own service value, as in another replica.
		svc := newMailer(pool, srv.url("127.0.0.1", "mailer", "s3cret"))
		wg.Go(func() {
			<-gate
			for {
				n, err := svc.SendPending(context.Background())
				counts[i] += n
				if err != nil || n == 0 {
					errs[i] = err
					return
				}
			}
		})
	}
	close(gate)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, rows, counts[0]+counts[1], "the senders' claims add up to the rows: none claimed twice")

	perRecipient := map[string]int{}
	for _, m := range srv.received() {
		for _, to := range m.to {
			perRecipient[to]++
		}
	}
	require.Len(t, perRecipient, rows, "every email was sent")
	for to, n := range perRecipient {
		assert.Equal(t, 1, n, "%s received %d copies", to, n)
		assert.True(t, notificationByID(t, pool, ids[to]).sent)
	}
}

// A server that accepts the connection and never answers must not hold the sender past
// its context: the worker would stall (and a shutdown hang) with a batch claimed. The
// email cut off records why; the rest of the batch, never handed to SMTP, is given back.
func TestSendPendingGivesUpOnAnUnresponsiveServer(t *testing.T) {
	pool := pgtest.Pool(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	accepted := make(chan net.Conn, 8)
	greeting := make(chan struct{}) // closed when the first email's SMTP connection is open
	conns.Go(func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never greeted
			if i == 0 {
				close(greeting)
			}
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		conns.Wait()
		close(accepted)
		for c := range accepted {
			_ = c.Close()
		}
	})
	svc := newMailer(pool, "smtp://"+ln.Addr().String())
	first := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")
	rest := []int64{
		insertNotification(t, pool, "ord-2", "order_confirmed", "bob@example.com", "s", "b"),
		insertNotification(t, pool, "ord-3", "order_confirmed", "cat@example.com", "s", "b"),
	}

	// The context ends while the first email waits for the server's greeting, however
	// long the machine took to get there.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := svc.SendPending(ctx)
		done <- err
	}()
	select {
	case <-greeting:
		cancel()
	case <-time.After(15 * time.Second):
		t.Fatal("SendPending never reached the SMTP server")
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("SendPending still blocked on a silent SMTP server long after its context ended")
	}
	row := notificationByID(t, pool, first)
	assert.True(t, row.claimed)
	assert.False(t, row.sent)
	assert.NotEmpty(t, row.errText, "the claimed email records why it was not sent")
	for _, id := range rest {
		assert.False(t, notificationByID(t, pool, id).claimed, "an email never handed to SMTP goes back to the queue")
	}

	// The next pass (here without SMTP) takes exactly the returned emails.
	n, err := newMailer(pool, "").SendPending(t.Context())
	require.NoError(t, err)
	assert.Equal(t, len(rest), n)
	assert.False(t, notificationByID(t, pool, first).sent, "the cut-off email is not retried")
}

// Found by the crash test (issue 9): while one email is with the SMTP server, the others
// are not claimed yet. A process killed at that moment leaves only that email in doubt;
// the rest are still unclaimed and the next sender takes them. Claiming a batch at once
// lost the whole batch to a SIGKILL.
func TestSendPendingClaimsOnlyTheEmailItIsSending(t *testing.T) {
	pool := pgtest.Pool(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	held := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			held <- c // never greeted: the first email is stuck with the server
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		select {
		case c := <-held:
			_ = c.Close()
		default:
		}
	})
	first := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")
	rest := []int64{
		insertNotification(t, pool, "ord-2", "order_confirmed", "bob@example.com", "s", "b"),
		insertNotification(t, pool, "ord-3", "order_confirmed", "cat@example.com", "s", "b"),
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = newMailer(pool, "smtp://"+ln.Addr().String()).SendPending(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	require.Eventually(t, func() bool { return notificationByID(t, pool, first).claimed }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(held) == 1 }, 10*time.Second, 10*time.Millisecond, "the first email reached the server")
	for _, id := range rest {
		assert.False(t, notificationByID(t, pool, id).claimed, "an email not yet handed to SMTP is not claimed")
	}
}

// While another sender holds its claim open (its claim statement still running), a sender
// takes the other rows at once: it neither waits for the locked rows nor claims them again
// once they are released.
func TestSendPendingSkipsRowsAnotherSenderIsClaiming(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{})
	const rows = 30
	for i := range rows {
		insertNotification(t, pool, fmt.Sprintf("ord-%02d", i), "order_confirmed", fmt.Sprintf("customer-%02d@example.com", i), "s", "b")
	}
	other, err := pool.Begin(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Rollback(context.Background()) })
	tag, err := other.Exec(t.Context(), `
		UPDATE orders.notifications SET claimed_at = now()
		WHERE id IN (SELECT id FROM orders.notifications WHERE claimed_at IS NULL ORDER BY id LIMIT 20 FOR UPDATE)`)
	require.NoError(t, err)
	require.EqualValues(t, 20, tag.RowsAffected())

	svc := newMailer(pool, srv.url("127.0.0.1", "", ""))
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := svc.SendPending(context.Background())
		done <- result{n, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		_ = other.Rollback(context.Background()) // unblock the sender before failing
		t.Fatal("SendPending waited for rows another sender had locked")
	}
	require.NoError(t, res.err)
	assert.Equal(t, rows-20, res.n, "only the rows nobody else was claiming")
	var sent []string
	for _, m := range srv.received() {
		sent = append(sent, m.to...)
	}
	var want []string
	for i := 20; i < rows; i++ {
		want = append(want, fmt.Sprintf("customer-%02d@example.com", i))
	}
	assert.ElementsMatch(t, want, sent)

	require.NoError(t, other.Commit(t.Context()))
	n, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "rows claimed by the other sender are not claimed again")
	assert.Len(t, srv.received(), rows-20)
}
