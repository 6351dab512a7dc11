package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/limits"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/eventstore/orderstream"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/ui"
)

// listenerConnected is the wake-up a (re)connected listener sends: whatever was announced
// while it was not listening is unknown.
const listenerConnected = "connected"

// dashboardEvents handles GET /dashboard/events: a server-sent event stream (HEAD: its
// headers alone). Every page gets "pending-count" (the navigation badge); the pending
// page (?list=pending) also gets "pending": rows to append for newly held orders and
// out-of-band deletes for decided ones, so a reason being typed in another row survives
// the update. An order's page (?order=ID&since=POSITION) gets "order": the page's content
// again, each time the order has events newer than the page shows.
func (s *Service) dashboardEvents(w http.ResponseWriter, r *http.Request, m manager) {
	q := r.URL.Query()
	stream := &liveStream{s: s, w: w, csrf: m.CSRF, manager: m.Email, list: q.Get("list") == "pending", claims: map[string]ui.Claim{}, order: q.Get("order"), digest: q.Get("shown")}
	if id := r.Header.Get("Last-Event-ID"); id != "" && stream.list {
		// The browser reconnects on its own after a break, to the same address: the rows
		// it shows are those of the last "pending" event it took (its id), not the page's
		// first ones. Comparing with those left a decided order on the page, or replaced
		// the whole list and what was typed in it.
		stream.digest = id
	}
	if stream.order != "" {
		// Checked as the order page's own id is (withOrderID): the stream reads the order.
		if err := limits.Check(limits.ID("order", stream.order)); err != nil {
			httpx.WriteError(w, r, s.logger, err)
			return
		}
		since, err := strconv.ParseInt(q.Get("since"), 10, 64)
		if err != nil || since < 0 {
			httpx.WriteError(w, r, s.logger, apperr.FieldErrorf("since", "since must be a log position"))
			return
		}
		stream.since = since
		if id, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && id > since {
			stream.since = id
		}
	}
	if r.Method == http.MethodHead {
		// HEAD is routed here with GET: it gets the headers a stream starts with, and no
		// stream. One never ended, held a place of the manager's streams and left the next
		// request on its connection unanswered.
		startStream(w)
		return
	}
	quit, ok := s.live.join(m.Email)
	if !ok {
		w.Header().Set("Retry-After", "60")
		s.dashboardError(w, r, http.StatusTooManyRequests,
			fmt.Sprintf("%d live streams are open for %s already: close other dashboard tabs", StreamsPerManager, m.Email), nil)
		return
	}
	defer quit()
	rc := http.NewResponseController(w)
	// The server's write timeout bounds ordinary responses; a stream is meant to stay open.
	// It still ends with the request's context, the session or the process.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		s.logger.WarnContext(r.Context(), "dashboard stream: cannot lift the write timeout", "err", err)
	}
	startStream(w)
	wake, leave := s.live.subscribe(func(kind string) bool {
		return kind == projections.PendingChanged || (stream.order != "" && kind == projections.OrdersChanged)
	})
	defer leave()
	tick := time.NewTicker(s.cfg.KeepAlive)
	defer tick.Stop()
	// ended reports whether the session has ended (signed out, expired) since the stream
	// opened; a database that does not answer leaves the stream to its next look.
	ended := func() bool {
		_, ok, err := s.sessionManager(r.Context(), r)
		return err == nil && !ok
	}
	for first := true; ; first = false {
		if !first && ended() {
			return
		}
		if err := stream.push(r.Context(), first); err != nil {
			if r.Context().Err() == nil {
				s.logger.WarnContext(r.Context(), "dashboard stream ended", "err", err)
			}
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if !s.awaitChange(r.Context(), w, rc, wake, tick.C, ended) {
			return
		}
	}
}

// startStream writes the status and headers of an event stream, kept by no cache and
// not buffered by a proxy.
func startStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
}

// awaitChange blocks until the pending approvals may have changed, sending a keep-alive
// event at each tick meanwhile, unless the session has ended since; false means the
// stream should end. An event, not a comment: the browser's EventSource shows a page its
// events only, and the page takes a stream silent for two ticks for a lost one (a
// half-open connection looked live for ever). The session is asked at each tick: a stream
// that only looked at changes kept a page looking live long after its session ended.
func (s *Service) awaitChange(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, wake <-chan struct{}, tick <-chan time.Time, ended func() bool) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.live.done:
			return false
		case <-wake:
			return true
		case <-tick:
			if ended() {
				return false
			}
			if err := writeEvent(w, "keep-alive", "", ""); err != nil {
				return false
			}
			if err := rc.Flush(); err != nil {
				return false
			}
		}
	}
}

// liveStream remembers what one browser shows, to send only the difference: the rows of
// the pending list, or how far its order's page is.
type liveStream struct {
	s       *Service
	w       http.ResponseWriter
	csrf    string
	manager string
	list    bool
	shown   []string
	// claims are the shown rows' claims, to send a row's claim box when it changes.
	claims map[string]ui.Claim
	order  string
	since  int64
	// digest names the rows the page was rendered with (ui.PendingList.Digest).
	digest string
}

func (p *liveStream) push(ctx context.Context, first bool) error {
	// The first push reads afresh: the page it follows was rendered from a reading that
	// may be newer than the shared one, which it must not take back.
	read := p.s.livePending
	if first {
		read = func(ctx context.Context) (ui.PendingList, error) { return p.s.pendingList(ctx, pendingPageSize) }
	}
	list, err := read(ctx)
	if err != nil {
		return err
	}
	listViewedBy(p.manager, &list)
	if err := writeEvent(p.w, "pending-count", "", fmt.Sprint(list.Total)); err != nil {
		return err
	}
	if p.order != "" {
		return p.pushOrder(ctx)
	}
	if !p.list {
		return nil
	}
	var buf bytes.Buffer
	if first && list.Digest() == p.digest {
		// The page shows these very rows: replacing them would wipe what is being typed.
		if err := ui.PendingDiff(list, nil, nil, nil, nil, p.csrf).Render(ctx, &buf); err != nil {
			return err
		}
	} else if first {
		// The page was rendered before the list changed: replace the whole list once.
		if err := ui.PendingReplace(list, p.csrf).Render(ctx, &buf); err != nil {
			return err
		}
	} else {
		now := map[string]bool{}
		for _, o := range list.Orders {
			now[o.OrderID] = true
		}
		was := map[string]bool{}
		var gone []string
		for _, id := range p.shown {
			was[id] = true
			if !now[id] {
				gone = append(gone, id)
			}
		}
		var added []ui.PendingOrder
		var claims []ui.Claim
		for _, o := range list.Orders {
			if !was[o.OrderID] {
				added = append(added, o)
			} else if c := o.Claim; c.By != p.claims[o.OrderID].By || !c.Until.Equal(p.claims[o.OrderID].Until) {
				// Someone claimed, released or took over the order: its claim box only.
				claims = append(claims, c)
			}
		}
		log, err := p.s.departures(ctx, gone, p.manager)
		if err != nil {
			return err
		}
		if err := ui.PendingDiff(list, added, gone, log, claims, p.csrf).Render(ctx, &buf); err != nil {
			return err
		}
	}
	p.shown = p.shown[:0]
	clear(p.claims)
	for _, o := range list.Orders {
		p.shown = append(p.shown, o.OrderID)
		p.claims[o.OrderID] = o.Claim
	}
	// The event's id names the rows the page shows once it is applied: a reconnect sends
	// it back (Last-Event-ID), and live.js writes it into the page's stream address.
	return writeEvent(p.w, "pending", list.Digest(), buf.String())
}

// departures says why orders left the pending list: who decided them, or that the
// deadline cancelled them. The stream's own manager's decisions are said too (Mine): in
// the tab that decided, the answer logged them already and the page keeps one entry an
// order (live.js), but in the manager's other tabs their rows vanished without a word.
func (s *Service) departures(ctx context.Context, gone []string, me string) ([]ui.LogEntry, error) {
	if len(gone) == 0 {
		return nil, nil
	}
	left, err := projections.Departures(ctx, s.pool, gone)
	if err != nil {
		return nil, err
	}
	out := make([]ui.LogEntry, len(left))
	for i, d := range left {
		e := ui.LogEntry{OrderID: d.OrderID, At: d.At, Mine: d.DecidedBy == me}
		switch d.Status {
		case projections.ApprovalApproved, projections.ApprovalRejected:
			e.Text = ui.DecisionText(ui.Decision{OrderID: d.OrderID, Approved: d.Status == projections.ApprovalApproved, By: d.DecidedBy, Reason: d.Reason})
		case projections.ApprovalCancelled:
			if order.CancelReason(d.CancelReason) == order.ReasonTimedOut {
				e.Text = ui.ShortID(d.OrderID) + " was cancelled automatically: no decision before its deadline"
			} else {
				e.Text = ui.ShortID(d.OrderID) + " was cancelled (" + ui.StatusLabel(d.CancelReason) + ")"
			}
		}
		out[i] = e
	}
	return out, nil
}

// pushOrder sends the order's page again when the order has events the page lacks.
func (p *liveStream) pushOrder(ctx context.Context) error {
	newest, err := orderstream.NewestPosition(ctx, p.s.pool, p.order)
	if err != nil || newest <= p.since {
		return err
	}
	d, err := p.s.orderDetail(ctx, p.order, p.s.cfg.DevMode)
	if err != nil {
		return err
	}
	viewedBy(p.manager, d.Pending)
	d.KeepTyped = true
	var buf bytes.Buffer
	if err := ui.OrderLive(d, p.csrf).Render(ctx, &buf); err != nil {
		return err
	}
	p.since = d.Version
	// As a pending event's: a reconnect carries how far the page is (Last-Event-ID).
	return writeEvent(p.w, "order", strconv.FormatInt(d.Version, 10), buf.String())
}

// writeEvent writes one server-sent event; every line of data gets its own data: field.
func writeEvent(w http.ResponseWriter, name, id, data string) error {
	var b strings.Builder
	b.WriteString("event: " + name + "\n")
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	// A stream's line ends at CRLF, LF or a lone CR: split at any of them, or a CR in a
	// note or a reason ended the line there, and the browser dropped the rest of the page
	// as a field it does not know (a review).
	for _, line := range strings.Split(strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n"), "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	_, err := fmt.Fprint(w, b.String())
	return err
}
