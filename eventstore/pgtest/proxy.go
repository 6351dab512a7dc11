package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// FreezingProxy forwards TCP connections to a test database until Freeze, after which it
// passes nothing on and closes nothing: the database seems to hang, as behind a network
// that drops packets, which a refused connection does not show.
type FreezingProxy struct {
	// URL is the test database's URL through the proxy.
	URL    string
	frozen chan struct{}
	mu     sync.Mutex
	conns  []net.Conn
}

// NewFreezingProxy starts a proxy in front of databaseURL's server, closed when t ends.
func NewFreezingProxy(t testing.TB, databaseURL string) *FreezingProxy {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("parse %s: %v", databaseURL, err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	u.Host = ln.Addr().String()
	p := &FreezingProxy{URL: u.String(), frozen: make(chan struct{})}
	t.Cleanup(func() {
		_ = ln.Close()
		p.Close()
	})
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			go p.pipe(server, client)
			go p.pipe(client, server)
		}
	}()
	return p
}

// pipe copies from src to dst until Freeze, then drops what it reads: the peer waits for
// an answer that never comes, until Close.
func (p *FreezingProxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		select {
		case <-p.frozen:
			continue
		default:
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// Freeze stops passing anything on, in either direction, on every connection, and makes
// new connections hang as well.
func (p *FreezingProxy) Freeze() { close(p.frozen) }

// Close ends every connection it forwards.
func (p *FreezingProxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}
