package mailer_test

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/orders/mailer"
)

// An email goes over TLS or, to a server on another machine, not at all unless SMTP_URL
// says so: it carries the customer's name, address and payment link, and went out in
// clear to any server that did not offer STARTTLS (a probe).

// outsideAddress is an address of this machine that is not loopback, as a mail server
// elsewhere on the network has.
func outsideAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			return p.Addr().String()
		}
	}
	t.Skip("this machine has no address besides loopback")
	return ""
}

func TestSMTPSSendsOverTLSFromTheFirstByte(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{tls: "implicit", user: "mailer", pass: "s3cret"})
	smtpsURL := strings.Replace(srv.url("127.0.0.1", "mailer", "s3cret"), "smtp://", "smtps://", 1)
	svc := mailer.New(pool, slog.New(slog.DiscardHandler), mailer.Config{SMTPURL: smtpsURL, From: mailFrom, RootCAs: srv.roots})
	id := insertNotification(t, pool, "ord-1", "order_shipped", "ann@example.com", "Shipped", "It is on its way.")

	_, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	require.Len(t, srv.received(), 1)
	got := srv.received()[0]
	assert.True(t, got.tls, "smtps:// is TLS from the first byte")
	assert.Equal(t, "mailer", got.user)
	assert.True(t, notificationByID(t, pool, id).sent)
}

func TestAnUntrustedCertificateKeepsTheEmailForALaterTry(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{tls: "implicit"})
	smtpsURL := strings.Replace(srv.url("127.0.0.1", "", ""), "smtp://", "smtps://", 1)
	svc := newMailer(pool, smtpsURL) // the system's authorities, which did not sign it
	id := insertNotification(t, pool, "ord-1", "order_shipped", "ann@example.com", "Shipped", "b")

	_, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Empty(t, srv.received())
	// A certificate concerns the server, not this email: it waits for the server to be mended.
	row := notificationByID(t, pool, id)
	assert.False(t, row.sent)
	assertWaitsForARetry(t, row)
	assert.Contains(t, row.errText, "certificate")
}

func TestAServerElsewhereWithoutSTARTTLSGetsNoEmailInClear(t *testing.T) {
	host := outsideAddress(t)
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{host: host, user: "mailer", pass: "s3cret"})
	svc := newMailer(pool, srv.url(host, "mailer", "s3cret"))
	id := insertNotification(t, pool, "ord-1", "order_shipped", "ann@example.com", "Shipped", "b")

	_, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Empty(t, srv.received())
	assert.Empty(t, srv.authAttempts(), "the password does not go out in clear")
	assert.Zero(t, srv.rcptCount(), "nor the recipient's address")
	row := notificationByID(t, pool, id) // kept for a later try, once SMTP_URL is mended
	assert.False(t, row.sent)
	assertWaitsForARetry(t, row)
	assert.Contains(t, row.errText, "does not offer STARTTLS")

	// Said so in SMTP_URL, it goes in clear (without a password: CheckSMTPURL refuses one).
	srv = startSMTP(t, smtpConfig{host: host})
	svc = newMailer(pool, srv.url(host, "", "")+"?tls=optional")
	id = insertNotification(t, pool, "ord-2", "order_shipped", "bob@example.com", "Shipped", "b")
	_, err = svc.SendPending(t.Context())
	require.NoError(t, err)
	require.Len(t, srv.received(), 1)
	assert.False(t, srv.received()[0].tls)
	assert.True(t, notificationByID(t, pool, id).sent)
}

func TestAServerElsewhereOfferingSTARTTLSGetsTheEmailEncrypted(t *testing.T) {
	host := outsideAddress(t)
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{host: host, tls: "starttls", user: "mailer", pass: "s3cret"})
	svc := mailer.New(pool, slog.New(slog.DiscardHandler), mailer.Config{SMTPURL: srv.url(host, "mailer", "s3cret"), From: mailFrom, RootCAs: srv.roots})
	id := insertNotification(t, pool, "ord-1", "order_shipped", "ann@example.com", "Shipped", "b")

	_, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	require.Len(t, srv.received(), 1)
	assert.True(t, srv.received()[0].tls)
	assert.Equal(t, "mailer", srv.received()[0].user, "signed in over TLS")
	assert.True(t, notificationByID(t, pool, id).sent)
}

func TestCheckSMTPURL(t *testing.T) {
	for _, ok := range []string{
		"smtp://mail.example.com", "smtp://u:p@mail.example.com:587", "smtps://u:p@mail.example.com",
		"smtp://relay.internal:25?tls=optional", "smtp://localhost:1025/", "smtp://u:p@localhost:1025?tls=optional",
		"smtp://u:p%2F%3F%23%40@mail.example.com",
	} {
		assert.NoError(t, mailer.CheckSMTPURL(ok), ok)
	}
	for bad, says := range map[string]string{
		"smtps://u:Xy9@mail.example.com?tls=optional": "smtps:// is always TLS",
		"smtp://u:Xy9@mail.example.com?tls=off":       "tls=optional",
		"smtp://u:Xy9@mail.example.com?starttls=1":    `unknown parameter "starttls"`,
		"smtp://u:Xy9@mail.example.com/inbox":         "no path",
		"http://u:Xy9@mail.example.com":               "smtps://",
		"u:Xy9@mail.example.com":                      "before @",
		"smtp://u:Xy9@relay.internal:25?tls=optional": "in clear",
		"smtp://u:Xy9@mail.example.com#x":             "#fragment",
		// A password holding / ? or # unescaped reads as the host's port and a path, a
		// query or a fragment: the review's first was printed whole, its last accepted and
		// sent to host u, port 2024.
		"smtp://u:2024/Xy9@mail.example.com:587": "before @",
		"smtp://u:2024?Xy9@mail.example.com:587": "before @",
		"smtp://u:2024#Xy9@mail.example.com:587": "before @",
		// Every email waited a day (a probe): a port no server has, a user without a
		// password or a name, parameters u.Query() reads in part.
		"smtp://u:Xy9@mail.example.com:0":          "1–65535",
		"smtp://u:Xy9@mail.example.com:99999":      "1–65535",
		"smtp://:Xy9@mail.example.com":             "both a name and a password",
		"smtp://u@mail.example.com":                "both a name and a password",
		"smtp://@mail.example.com":                 "both a name and a password",
		"smtp://mail.example.com?tls=optional;Xy9": "name=value pairs",
	} {
		err := mailer.CheckSMTPURL(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), says, bad)
		assert.NotContains(t, err.Error(), "Xy9", "the password is not repeated")
	}
}

// STARTTLS with a certificate no trusted authority signed is no downgrade to clear text:
// the email waits for the server to be mended.
func TestSTARTTLSWithAnUntrustedCertificateSendsNothing(t *testing.T) {
	host := outsideAddress(t)
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{host: host, tls: "starttls"})
	id := insertNotification(t, pool, "ord-1", "order_shipped", "ann@example.com", "Shipped", "b")

	_, err := newMailer(pool, srv.url(host, "", "")).SendPending(t.Context())
	require.NoError(t, err)
	assert.Empty(t, srv.received())
	assert.Zero(t, srv.rcptCount())
	row := notificationByID(t, pool, id)
	assertWaitsForARetry(t, row)
	assert.Contains(t, row.errText, "certificate")
}
