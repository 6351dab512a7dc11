package mailer_test

import (
	"bytes"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/orders/mailer"
)

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

// An email the server did not take because of the server (unreachable, or signing in
// fails) is certainly not sent: it goes back to the queue with the reason, due again
// later, not claimed for good.
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
		assertWaitsForARetry(t, row)
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
		assertWaitsForARetry(t, row)
	})
	t.Run("nothing listening", func(t *testing.T) {
		pool := pgtest.Pool(t)
		svc := newMailer(pool, "smtp://"+nothingListening(t))
		id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")
		_, err := svc.SendPending(t.Context())
		require.NoError(t, err)
		row := notificationByID(t, pool, id)
		assert.False(t, row.sent)
		assert.Contains(t, row.errText, "connect")
		assertWaitsForARetry(t, row)
		n, err := svc.SendPending(t.Context())
		require.NoError(t, err)
		assert.Zero(t, n, "not before its retry time")
	})
}

// nothingListening is a loopback address nothing listens on: a mail server that is down.
func nothingListening(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// assertWaitsForARetry checks that row went back to the queue after one try, due later.
func assertWaitsForARetry(t *testing.T, row notificationRow) {
	t.Helper()
	assert.False(t, row.claimed, "back in the queue")
	assert.Equal(t, 1, row.attempts)
	if assert.NotNil(t, row.retryAt) {
		assert.True(t, row.retryAt.After(time.Now()), "due later: %s", row.retryAt)
	}
}

// Found by a probe: while the mail server was unreachable, every email was recorded failed
// and never sent, though a refused connection means it certainly was not. It now waits,
// and goes out once, when the server is back.
func TestAnEmailTheServerDidNotTakeGoesOutOnceItIsBack(t *testing.T) {
	pool := pgtest.Pool(t)
	id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "Your order is confirmed", "body")
	_, err := newMailer(pool, "smtp://"+nothingListening(t)).SendPending(t.Context())
	require.NoError(t, err)
	assertWaitsForARetry(t, notificationByID(t, pool, id))

	srv := startSMTP(t, smtpConfig{})
	svc := newMailer(pool, srv.url("127.0.0.1", "", ""))
	_, err = pool.Exec(t.Context(), `UPDATE orders.notifications SET retry_at = now() WHERE id = $1`, id) // its time comes
	require.NoError(t, err)
	n, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	row := notificationByID(t, pool, id)
	assert.True(t, row.sent)
	assert.Empty(t, row.errText, "sent: the earlier try's error is gone")
	assert.Equal(t, 2, row.attempts)
	require.Len(t, srv.received(), 1)
	n, err = svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Len(t, srv.received(), 1, "once")
}

// A server refusing a recipient for now (4xx: greylisting, a full mailbox) gets the email
// again later; one refusing it for good (5xx) does not (TestSendPendingRecordsRefusalAndDoesNotRetry).
func TestSendPendingTriesAgainAfterARefusalForNow(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try again later"}})
	id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")
	_, err := newMailer(pool, srv.url("127.0.0.1", "", "")).SendPending(t.Context())
	require.NoError(t, err)
	row := notificationByID(t, pool, id)
	assert.False(t, row.sent)
	assert.Contains(t, row.errText, "451")
	assertWaitsForARetry(t, row)
}

// An email the server has not taken for RetryFor is given up: recorded failed, never
// tried again.
func TestAnEmailNotTakenForRetryForIsGivenUp(t *testing.T) {
	pool := pgtest.Pool(t)
	id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")
	_, err := pool.Exec(t.Context(), `UPDATE orders.notifications SET created_at = now() - $2::interval, attempts = 7 WHERE id = $1`,
		id, (mailer.RetryFor + time.Minute).String())
	require.NoError(t, err)
	_, err = newMailer(pool, "smtp://"+nothingListening(t)).SendPending(t.Context())
	require.NoError(t, err)
	row := notificationByID(t, pool, id)
	assert.True(t, row.claimed, "claimed for good")
	assert.False(t, row.sent)
	assert.Nil(t, row.retryAt)
	assert.Contains(t, row.errText, "not taken by the mail server in 24h0m0s of tries (8)")
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

// A password goes in clear only to a server on this machine: a loopback address, any of
// them. net/smtp's PLAIN auth trusts only the names localhost, 127.0.0.1 and ::1, and to
// 127.0.0.2 or LOCALHOST, which the sender took for loopback, every email waited a day and
// failed (a probe): the sender names a loopback server localhost to it. To a server on
// another host a password goes over TLS only (TestAServerElsewhereWithoutSTARTTLSGetsNoEmailInClear).
func TestAPasswordGoesInClearToALoopbackServerOnly(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	require.NoError(t, probe.Close())

	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{host: "127.0.0.2", user: "mailer", pass: "s3cret"})
	svc := newMailer(pool, srv.url("127.0.0.2", "mailer", "s3cret"))
	id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")

	_, err = svc.SendPending(t.Context())
	require.NoError(t, err)
	require.Len(t, srv.received(), 1)
	assert.Equal(t, "mailer", srv.received()[0].user)
	assert.True(t, notificationByID(t, pool, id).sent)
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
		assert.True(t, row.sent, "without SMTP_URL an email is settled once logged, and never tried again")
		assert.Equal(t, "no mail server configured (SMTP_URL): logged, not sent", row.errText, "why it was not sent")
	}
	assert.Empty(t, srv.received())
	n, err = svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestSendPendingRecordsAnEmailWithoutAddressAndSaysWhy(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{})
	var logs bytes.Buffer
	svc := mailer.New(pool, slog.New(slog.NewTextHandler(&logs, nil)), mailer.Config{SMTPURL: srv.url("127.0.0.1", "", ""), From: mailFrom})
	id := insertNotification(t, pool, "ord-1", "order_confirmed", "", "s", "b")
	n, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	row := notificationByID(t, pool, id)
	assert.True(t, row.sent, "an email with no address is settled once logged")
	assert.Equal(t, "the order has no email address", row.errText)
	assert.Empty(t, srv.received())
	// SMTP is configured: the log must say the address is what is missing.
	assert.Contains(t, logs.String(), `reason="the order has no email address"`)
	assert.NotContains(t, logs.String(), "no mail server configured")
}

// An order's notifications say what became of each email in one word, so an API client
// need not read it from the fields: an email without an address has a sentAt (settled)
// but was never sent (found by a probe: the API read as if it had gone out).
func TestForOrderSaysWhatBecameOfEachEmail(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}})
	insertNotification(t, pool, "ord-1", "order_confirmed", "", "no address", "b")
	insertNotification(t, pool, "ord-1", "order_cancelled", "gone@example.com", "refused", "b")
	_, err := newMailer(pool, srv.url("127.0.0.1", "", "")).SendPending(t.Context())
	require.NoError(t, err)
	insertNotification(t, pool, "ord-1", "order_completed", "ann@example.com", "not taken", "b")
	_, err = newMailer(pool, "smtp://"+nothingListening(t)).SendPending(t.Context())
	require.NoError(t, err)
	// Without a mail server an email is only logged: not sent, and it says so (a probe
	// found it read "sent" in production without SMTP_URL).
	insertNotification(t, pool, "ord-1", "order_shipped", "ann@example.com", "logged", "b")
	_, err = newMailer(pool, "").SendPending(t.Context())
	require.NoError(t, err)
	insertNotification(t, pool, "ord-1", "payment_refunded", "ann@example.com", "waiting", "b")
	// Claimed by a sender that was killed mid-send: in doubt once the claim is older than
	// a send may take (it read "queued" forever); one claimed just now is being sent.
	insertNotification(t, pool, "ord-1", "order_rejected", "ann@example.com", "cut off", "b")
	insertNotification(t, pool, "ord-1", "order_approved", "ann@example.com", "being sent", "b")
	_, err = pool.Exec(t.Context(), `UPDATE orders.notifications SET claimed_at = now() - make_interval(secs => $1 + 1) WHERE subject = 'cut off'`,
		mailer.InDoubtAfter.Seconds())
	require.NoError(t, err)
	_, err = pool.Exec(t.Context(), `UPDATE orders.notifications SET claimed_at = now() WHERE subject = 'being sent'`)
	require.NoError(t, err)

	m := newMailer(pool, "")
	got, err := m.ForOrder(t.Context(), "ord-1")
	require.NoError(t, err)
	status := map[string]string{}
	for _, n := range got {
		status[n.Subject] = n.Status
		if n.Subject == "logged" {
			require.NotNil(t, n.Error)
			assert.Equal(t, "no mail server configured (SMTP_URL): logged, not sent", *n.Error)
		}
	}
	assert.Equal(t, map[string]string{"no address": mailer.StatusNotSent, "refused": mailer.StatusFailed, "not taken": mailer.StatusDeferred,
		"waiting": mailer.StatusQueued, "logged": mailer.StatusNotSent, "cut off": mailer.StatusInDoubt, "being sent": mailer.StatusQueued}, status)

	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	families, err := reg.Gather()
	require.NoError(t, err)
	gauges := map[string]float64{}
	for _, f := range families {
		if f.GetType() == dto.MetricType_GAUGE {
			gauges[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	assert.Equal(t, 1.0, gauges["ordermill_emails_in_doubt"], "ordermill_emails_in_doubt counts the email cut off")
	assert.Equal(t, 1.0, gauges["ordermill_emails_due"], "the one waiting is due; the one not taken is due later")
	assert.Less(t, gauges["ordermill_emails_due_oldest_seconds"], 60.0)

	// An email due for ten minutes and not claimed: a sender that stopped shows.
	_, err = pool.Exec(t.Context(), `UPDATE orders.notifications SET created_at = now() - interval '10 minutes' WHERE subject = 'waiting'`)
	require.NoError(t, err)
	families, err = reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "ordermill_emails_due_oldest_seconds" {
			assert.GreaterOrEqual(t, f.GetMetric()[0].GetGauge().GetValue(), 600.0)
		}
	}
}

// A confirmation held back by the mail server and tried again once its order was given up
// is not sent: it asks for a payment, and a probe's customer got "Pay at … to have it
// shipped" after the order's cancellation. Nor is one whose first try comes after it (a
// backlog). One whose order still waits, is paid (its text says there is nothing more to
// do then), or has no summary yet (placed a moment ago), goes out.
func TestAConfirmationOfAnOrderGivenUpIsNotSent(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{})
	for id, status := range map[string]string{"ord-cancelled": "cancelled", "ord-rejected": "rejected", "ord-paid": "awaiting_delivery", "ord-waiting": "awaiting_payment"} {
		_, err := pool.Exec(t.Context(), `INSERT INTO orders.order_summaries (order_id, status, total_cents, currency, item_count, created_at, updated_at, last_position)
			VALUES ($1, $2, 100, 'USD', 1, now(), now(), 1)`, id, status)
		require.NoError(t, err)
	}
	ids := map[string]int64{}
	for _, order := range []string{"ord-cancelled", "ord-rejected", "ord-paid", "ord-waiting"} {
		ids[order] = insertNotification(t, pool, order, "order_confirmed", order+"@example.com", "Your order is confirmed", "Pay at …")
	}
	_, err := pool.Exec(t.Context(), `UPDATE orders.notifications SET attempts = 1`) // deferred once, due again
	require.NoError(t, err)
	first := insertNotification(t, pool, "ord-new", "order_confirmed", "new@example.com", "Your order is confirmed", "Pay at …")
	_, err = pool.Exec(t.Context(), `INSERT INTO orders.order_summaries (order_id, status, total_cents, currency, item_count, created_at, updated_at, last_position)
		VALUES ('ord-late', 'cancelled', 100, 'USD', 1, now(), now(), 1)`)
	require.NoError(t, err)
	ids["ord-late"] = insertNotification(t, pool, "ord-late", "order_confirmed", "ord-late@example.com", "Your order is confirmed", "Pay at …")

	_, err = newMailer(pool, srv.url("127.0.0.1", "", "")).SendPending(t.Context())
	require.NoError(t, err)
	var to []string
	for _, m := range srv.received() {
		to = append(to, m.to...)
	}
	assert.ElementsMatch(t, []string{"ord-waiting@example.com", "ord-paid@example.com", "new@example.com"}, to)
	for order, why := range map[string]string{"ord-cancelled": "the order is cancelled by now", "ord-rejected": "the order is rejected by now", "ord-late": "the order is cancelled by now"} {
		row := notificationByID(t, pool, ids[order])
		assert.True(t, row.sent, "settled: %s", order)
		assert.Contains(t, row.errText, why)
	}
	assert.Empty(t, notificationByID(t, pool, first).errText)
}

// An internationalised domain goes out in ASCII (xn--…), which every server takes: it went
// out as raw UTF-8 to a server that does not offer SMTPUTF8, and a refusal failed the
// email for good. A local part beyond ASCII such a server cannot take: failed, saying why.
func TestAnInternationalisedAddressGoesOutAsAServerTakesIt(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{}) // offers no SMTPUTF8
	domain := insertNotification(t, pool, "ord-1", "order_confirmed", "user@bücher.example", "Your order is confirmed", "body")
	local := insertNotification(t, pool, "ord-2", "order_confirmed", "jörg@example.com", "Your order is confirmed", "body")
	_, err := newMailer(pool, srv.url("127.0.0.1", "", "")).SendPending(t.Context())
	require.NoError(t, err)
	mails := srv.received()
	require.Len(t, mails, 1)
	assert.Equal(t, []string{"user@xn--bcher-kva.example"}, mails[0].to)
	msg, _ := parseMail(t, mails[0])
	assert.Equal(t, "user@xn--bcher-kva.example", msg.Header.Get("To"))
	assert.True(t, notificationByID(t, pool, domain).sent)
	row := notificationByID(t, pool, local)
	assert.False(t, row.sent)
	assert.Nil(t, row.retryAt, "no later try can send it there")
	assert.Contains(t, row.errText, "is not ASCII (its domain, when IDNA could make it so, is sent as xn--…), and the mail server does not take such addresses (no SMTPUTF8)")
}
