package mailer_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A fake SMTP server that records what it is sent, for the sender's tests.

// receivedMail is one message an SMTP server accepted.
type receivedMail struct {
	from string   // MAIL FROM
	to   []string // RCPT TO
	data string   // the message as transferred (headers, blank line, body)
	user string   // who authenticated, "" without AUTH
	tls  bool     // whether the session was encrypted (STARTTLS or smtps)
}

// smtpServer is a real SMTP server (go-smtp) on a loopback port that records what it is
// given. With user set it offers AUTH PLAIN and refuses mail from unauthenticated
// sessions; rcptErr makes it refuse every recipient; with together set, it holds each
// message's DATA until that many sessions are in DATA at once, and refuses the message if
// they are not within 10 s.
type smtpServer struct {
	addr       string
	user, pass string
	rcptErr    error
	refused    string // rcptErr refuses only the recipients starting with it (every one when empty)
	together   int
	hold       chan struct{} // when set, DATA answers only once it is closed
	entered    chan struct{} // with hold: receives each session that reached DATA
	allIn      chan struct{} // closed once together sessions have been in DATA at once
	allInOnce  sync.Once

	roots *x509.CertPool // with tls: the authority that signed the server's certificate

	mu        sync.Mutex
	inData    int // sessions in DATA now
	mails     []receivedMail
	rcpts     int      // RCPT commands seen, accepted or not
	authTries []string // "user:pass" of every AUTH attempt
}

type smtpConfig struct {
	host       string // listen address host; 127.0.0.1 unless set
	user, pass string
	rcptErr    error
	refused    string // rcptErr refuses only the recipients starting with it (every one when empty)
	together   int
	hold       chan struct{} // DATA answers only once hold is closed (smtpServer.entered says when one waits)
	tls        string        // "starttls": STARTTLS offered; "implicit": TLS from the first byte (smtps); "": neither
}

func startSMTP(t *testing.T, cfg smtpConfig) *smtpServer {
	t.Helper()
	if cfg.host == "" {
		cfg.host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, "0"))
	require.NoError(t, err)
	s := &smtpServer{addr: ln.Addr().String(), user: cfg.user, pass: cfg.pass, rcptErr: cfg.rcptErr, refused: cfg.refused,
		together: cfg.together, hold: cfg.hold, entered: make(chan struct{}, 16), allIn: make(chan struct{})}
	srv := smtp.NewServer(s)
	switch cfg.tls {
	case "starttls":
		s.roots, srv.TLSConfig = selfSigned(t, cfg.host)
	case "implicit":
		var conf *tls.Config
		s.roots, conf = selfSigned(t, cfg.host)
		ln = tls.NewListener(ln, conf)
	}
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

// selfSigned is a certificate for the IP address host, signed by itself, and the pool that
// trusts it.
func selfSigned(t *testing.T, host string) (*x509.CertPool, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP(host)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return roots, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
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
func (s *smtpServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{srv: s, conn: c}, nil
}

type smtpSession struct {
	srv  *smtpServer
	conn *smtp.Conn
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
	if ss.srv.rcptErr != nil && strings.HasPrefix(to, ss.srv.refused) {
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
	if err := ss.srv.waitTogether(); err != nil {
		return err
	}
	if ss.srv.hold != nil {
		ss.srv.entered <- struct{}{}
		<-ss.srv.hold
	}
	ss.srv.mu.Lock()
	_, encrypted := ss.conn.TLSConnectionState()
	ss.srv.mails = append(ss.srv.mails, receivedMail{from: ss.from, to: ss.to, data: string(raw), user: ss.user, tls: encrypted})
	ss.srv.mu.Unlock()
	return nil
}

// waitTogether holds a session in DATA until srv.together sessions are (see smtpServer).
func (s *smtpServer) waitTogether() error {
	if s.together == 0 {
		return nil
	}
	s.mu.Lock()
	if s.inData++; s.inData == s.together {
		s.allInOnce.Do(func() { close(s.allIn) }) // later rounds may reach together again
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inData--
		s.mu.Unlock()
	}()
	select {
	case <-s.allIn:
		return nil
	case <-time.After(10 * time.Second):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "the other senders never came"}
	}
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }
