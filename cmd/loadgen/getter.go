package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// getter sends the polls and reads, GET /api/orders/{id}, each over a kept-alive HTTP/1.1
// connection of its own for the request's length, written and read by the calling
// goroutine. loadgen shares the two cores it measures, and net/http's Transport hands
// every request to a writing goroutine and every response back from a reading one: three
// goroutines woken a request, where a poll needs one. The writes (placements, webhooks,
// approvals) keep the generated client: they are a few an order.
type getter struct {
	addr, host string
	timeout    time.Duration
	header     string // sent with every GET: "Authorization: Bearer …\r\n", or none

	mu   sync.Mutex
	idle []*getConn
	max  int // idle connections kept at most
}

type getConn struct {
	c  net.Conn
	br *bufio.Reader
}

func newGetter(base string, maxIdle int, timeout time.Duration) (*getter, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("-url %s: only http:// is supported", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &getter{addr: addr, host: u.Host, timeout: timeout, max: maxIdle}, nil
}

// get sends GET path and returns the response's status and body; ctx ending cuts it
// short. A kept-alive connection the server has closed meanwhile fails before anything is
// read; the GET is then sent once more on a new connection, as net/http does for an
// idempotent request.
func (g *getter) get(ctx context.Context, path string) (int, []byte, error) {
	conn, reused, err := g.conn()
	if err != nil {
		return 0, nil, err
	}
	status, body, keep, err := g.roundTrip(ctx, conn, path)
	if err != nil && reused && errors.Is(err, errNothingRead) && ctx.Err() == nil {
		conn.c.Close()
		if conn, err = g.dial(); err != nil {
			return 0, nil, err
		}
		status, body, keep, err = g.roundTrip(ctx, conn, path)
	}
	if err != nil || !keep {
		conn.c.Close()
		return status, body, err
	}
	g.put(conn)
	return status, body, nil
}

var errNothingRead = errors.New("connection closed before the response began")

func (g *getter) roundTrip(ctx context.Context, conn *getConn, path string) (status int, body []byte, keep bool, err error) {
	if err := conn.c.SetDeadline(time.Now().Add(g.timeout)); err != nil {
		return 0, nil, false, err
	}
	// Ending ctx moves the deadline to now, which fails the read or write under way.
	cut := context.AfterFunc(ctx, func() { _ = conn.c.SetDeadline(time.Now()) })
	defer func() {
		if !cut() {
			status, body, keep, err = 0, nil, false, ctx.Err()
		}
	}()
	if _, err := io.WriteString(conn.c, "GET "+path+" HTTP/1.1\r\nHost: "+g.host+"\r\nUser-Agent: ordermill-loadgen\r\n"+g.header+"\r\n"); err != nil {
		return 0, nil, false, fmt.Errorf("%w: %w", errNothingRead, err)
	}
	if _, err := conn.br.Peek(1); err != nil {
		return 0, nil, false, fmt.Errorf("%w: %w", errNothingRead, err)
	}
	res, err := http.ReadResponse(conn.br, nil)
	if err != nil {
		return 0, nil, false, err
	}
	body, err = io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return 0, nil, false, err
	}
	return res.StatusCode, body, !res.Close, nil
}

func (g *getter) conn() (*getConn, bool, error) {
	g.mu.Lock()
	if n := len(g.idle); n > 0 {
		c := g.idle[n-1]
		g.idle = g.idle[:n-1]
		g.mu.Unlock()
		return c, true, nil
	}
	g.mu.Unlock()
	c, err := g.dial()
	return c, false, err
}

func (g *getter) dial() (*getConn, error) {
	c, err := net.DialTimeout("tcp", g.addr, g.timeout)
	if err != nil {
		return nil, err
	}
	return &getConn{c: c, br: bufio.NewReader(c)}, nil
}

func (g *getter) put(c *getConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.idle) >= g.max {
		c.c.Close()
		return
	}
	g.idle = append(g.idle, c)
}
