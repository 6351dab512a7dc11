package mailer

import (
	"fmt"
	"net"
	"net/netip"
	"net/smtp"
	"net/url"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
)

// server is where emails go, read from SMTP_URL (CheckSMTPURL).
type server struct {
	addr string // host:port
	host string // the name a certificate must carry, and net/smtp's AUTH checks
	auth smtp.Auth
	// implicitTLS: smtps://, TLS from the first byte (port 465).
	implicitTLS bool
	// clearAllowed: an smtp:// server that does not offer STARTTLS is sent to in clear.
	// Only a loopback server (a local relay, make run's Mailpit) or one named with
	// tls=optional: an email carries the customer's name, address and payment link, and
	// went out in clear to any server that did not offer STARTTLS (a probe).
	clearAllowed bool
}

// CheckSMTPURL checks an SMTP_URL: smtp://[user:pass@]host[:port][?tls=optional] (STARTTLS,
// port 25; required unless the host is loopback or tls=optional says a server without it
// is sent to in clear) or smtps://[user:pass@]host[:port] (TLS from the start, port 465).
// The error names what is wrong and never repeats the password.
func CheckSMTPURL(raw string) error {
	_, err := parseServer(raw)
	return err
}

func parseServer(raw string) (server, error) {
	// No error repeats the value: a password holding / ? or # reads as part of the host,
	// path, query or fragment, where Redacted does not hide it (the review's
	// smtp://mailer:2024/Xy9@mail.example.com printed "2024/Xy9").
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return server{}, fmt.Errorf("SMTP_URL is not a URL like smtp://user:pass@host:587")
	case u.User == nil && strings.Contains(raw, "@"):
		// Accepted, smtp://mailer:2024#Xy9@mail.example.com sent to host mailer, port 2024.
		return server{}, fmt.Errorf("SMTP_URL: the part before @ is not read as user:password: a / ? # or @ in them is written %%2F %%3F %%23 %%40")
	}
	srv := server{host: u.Hostname(), implicitTLS: u.Scheme == "smtps"}
	port := "25"
	switch {
	case u.Scheme != "smtp" && u.Scheme != "smtps" || srv.host == "" || u.Opaque != "":
		return server{}, fmt.Errorf("SMTP_URL is not an smtp:// (STARTTLS) or smtps:// (TLS from the start) URL with a host")
	case u.Path != "" && u.Path != "/" || u.Fragment != "" || strings.Contains(raw, "#"):
		return server{}, fmt.Errorf("SMTP_URL: a mail server's URL has no path or #fragment")
	case srv.implicitTLS:
		port = "465"
	}
	for key, values := range u.Query() {
		switch {
		case key == "tls" && !srv.implicitTLS && len(values) == 1 && values[0] == "optional":
			srv.clearAllowed = true
		case key == "tls":
			return server{}, fmt.Errorf("SMTP_URL: tls=optional (send in clear to an smtp:// server without STARTTLS) is the only value of tls, and smtps:// is always TLS")
		default:
			return server{}, fmt.Errorf("SMTP_URL: unknown parameter %q (the one taken is tls=optional)", apperr.Excerpt(key))
		}
	}
	if u.Port() != "" {
		port = u.Port()
	}
	srv.addr = net.JoinHostPort(srv.host, port)
	loopback := strings.EqualFold(srv.host, "localhost")
	if ip, err := netip.ParseAddr(srv.host); err == nil && ip.IsLoopback() {
		loopback = true
	}
	if u.User != nil {
		if srv.clearAllowed && !loopback {
			// net/smtp sends no password in clear to another host: every email would wait a
			// day and fail.
			return server{}, fmt.Errorf("SMTP_URL: a user and password go over TLS only, and tls=optional would send them in clear: leave one of them out")
		}
		pass, _ := u.User.Password()
		srv.auth = smtp.PlainAuth("", u.User.Username(), pass, srv.host)
	}
	srv.clearAllowed = srv.clearAllowed || loopback
	return srv, nil
}
