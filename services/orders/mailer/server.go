package mailer

import (
	"fmt"
	"net"
	"net/netip"
	"net/smtp"
	"net/url"
	"strings"
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
	u, err := url.Parse(raw)
	if err != nil {
		return server{}, fmt.Errorf("SMTP_URL is not a URL like smtp://user:pass@host:587")
	}
	srv := server{host: u.Hostname(), implicitTLS: u.Scheme == "smtps"}
	port := "25"
	switch {
	case u.Scheme != "smtp" && u.Scheme != "smtps" || srv.host == "":
		// Not repeated: read without its host, a password may be anywhere in it.
		return server{}, fmt.Errorf("SMTP_URL is not an smtp:// (STARTTLS) or smtps:// (TLS from the start) URL with a host")
	case u.Path != "" && u.Path != "/":
		return server{}, fmt.Errorf("SMTP_URL=%q: a mail server's URL has no path", u.Redacted())
	case srv.implicitTLS:
		port = "465"
	}
	for key, values := range u.Query() {
		switch {
		case key == "tls" && !srv.implicitTLS && len(values) == 1 && values[0] == "optional":
			srv.clearAllowed = true
		case key == "tls":
			return server{}, fmt.Errorf("SMTP_URL=%q: tls=optional (send in clear to an smtp:// server without STARTTLS) is the only value of tls, and smtps:// is always TLS", u.Redacted())
		default:
			return server{}, fmt.Errorf("SMTP_URL=%q: unknown parameter %q (the one taken is tls=optional)", u.Redacted(), key)
		}
	}
	if u.Port() != "" {
		port = u.Port()
	}
	srv.addr = net.JoinHostPort(srv.host, port)
	if ip, err := netip.ParseAddr(srv.host); strings.EqualFold(srv.host, "localhost") || err == nil && ip.IsLoopback() {
		srv.clearAllowed = true
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		srv.auth = smtp.PlainAuth("", u.User.Username(), pass, srv.host)
	}
	return srv, nil
}
