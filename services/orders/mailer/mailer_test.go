package mailer_test

import (
	"context"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/sagas"
	"github.com/ordermill/ordermill/services/orders/mailer"
)

// mailFrom is the sender the tests configure.
const mailFrom = "shop@ordermill.test"

// notificationRow is an orders.notifications row as the tests insert and read it.
type notificationRow struct {
	id                               int64
	orderID, kind, to, subject, body string
	claimed, sent                    bool
	errText                          string
	attempts                         int
	retryAt                          *time.Time // when an email the server did not take is tried again
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
		SELECT order_id, kind, recipient, subject, body, claimed_at IS NOT NULL, sent_at IS NOT NULL, coalesce(error, ''),
			attempts, retry_at
		FROM orders.notifications WHERE id = $1`, id).
		Scan(&n.orderID, &n.kind, &n.to, &n.subject, &n.body, &n.claimed, &n.sent, &n.errText, &n.attempts, &n.retryAt))
	return n
}

func newMailer(pool *pgxpool.Pool, smtpURL string) *mailer.Outbox {
	return mailer.New(pool, slog.New(slog.DiscardHandler), mailer.Config{SMTPURL: smtpURL, From: mailFrom})
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
					body: "We have reserved your items for order ord-1 (1.00 EUR). Complete payment by Mon, 07 Dec 2026 15:04 UTC to have it shipped; an order not paid by then is cancelled and its items released."},
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
				assert.Equal(t, "1.0", msg.Header.Get("MIME-Version"))
				assert.Equal(t, "text/plain; charset=utf-8", msg.Header.Get("Content-Type"))
				assert.Equal(t, "8bit", msg.Header.Get("Content-Transfer-Encoding"))
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
			assert.Equal(t, "the order has no email address", noRecipient.errText, "why it was not sent")
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

// The saga records an email in the transaction of the step that decides it, and a
// redelivered message records it again: the outbox keeps one per order and kind, the first.
func TestRecordKeepsOneEmailPerOrderAndKind(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	outbox := newMailer(pool, "")
	first := sagas.Notify{Kind: sagas.KindOrderConfirmed, Recipient: "ann@example.com", Subject: "Confirmed", Body: "first"}
	for _, n := range []sagas.Notify{first, {Kind: first.Kind, Recipient: first.Recipient, Subject: "Again", Body: "second"}} {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return outbox.Record(ctx, tx, "ord-1", n) }))
	}
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return outbox.Record(ctx, tx, "ord-1", sagas.Notify{Kind: sagas.KindOrderCompleted, Recipient: first.Recipient, Subject: "Done", Body: "done"})
	}))
	rows, err := pool.Query(ctx, `SELECT kind, body FROM orders.notifications WHERE order_id = 'ord-1' ORDER BY id`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Kind, Body string }])
	require.NoError(t, err)
	assert.Equal(t, []struct{ Kind, Body string }{{sagas.KindOrderConfirmed, "first"}, {sagas.KindOrderCompleted, "done"}}, got)
}
