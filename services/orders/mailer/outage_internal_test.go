package mailer

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Sends that fail together, in flight at once when the server went away, are one try: the
// pause after them is the first one's, and only a try after it doubles it. Eight senders
// failing together counted as eight in a row, and a mail server down for seconds held
// every email up for a minute.
func TestSendsFailingTogetherAreOneTry(t *testing.T) {
	ctx, logger := context.Background(), slog.New(slog.DiscardHandler)
	failed := "connection refused"
	retry := time.Now().Add(time.Minute)
	down := mailOutcome{err: &failed, retryAt: &retry, down: true}
	var d outage
	for range DefaultSenders {
		d.observe(ctx, logger, down)
	}
	assert.Equal(t, 1, d.inARow)
	assert.True(t, d.pausing())
	assert.LessOrEqual(t, time.Until(d.until), pauseFor(1))

	d.until = time.Now().Add(-time.Millisecond) // the pause is over: the next claim fails too
	d.observe(ctx, logger, down)
	assert.Equal(t, 2, d.inARow)
	assert.Greater(t, time.Until(d.until), pauseFor(1), "a try after the pause doubles it")

	d.observe(ctx, logger, mailOutcome{})
	assert.Zero(t, d.inARow, "an email taken ends the spell")
	assert.False(t, d.pausing())
}

// A server that drops the connection once it has the whole message, with no answer,
// leaves the email in doubt (it may have it), and pauses the worker as an outage does: a
// probe's server doing so to every email put the whole queue in doubt in 20 s, never to
// be sent, without a pause.
func TestAnEmailLeftInDoubtPausesTheWorker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() { // answers every command, reads the message, then hangs up without a word
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				fmt.Fprint(conn, "220 localhost\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						fmt.Fprint(conn, "250 localhost\r\n")
					case cmd == "DATA":
						fmt.Fprint(conn, "354 go on\r\n")
						for line != ".\r\n" {
							if line, err = r.ReadString('\n'); err != nil {
								return
							}
						}
						return
					default:
						fmt.Fprint(conn, "250 ok\r\n")
					}
				}
			}()
		}
	}()
	s := New(nil, slog.New(slog.DiscardHandler), Config{SMTPURL: "smtp://" + ln.Addr().String()})
	o := s.send(context.Background(), notification{id: 1, orderID: "ord-1", kind: "order_shipped", to: "ann@example.com",
		subject: "Shipped", body: "b", created: time.Now()})
	assert.True(t, o.inDoubt, "the server may have it: never sent again")

	var d outage
	d.observe(context.Background(), slog.New(slog.DiscardHandler), o)
	assert.True(t, d.pausing(), "no more claims for a while")
	assert.Equal(t, 1, d.inARow)
}
