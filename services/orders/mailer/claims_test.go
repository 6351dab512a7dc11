package mailer_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/orders/mailer"
)

// Concurrent senders (replicas, or the worker and a manual pass) claim disjoint rows:
// every email goes out exactly once.
func TestConcurrentSendPendingSendsEachEmailOnce(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{user: "mailer", pass: "s3cret"})
	const rows = 30
	ids := map[string]int64{}
	for i := range rows {
		to := fmt.Sprintf("customer-%02d@example.com", i)
		ids[to] = insertNotification(t, pool, fmt.Sprintf("ord-%02d", i), "order_confirmed", to, "Your order is confirmed", "body "+to)
	}

	const senders = 2
	counts := make([]int, senders)
	errs := make([]error, senders)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range senders {
		// Each sender is its own service value, as in another replica.
		svc := newMailer(pool, srv.url("127.0.0.1", "mailer", "s3cret"))
		wg.Go(func() {
			<-gate
			for {
				n, err := svc.SendPending(context.Background())
				counts[i] += n
				if err != nil || n == 0 {
					errs[i] = err
					return
				}
			}
		})
	}
	close(gate)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, rows, counts[0]+counts[1], "the senders' claims add up to the rows: none claimed twice")

	perRecipient := map[string]int{}
	for _, m := range srv.received() {
		for _, to := range m.to {
			perRecipient[to]++
		}
	}
	require.Len(t, perRecipient, rows, "every email was sent")
	for to, n := range perRecipient {
		assert.Equal(t, 1, n, "%s received %d copies", to, n)
		assert.True(t, notificationByID(t, pool, ids[to]).sent)
	}
}

// A server that accepts the connection and never answers must not hold the sender past
// its context: the worker would stall (and a shutdown hang) with a batch claimed. The
// email cut off records why; the rest of the batch, never handed to SMTP, is given back.
func TestSendPendingGivesUpOnAnUnresponsiveServer(t *testing.T) {
	pool := pgtest.Pool(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	accepted := make(chan net.Conn, 8)
	greeting := make(chan struct{}) // closed when the first email's SMTP connection is open
	conns.Go(func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never greeted
			if i == 0 {
				close(greeting)
			}
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		conns.Wait()
		close(accepted)
		for c := range accepted {
			_ = c.Close()
		}
	})
	svc := mailer.New(pool, slog.New(slog.DiscardHandler), mailer.Config{SMTPURL: "smtp://" + ln.Addr().String(), From: mailFrom,
		StopGrace: 50 * time.Millisecond})
	first := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")
	rest := []int64{
		insertNotification(t, pool, "ord-2", "order_confirmed", "bob@example.com", "s", "b"),
		insertNotification(t, pool, "ord-3", "order_confirmed", "cat@example.com", "s", "b"),
	}

	// The context ends while the first email waits for the server's greeting, however
	// long the machine took to get there; the send is cut off once the stop's grace is over.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := svc.SendPending(ctx)
		done <- err
	}()
	select {
	case <-greeting:
		cancel()
	case <-time.After(15 * time.Second):
		t.Fatal("SendPending never reached the SMTP server")
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("SendPending still blocked on a silent SMTP server long after its context ended")
	}
	row := notificationByID(t, pool, first)
	assert.False(t, row.sent)
	assert.Contains(t, row.errText, "cut off by the process's stop", "the email records why it was not sent")
	// Cut off before the server had the message, it certainly was not sent: it waits
	// for a later try.
	assertWaitsForARetry(t, row)
	for _, id := range rest {
		assert.False(t, notificationByID(t, pool, id).claimed, "an email never handed to SMTP goes back to the queue")
	}

	// The next pass (here without SMTP) takes exactly the emails never tried.
	n, err := newMailer(pool, "").SendPending(t.Context())
	require.NoError(t, err)
	assert.Equal(t, len(rest), n)
	assert.False(t, notificationByID(t, pool, first).sent, "the cut-off email waits for its retry time")
}

// Found by the crash test (issue 9): while one email is with the SMTP server, the others
// are not claimed yet. A process killed at that moment leaves only that email in doubt;
// the rest are still unclaimed and the next sender takes them. Claiming a batch at once
// lost the whole batch to a SIGKILL.
func TestSendPendingClaimsOnlyTheEmailItIsSending(t *testing.T) {
	pool := pgtest.Pool(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	held := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			held <- c // never greeted: the first email is stuck with the server
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		select {
		case c := <-held:
			_ = c.Close()
		default:
		}
	})
	first := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "s", "b")
	rest := []int64{
		insertNotification(t, pool, "ord-2", "order_confirmed", "bob@example.com", "s", "b"),
		insertNotification(t, pool, "ord-3", "order_confirmed", "cat@example.com", "s", "b"),
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = newMailer(pool, "smtp://"+ln.Addr().String()).SendPending(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	require.Eventually(t, func() bool { return notificationByID(t, pool, first).claimed }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(held) == 1 }, 10*time.Second, 10*time.Millisecond, "the first email reached the server")
	for _, id := range rest {
		assert.False(t, notificationByID(t, pool, id).claimed, "an email not yet handed to SMTP is not claimed")
	}
}

// While another sender holds its claim open (its claim statement still running), a sender
// takes the other rows at once: it neither waits for the locked rows nor claims them again
// once they are released.
func TestSendPendingSkipsRowsAnotherSenderIsClaiming(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{})
	const rows = 30
	for i := range rows {
		insertNotification(t, pool, fmt.Sprintf("ord-%02d", i), "order_confirmed", fmt.Sprintf("customer-%02d@example.com", i), "s", "b")
	}
	other, err := pool.Begin(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Rollback(context.Background()) })
	tag, err := other.Exec(t.Context(), `
		UPDATE orders.notifications SET claimed_at = now()
		WHERE id IN (SELECT id FROM orders.notifications WHERE claimed_at IS NULL ORDER BY id LIMIT 20 FOR UPDATE)`)
	require.NoError(t, err)
	require.EqualValues(t, 20, tag.RowsAffected())

	svc := newMailer(pool, srv.url("127.0.0.1", "", ""))
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := svc.SendPending(context.Background())
		done <- result{n, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		_ = other.Rollback(context.Background()) // unblock the sender before failing
		t.Fatal("SendPending waited for rows another sender had locked")
	}
	require.NoError(t, res.err)
	assert.Equal(t, rows-20, res.n, "only the rows nobody else was claiming")
	var sent []string
	for _, m := range srv.received() {
		sent = append(sent, m.to...)
	}
	var want []string
	for i := 20; i < rows; i++ {
		want = append(want, fmt.Sprintf("customer-%02d@example.com", i))
	}
	assert.ElementsMatch(t, want, sent)

	require.NoError(t, other.Commit(t.Context()))
	n, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "rows claimed by the other sender are not claimed again")
	assert.Len(t, srv.received(), rows-20)
}

// The worker hands several emails to SMTP at once: one sender, claiming and sending one
// email at a time, cannot keep up with the emails a busy shop records (a committed claim and
// an SMTP conversation each; about 30 a second on this project's 2-core machine). The
// server takes the first messages only once four sessions are in DATA together, which a
// single sender never achieves.
func TestRunWorkerSendsWithSeveralSendersAtOnce(t *testing.T) {
	pool := pgtest.Pool(t)
	const senders = 4
	srv := startSMTP(t, smtpConfig{together: senders})
	for i := range 2 * senders {
		to := fmt.Sprintf("customer-%02d@example.com", i)
		insertNotification(t, pool, fmt.Sprintf("ord-%02d", i), "order_confirmed", to, "Your order is confirmed", "body")
	}
	runWorker(t, pool, srv.url("127.0.0.1", "", ""), senders)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var sent, failed int
		require.NoError(c, pool.QueryRow(context.Background(),
			`SELECT count(sent_at), count(error) FROM orders.notifications`).Scan(&sent, &failed))
		require.Zero(c, failed, "an email was refused: its senders did not reach the server together")
		assert.Equal(c, 2*senders, sent)
	}, 30*time.Second, 20*time.Millisecond)
	assert.Len(t, srv.received(), 2*senders)
}

// runWorker runs the mail worker with senders senders against smtpURL until the test ends.
func runWorker(t *testing.T, pool *pgxpool.Pool, smtpURL string, senders int) {
	t.Helper()
	svc := mailer.New(pool, slog.New(slog.DiscardHandler), mailer.Config{SMTPURL: smtpURL, From: mailFrom,
		Senders: senders, PollInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.RunWorker(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// A server that refuses some recipients for now (greylisting) is no outage: the worker
// goes on sending everyone else's email. A probe's greylisted recipients, taken for an
// outage, paused the worker a minute at a time and held every other email up for 16
// minutes.
func TestRunWorkerSendsOnPastRecipientsRefusedForNow(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{refused: "grey", rcptErr: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"}})
	for i := range 8 { // the greylisted first: the oldest, claimed first
		insertNotification(t, pool, fmt.Sprintf("ord-g%d", i), "order_confirmed", fmt.Sprintf("grey-%d@example.com", i), "s", "b")
	}
	for i := range 8 {
		insertNotification(t, pool, fmt.Sprintf("ord-n%d", i), "order_confirmed", fmt.Sprintf("ann-%d@example.com", i), "s", "b")
	}
	runWorker(t, pool, srv.url("127.0.0.1", "", ""), 2)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, srv.received(), 8)
	}, 5*time.Second, 20*time.Millisecond, "everyone else's email went out at once")
	// The last greylisted one may still be with the server as the others arrive.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var waiting int
		require.NoError(c, pool.QueryRow(t.Context(), `SELECT count(*) FROM orders.notifications
			WHERE recipient LIKE 'grey%' AND claimed_at IS NULL AND retry_at > now()`).Scan(&waiting))
		assert.Equal(c, 8, waiting)
	}, 5*time.Second, 20*time.Millisecond, "the greylisted wait for their retry")
}

// A worker stopped while an email is with the SMTP server lets it finish, within the
// stop's grace: the server took it, and it is recorded sent. Cut off at the stop, it was
// recorded failed and never sent again though the customer had it: a probe's SIGTERM
// under load so marked all eight emails in flight.
func TestRunWorkerStoppedMidSendLetsTheEmailFinish(t *testing.T) {
	pool := pgtest.Pool(t)
	release := make(chan struct{})
	srv := startSMTP(t, smtpConfig{hold: release})
	id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "Your order is confirmed", "body")
	stop := workerAtData(t, pool, srv, time.Minute)
	require.NoError(t, stop(release))
	row := notificationByID(t, pool, id)
	assert.True(t, row.sent, "the email in flight at the stop is recorded sent: %+v", row)
	assert.Empty(t, row.errText)
	assert.Len(t, srv.received(), 1)
}

// An email still with the server when the stop's grace is over is cut off and left in
// doubt, as a crash leaves one: the server has the whole message and may send it, so it
// is never tried again, and it reads in_doubt, not "failed" (refused for good), which it
// was recorded as with no answer to the end of the message (a probe).
func TestAnEmailCutOffByTheStopIsInDoubt(t *testing.T) {
	pool := pgtest.Pool(t)
	release := make(chan struct{})
	srv := startSMTP(t, smtpConfig{hold: release})
	id := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "Your order is confirmed", "body")
	stop := workerAtData(t, pool, srv, 0)
	require.NoError(t, stop(nil))
	close(release)
	row := notificationByID(t, pool, id)
	assert.True(t, row.claimed)
	assert.False(t, row.sent)
	assert.Nil(t, row.retryAt, "never tried again: the server may have it")
	assert.Empty(t, row.errText, "no outcome: in doubt once InDoubtAfter has passed")
	_, err := pool.Exec(t.Context(), `UPDATE orders.notifications SET claimed_at = claimed_at - $2::interval WHERE id = $1`, id, mailer.InDoubtAfter.String())
	require.NoError(t, err)
	list, err := mailer.New(pool, slog.New(slog.DiscardHandler), mailer.Config{}).ForOrder(t.Context(), "ord-1")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, mailer.StatusInDoubt, list[0].Status)
}

// The worker claims for every idle sender in one statement, and records the emails'
// outcomes with its next claim: eight waiting emails cost three statements at most (the
// claim of all eight, the next claim finding none, the outcomes left), where a claim per
// sender cost one per email and one more per sender running dry. A lone email, the common
// case of a shop that is not busy, costs two: its claim and its outcome.
func TestRunWorkerClaimsForEveryIdleSenderInOneStatement(t *testing.T) {
	for _, tc := range []struct {
		emails     int
		statements int64
	}{{emails: 8, statements: 3}, {emails: 1, statements: 2}} {
		t.Run(fmt.Sprintf("%d emails", tc.emails), func(t *testing.T) {
			pool := pgtest.Pool(t)
			// Each statement is one round trip (nothing prepared), so the count is the claims.
			counted, trips := pgtest.CountingPoolWith(t, pool, func(cfg *pgxpool.Config) {
				cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
			})
			svc := mailer.New(counted, slog.New(slog.DiscardHandler), mailer.Config{Senders: 8, PollInterval: time.Hour})
			for i := range tc.emails {
				insertNotification(t, pool, fmt.Sprintf("ord-%02d", i), "order_confirmed", fmt.Sprintf("customer-%02d@example.com", i), "Your order is confirmed", "body")
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- svc.RunWorker(ctx) }()
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				var sent int
				require.NoError(c, pool.QueryRow(context.Background(),
					`SELECT count(sent_at) FROM orders.notifications`).Scan(&sent))
				assert.Equal(c, tc.emails, sent)
			}, 10*time.Second, 5*time.Millisecond)
			cancel()
			require.NoError(t, <-done)
			assert.LessOrEqual(t, trips.Count(), tc.statements, "statements for %d emails", tc.emails)
		})
	}
}

// A claim begun when the worker is stopped is finished, and its emails are sent within the
// stop's grace: cancelled with the stop, a claim could commit with its answer lost, and
// its emails, claimed and never handed to a sender, were never sent (a probe's SIGTERMs
// under load left seven customers without their email). Here the stop comes as the claim
// starts.
func TestRunWorkerStoppedAsItClaimsSendsWhatItClaimed(t *testing.T) {
	pool := pgtest.Pool(t)
	id := insertNotification(t, pool, "ord-1", "order_completed", "ann@example.com", "Your order has been delivered", "body")
	ctx, cancel := context.WithCancel(t.Context())
	stopping := &stopAtClaim{stop: cancel}
	cfg := pool.Config()
	cfg.ConnConfig.Tracer = stopping
	traced, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	defer traced.Close()
	svc := mailer.New(traced, slog.New(slog.DiscardHandler), mailer.Config{PollInterval: time.Hour, StopGrace: time.Minute})
	done := make(chan error, 1)
	go func() { done <- svc.RunWorker(ctx) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("the worker did not stop")
	}
	require.True(t, stopping.stopped.Load(), "the stop came as the claim started")
	row := notificationByID(t, pool, id)
	assert.True(t, row.sent, "the email claimed as the worker stopped has its outcome (recorded: no SMTP): %+v", row)
}

// stopAtClaim stops the worker as its first claim statement starts.
type stopAtClaim struct {
	stop    context.CancelFunc
	stopped atomic.Bool
}

func (s *stopAtClaim) TraceQueryStart(ctx context.Context, _ *pgx.Conn, q pgx.TraceQueryStartData) context.Context {
	if strings.Contains(q.SQL, "SET claimed_at = now()") && s.stopped.CompareAndSwap(false, true) {
		s.stop()
	}
	return ctx
}

func (s *stopAtClaim) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// An email tried again (deferred before, now due) is, once claimed, an email with the
// server like any other: its last refusal is not its outcome. Its old error stayed, so a
// crash mid-send showed it failed with a stale "535" and left it out of the emails in
// doubt a person checks (a probe).
func TestARetriedEmailWithTheServerHasNoOldError(t *testing.T) {
	pool := pgtest.Pool(t)
	release := make(chan struct{})
	srv := startSMTP(t, smtpConfig{hold: release})
	id := insertNotification(t, pool, "ord-1", "order_completed", "ann@example.com", "Your order has been delivered", "body")
	_, err := pool.Exec(t.Context(), `UPDATE orders.notifications SET error = '535 credentials invalid', retry_at = now() - interval '1 second', attempts = 2 WHERE id = $1`, id)
	require.NoError(t, err)
	stop := workerAtData(t, pool, srv, time.Minute)
	row := notificationByID(t, pool, id)
	assert.True(t, row.claimed, "%+v", row)
	assert.Empty(t, row.errText, "with the server, it has no outcome yet")
	assert.Nil(t, row.retryAt)
	require.NoError(t, stop(release))
	assert.True(t, notificationByID(t, pool, id).sent)
}

// workerAtData runs a mail worker with the stop's grace against srv, a server holding
// DATA, until an email has reached DATA; stop stops the worker, then releases the server
// (when release is not nil), and returns the worker's error.
func workerAtData(t *testing.T, pool *pgxpool.Pool, srv *smtpServer, grace time.Duration) (stop func(release chan struct{}) error) {
	t.Helper()
	svc := mailer.New(pool, slog.New(slog.DiscardHandler), mailer.Config{SMTPURL: srv.url("127.0.0.1", "", ""), From: mailFrom,
		PollInterval: 10 * time.Millisecond, StopGrace: grace})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.RunWorker(ctx) }()
	select {
	case <-srv.entered:
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatal("the email never reached the server's DATA")
	}
	return func(release chan struct{}) error {
		cancel()
		if release != nil {
			close(release)
		}
		return <-done
	}
}

// An email in doubt stayed so for good, in the gauge and its alert, with nothing to do
// but edit the table (a probe). A person settles it as they found it: sent, or not, and
// then it is sent once more. Only an email in doubt is settled.
func TestAPersonSettlesAnEmailInDoubt(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := startSMTP(t, smtpConfig{})
	svc := newMailer(pool, srv.url("127.0.0.1", "", ""))
	lost := insertNotification(t, pool, "ord-1", "order_confirmed", "ann@example.com", "Your order is confirmed", "body")
	went := insertNotification(t, pool, "ord-1", "order_completed", "ann@example.com", "Your order is complete", "body")
	_, err := pool.Exec(t.Context(), `UPDATE orders.notifications SET claimed_at = now() - $2::interval WHERE id = ANY($1)`,
		[]int64{lost, went}, (mailer.InDoubtAfter + time.Minute).String())
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.Collectors()...)
	inDoubt := func() float64 {
		families, err := reg.Gather()
		require.NoError(t, err)
		for _, f := range families {
			if f.GetName() == "ordermill_emails_in_doubt" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no ordermill_emails_in_doubt")
		return 0
	}
	require.Equal(t, 2.0, inDoubt())

	_, err = svc.Resolve(t.Context(), "ord-1", "order_confirmed", "maybe")
	assert.Equal(t, apperr.CodeInvalid, apperr.ErrorCode(err))
	n, err := svc.Resolve(t.Context(), "ord-1", "order_completed", mailer.ResolvedSent)
	require.NoError(t, err)
	assert.Equal(t, mailer.StatusSent, n.Status)
	n, err = svc.Resolve(t.Context(), "ord-1", "order_confirmed", mailer.ResolvedSendAgain)
	require.NoError(t, err)
	assert.Equal(t, mailer.StatusQueued, n.Status)
	assert.Zero(t, inDoubt(), "settled: the gauge falls")

	sent, err := svc.SendPending(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, sent, "the email that did not go out is sent once more")
	require.Len(t, srv.received(), 1)
	assert.Equal(t, []string{"ann@example.com"}, srv.received()[0].to)
	assert.True(t, notificationByID(t, pool, lost).sent)

	_, err = svc.Resolve(t.Context(), "ord-1", "order_confirmed", mailer.ResolvedSendAgain)
	assert.Equal(t, apperr.CodeConflict, apperr.ErrorCode(err), "sent now, not in doubt: %v", err)
	_, err = svc.Resolve(t.Context(), "ord-1", "order_rejected", mailer.ResolvedSent)
	assert.Equal(t, apperr.CodeNotFound, apperr.ErrorCode(err))
}
