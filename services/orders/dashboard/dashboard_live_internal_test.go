package dashboard

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordermill/ordermill/eventstore/pgtest"
)

// An idle stream says it is there at every tick with an event, which the browser hands to
// the page (a comment, as it was, never reaches it): the page takes a stream silent for
// two ticks for a lost one, and the page tells it the tick.
func TestAnIdleStreamSendsKeepAliveEvents(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := New(pool, slog.New(slog.DiscardHandler), Config{KeepAlive: 20 * time.Millisecond}, nil, noNames{}, nil)
	_, err := SetManager(ctx, pool, "ana@example.com", "a long and private passphrase")
	require.NoError(t, err)
	var id int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM orders.managers WHERE email = 'ana@example.com'`).Scan(&id))
	signedIn := httptest.NewRecorder()
	require.NoError(t, s.startSession(ctx, signedIn, httptest.NewRequest("POST", "/dashboard/signin", nil), id))

	page, err := s.page(ctx, manager{Email: "ana@example.com"}, "overview", "Overview")
	require.NoError(t, err)
	assert.Equal(t, 20*time.Millisecond, page.KeepAlive)

	srv := httptest.NewServer(s.signedIn(s.dashboardEvents))
	t.Cleanup(srv.Close)
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(c, "GET", srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	for _, ck := range signedIn.Result().Cookies() {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := bufio.NewScanner(resp.Body)
	for n := 0; n < 2; {
		require.True(t, lines.Scan(), "the stream ended: %v", lines.Err())
		if lines.Text() != "event: keep-alive" {
			continue
		}
		// A data field, even empty, or the browser dispatches no event.
		require.True(t, lines.Scan())
		assert.Equal(t, "data: ", lines.Text())
		require.True(t, lines.Scan())
		assert.Empty(t, lines.Text())
		n++
	}

	// A session that ends while nothing changes ends the stream at the next tick, so the
	// page says it is not connected (a probe saw it look live long after): its keep-alive
	// asks first.
	_, err = pool.Exec(ctx, `UPDATE orders.dashboard_sessions SET expires_at = now() - interval '1 second'`)
	require.NoError(t, err)
	for lines.Scan() {
	}
	require.NoError(t, lines.Err(), "the stream ended by the server, before the test's timeout")
}

// An event's data is split at every way a stream may end a line, a lone CR too: a CR in a
// note or a reason ended the line there, and the browser dropped the rest of the page as
// a field it does not know (a review).
func TestAnEventsDataIsSplitAtEveryLineEnd(t *testing.T) {
	w := httptest.NewRecorder()
	require.NoError(t, writeEvent(w, "order", "7", "<p>checked with the customer\rsee ticket 4</p>\r\n<p>more</p>\n<p>end</p>"))
	assert.Equal(t, "event: order\nid: 7\ndata: <p>checked with the customer\ndata: see ticket 4</p>\ndata: <p>more</p>\ndata: <p>end</p>\n\n", w.Body.String())
}
