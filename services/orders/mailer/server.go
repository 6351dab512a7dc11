package mailer

import (
	"fmt"
	"net"
	"net/netip"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"

	"github.com/ordermill/ordermill/domain/apperr"
)

// server is where emails go, read from SMTP_URL (CheckSMTPURL).
type server struct {
	addr string // host:port
	host string // the name a certificate must carry
	name string // the server's name to net/smtp, which its AUTH checks: host, or localhost for a loopback one
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
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// u.Query() drops what it cannot read: "?tls=optional;x" was taken as no tls=.
		return server{}, fmt.Errorf("SMTP_URL: its parameters are not name=value pairs joined by &")
	}
	for key, values := range query {
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
		if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
			return server{}, fmt.Errorf("SMTP_URL: the port is not 1–65535")
		}
		port = u.Port()
	}
	srv.addr = net.JoinHostPort(srv.host, port)
	srv.name = srv.host
	loopback := strings.EqualFold(srv.host, "localhost")
	if ip, err := netip.ParseAddr(srv.host); err == nil && ip.IsLoopback() {
		loopback = true
	}
	if loopback {
		// net/smtp sends a password in clear only to a server named exactly localhost,
		// 127.0.0.1 or ::1: to 127.0.0.2 or LOCALHOST, taken here as loopback, every email
		// waited for a day and failed (a probe).
		srv.name = "localhost"
	}
	if u.User != nil {
		pass, set := u.User.Password()
		switch {
		case u.User.Username() == "" || !set || pass == "":
			// Every email waited a day for a sign-in the server refused (a probe's smtp://@host).
			return server{}, fmt.Errorf("SMTP_URL: a user needs both a name and a password (user:password@), or neither")
		case srv.clearAllowed && !loopback:
			// net/smtp sends no password in clear to another host: every email would wait a
			// day and fail.
			return server{}, fmt.Errorf("SMTP_URL: a user and password go over TLS only, and tls=optional would send them in clear: leave one of them out")
		}
		srv.auth = smtp.PlainAuth("", u.User.Username(), pass, srv.name)
	}
	srv.clearAllowed = srv.clearAllowed || loopback
	return srv, nil
}
