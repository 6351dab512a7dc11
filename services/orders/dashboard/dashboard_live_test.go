package dashboard_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/services/host"
	"github.com/ordermill/ordermill/services/orders"
	"github.com/ordermill/ordermill/services/orders/dashboard"
	"github.com/ordermill/ordermill/services/orders/internal/orderstest"
)

// sseEvent is one server-sent event: its name, id and data lines joined.
type sseEvent struct{ name, id, data string }

// readEvents sends the stream's events to a channel until the stream ends.
func readEvents(resp *http.Response) <-chan sseEvent {
	out := make(chan sseEvent)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case line == "" && ev.name != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

// Finding 14 of issue 8: the servers now have a write timeout, which must not cut the
// dashboard's live stream. A stream opened on a server whose timeouts are a few seconds
// still delivers an update that happens after them.
func TestDashboardStreamOutlivesTheServerTimeouts(t *testing.T) {
	const timeout = 5 * time.Second
	pool := pgtest.Pool(t)
	svc := orders.New(pool, slog.New(slog.DiscardHandler), orders.Config{ManagerTokens: map[string]string{"api@example.com": "token"}, WarehouseURL: orderstest.CatalogURL(t, pool)})
	require.NoError(t, orders.CreateManager(context.Background(), pool, managerEmail, managerPassword))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- host.Serve(ctx, slog.New(slog.DiscardHandler), pool, ln, svc,
			host.Options{HTTP: host.HTTPTimeouts{ReadHeader: timeout, Read: timeout, Write: timeout, Idle: timeout}})
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	base := "http://" + ln.Addr().String()
	// Signed in through a server of the same service without the short timeouts: the
	// session lives in the database, and cookies do not care for ports. Under a loaded
	// machine the sign-in's bcrypt comparison could outlast the short write timeout.
	plain := httptest.NewServer(svc.Handler())
	t.Cleanup(plain.Close)
	d := &dash{pool: pool, srv: plain, client: orderstest.Client(t)}
	_, csrf := d.signIn(t, d.client, managerEmail, managerPassword)
	require.NotEmpty(t, csrf)

	req, err := http.NewRequest("GET", base+"/dashboard/events?list=pending", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := d.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	events := readEvents(resp)
	next := func(name string) sseEvent {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case ev, ok := <-events:
				require.True(t, ok, "the stream ended while waiting for %q", name)
				if ev.name == name {
					return ev
				}
			case <-deadline:
				t.Fatalf("no %q event", name)
			}
		}
	}
	assert.Equal(t, "0", next("pending-count").data)

	time.Sleep(timeout + 500*time.Millisecond)
	placed, err := http.Post(base+"/api/orders", "application/json",
		strings.NewReader(`{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"newCustomer":true,"customerEmail":"bob@example.com"}`))
	require.NoError(t, err)
	placed.Body.Close()
	require.Equal(t, http.StatusCreated, placed.StatusCode)
	assert.Equal(t, "1", next("pending-count").data, "the held order reaches the open stream")
}

// An order page's stream needs the log position the page shows; anything else is a 400
// with the API's JSON error, not a stream.
func TestOrderStreamRefusesABadPosition(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	d.signIn(t, d.client, managerEmail, managerPassword)
	for _, since := range []string{"", "abc", "-1"} {
		p := d.request(t, d.client, "GET", "/dashboard/events?order=o-1&since="+since, nil, map[string]string{"Accept": "text/event-stream"})
		assert.Equal(t, http.StatusBadRequest, p.status, since)
		assert.Contains(t, p.body, `"field":"since"`, since)
	}
}

// A reconnecting pending page is compared with the rows it last took, not the ones it was
// first rendered with (found by a probe: after a restart, a decided order stayed on the
// page, or the whole list was replaced and what managers typed was lost). Each "pending"
// event's id names its rows; the browser sends it back as Last-Event-ID.
func TestPendingStreamReconnectComparesWithTheRowsLastTaken(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	svc := orders.New(pool, slog.New(slog.DiscardHandler), orders.Config{ManagerTokens: map[string]string{"api@example.com": "token"}, WarehouseURL: orderstest.CatalogURL(t, pool)})
	require.NoError(t, orders.CreateManager(context.Background(), pool, managerEmail, managerPassword))
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	d := &dash{pool: pool, srv: srv, client: orderstest.Client(t)}
	d.signIn(t, d.client, managerEmail, managerPassword)
	placed, err := http.Post(srv.URL+"/api/orders", "application/json",
		strings.NewReader(`{"items":[{"sku":"SKU-031","quantity":1}],"total":50000,"newCustomer":true,"customerEmail":"bob@example.com"}`))
	require.NoError(t, err)
	placed.Body.Close()
	require.Equal(t, http.StatusCreated, placed.StatusCode)

	// first opens the stream as a page whose first rows were "stale", and returns its first
	// "pending" event.
	first := func(lastEventID string) sseEvent {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/dashboard/events?list=pending&shown=stale", nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "text/event-stream")
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		resp, err := d.client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		for ev := range readEvents(resp) {
			if ev.name == "pending" {
				return ev
			}
		}
		t.Fatal("the stream ended without a pending event")
		return sseEvent{}
	}
	replaced := first("")
	assert.Contains(t, replaced.data, `id="pending-list"`, "rows other than the page's are replaced")
	require.NotEmpty(t, replaced.id, "the event names the rows it leaves on the page")
	again := first(replaced.id)
	assert.NotContains(t, again.data, `id="pending-list"`, "a page showing these rows keeps them, and what is typed in them")
	assert.Equal(t, replaced.id, again.id)
}

// An htmx action whose session ended sends the browser to sign in, and back to the page it
// was on afterwards (found by a probe: it landed on the overview). Only a dashboard path
// of this site is taken from the page's address.
func TestAnActionWithoutASessionSignsInAndReturnsToThePage(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	for current, want := range map[string]string{
		"http://127.0.0.1:3001/dashboard/approvals?x=1": "/dashboard/signin?next=%2Fdashboard%2Fapprovals%3Fx%3D1&ended=1",
		"https://evil.example/elsewhere":                "/dashboard/signin?ended=1",
		"":                                              "/dashboard/signin?ended=1",
	} {
		p := d.request(t, orderstest.Client(t), "POST", "/dashboard/approvals/some-order/decide", nil,
			map[string]string{"HX-Request": "true", "HX-Current-URL": current})
		assert.Equal(t, http.StatusUnauthorized, p.status)
		assert.Equal(t, want, p.header.Get("HX-Redirect"), current)
	}
	// The sign-in page then says the action was not done: it said nothing, and a manager
	// took a decision the server never saw for made.
	p := d.request(t, orderstest.Client(t), "GET", "/dashboard/signin?next=%2Fdashboard%2Fapprovals&ended=1", nil, nil)
	assert.Contains(t, p.doc.Find("[data-testid=signin-notice]").Text(), "it was not done (nothing was recorded)")
	p = d.request(t, orderstest.Client(t), "GET", "/dashboard/signin", nil, nil)
	assert.Zero(t, p.doc.Find("[data-testid=signin-notice]").Length())
}

// One manager holds at most dashboard.StreamsPerManager live streams in a process (a tab
// each): every stream a change wakes does its own reads, and a probe's 1,500 streams of one
// session made placing an order ten times slower for every customer. One more is a 429
// saying so; a stream that ends frees its place.
func TestOneManagerHoldsABoundedNumberOfStreams(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	d.signIn(t, d.client, managerEmail, managerPassword)
	open := func() (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(t.Context())
		req, err := http.NewRequestWithContext(ctx, "GET", d.srv.URL+"/dashboard/events", nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := d.client.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		return resp, cancel
	}
	var first context.CancelFunc
	for i := range dashboard.StreamsPerManager {
		resp, cancel := open()
		require.Equal(t, http.StatusOK, resp.StatusCode, "stream %d", i+1)
		if i == 0 {
			first = cancel
		}
	}
	over, _ := open()
	require.Equal(t, http.StatusTooManyRequests, over.StatusCode)
	body, err := io.ReadAll(over.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"code":"too_many_requests"`)
	assert.Contains(t, string(body), "close other dashboard tabs")
	assert.NotEmpty(t, over.Header.Get("Retry-After"))

	first()
	assert.Eventually(t, func() bool {
		resp, cancel := open()
		defer cancel()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "the place of a stream that ended is free again")
}

// Found by a probe: HEAD /dashboard/events (served by its GET route) opened a stream that
// never ended, holding one of the manager's places, so a 17th real stream was refused,
// and the next request on its connection was never answered. A HEAD now gets the
// headers of a stream and no stream: more of them than a manager's places leave a real
// stream its place, and each connection answers its next request.
func TestHeadOfTheStreamIsHeadersAlone(t *testing.T) {
	t.Parallel()
	d := newDash(t)
	d.signIn(t, d.client, managerEmail, managerPassword)
	base, err := url.Parse(d.srv.URL + "/dashboard/events")
	require.NoError(t, err)
	var cookies []string
	for _, c := range d.client.Jar.Cookies(base) {
		cookies = append(cookies, c.String())
	}
	// ask sends a request on conn (kept open between requests) and reads its answer,
	// bounded so that an answer that never comes fails the test instead of hanging it.
	ask := func(conn net.Conn, rd *bufio.Reader, method, path string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, d.srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Cookie", strings.Join(cookies, "; "))
		require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		require.NoError(t, req.Write(conn))
		resp, err := http.ReadResponse(rd, req)
		require.NoError(t, err, "%s %s answered", method, path)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp
	}
	type connection struct {
		conn net.Conn
		rd   *bufio.Reader
	}
	var conns []connection
	for i := range dashboard.StreamsPerManager + 1 {
		conn, err := net.Dial("tcp", base.Host)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		c := connection{conn, bufio.NewReader(conn)}
		conns = append(conns, c)
		head := ask(c.conn, c.rd, "HEAD", "/dashboard/events?list=pending")
		require.Equal(t, http.StatusOK, head.StatusCode, "HEAD %d", i+1)
		assert.Equal(t, "text/event-stream", head.Header.Get("Content-Type"))
		assert.Equal(t, "no-store", head.Header.Get("Cache-Control"))
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", d.srv.URL+"/dashboard/events", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := d.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "a real stream still has its place")
	ev, ok := <-readEvents(resp)
	require.True(t, ok)
	assert.Equal(t, "pending-count", ev.name)

	for i, c := range conns {
		next := ask(c.conn, c.rd, "GET", "/dashboard")
		assert.Equal(t, http.StatusOK, next.StatusCode, "the request after HEAD %d", i+1)
	}
}
