package orders

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/domain/apperr"
	"github.com/ordermill/ordermill/domain/order"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/services/httpx"
	"github.com/ordermill/ordermill/ui"
)

// Live updates: the pending-approvals projection NOTIFYs projections.DashboardChannel in
// its transaction (delivered at commit, so the change is visible to whoever reads next);
// every orders process LISTENs on it and wakes its open SSE streams, which re-read the
// pending list and push the difference as HTML fragments.

// liveHub fans the notifications ("pending", "orders") out to the open SSE streams of
// this process.
type liveHub struct {
	mu       sync.Mutex
	subs     map[chan struct{}]func(kind string) bool
	done     chan struct{}
	stopOnce sync.Once
}

func newLiveHub() *liveHub {
	return &liveHub{subs: map[chan struct{}]func(string) bool{}, done: make(chan struct{})}
}

// subscribe returns a channel that receives at most one pending signal at a time (bursts
// fold into one re-render) for the notifications wants accepts, and a function to leave.
func (h *liveHub) subscribe(wants func(kind string) bool) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[ch] = wants
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// publish wakes the streams that want kind; every stream wants listenerConnected, since
// anything may have changed while the listener was away.
func (h *liveHub) publish(kind string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch, wants := range h.subs {
		if kind != listenerConnected && !wants(kind) {
			continue
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// stop ends every stream: the process is shutting down, and an open stream would hold up
// the HTTP server's graceful shutdown.
func (h *liveHub) stop() { h.stopOnce.Do(func() { close(h.done) }) }

// liveGroup names the live handler like the log's consumers (group/topic), though it
// keeps no offsets.
const liveGroup = "dashboard.live"

// registerLive runs the NOTIFY listener as a router handler, so it starts and stops with
// the process's other consumers.
func (s *Service) registerLive(router *message.Router) {
	sub := &notifySubscriber{pool: s.pool, hub: s.live, logger: s.logger}
	router.AddConsumerHandler(liveGroup+"/"+projections.DashboardChannel, projections.DashboardChannel, sub, func(msg *message.Message) error {
		s.live.publish(string(msg.Payload))
		return nil
	})
}

// notifySubscriber is a Watermill subscriber over Postgres LISTEN: each notification on
// the topic's channel becomes a message. Unlike the log it keeps no offsets: a
// notification is a wake-up, and a process that missed one re-reads the state anyway.
type notifySubscriber struct {
	pool   *pgxpool.Pool
	hub    *liveHub
	logger *slog.Logger
}

// Subscribe listens on channel until ctx ends (the router stopping).
func (n *notifySubscriber) Subscribe(ctx context.Context, channel string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		defer n.hub.stop()
		for ctx.Err() == nil {
			err := n.listen(ctx, channel, out)
			if ctx.Err() != nil {
				return
			}
			n.logger.Warn("dashboard listener lost its connection; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out, nil
}

func (n *notifySubscriber) listen(ctx context.Context, channel string, out chan<- *message.Message) error {
	conn, err := n.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	defer func() { _, _ = conn.Exec(context.Background(), "UNLISTEN *") }()
	payload := listenerConnected // anything announced while we were not listening
	for {
		msg := message.NewMessage(uuid.NewString(), []byte(payload))
		select {
		case out <- msg:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-msg.Acked():
		case <-msg.Nacked():
		case <-ctx.Done():
			return ctx.Err()
		}
		note, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		payload = note.Payload
	}
}

// Close is a no-op: the subscription ends with the context passed to Subscribe.
func (n *notifySubscriber) Close() error { return nil }

// listenerConnected is the wake-up a (re)connected listener sends: whatever was announced
// while it was not listening is unknown.
const listenerConnected = "connected"

// keepAlive is how often an idle stream sends a comment, so proxies keep it open.
const keepAlive = 25 * time.Second

// dashboardEvents handles GET /dashboard/events: a server-sent event stream. Every page
// gets "pending-count" (the navigation badge); the pending page (?list=pending) also gets
// "pending": rows to append for newly held orders and out-of-band deletes for decided
// ones, so a reason being typed in another row survives the update. An order's page
// (?order=ID&since=POSITION) gets "order": the page's content again, each time the order
// has events newer than the page shows.
func (s *Service) dashboardEvents(w http.ResponseWriter, r *http.Request, m manager) {
	q := r.URL.Query()
	stream := &liveStream{s: s, w: w, csrf: m.CSRF, manager: m.Email, list: q.Get("list") == "pending", claims: map[string]ui.Claim{}, order: q.Get("order"), digest: q.Get("shown")}
	if stream.order != "" {
		since, err := strconv.ParseInt(q.Get("since"), 10, 64)
		if err != nil || since < 0 {
			httpx.WriteError(w, r, s.logger, apperr.FieldErrorf("since", "since must be a log position"))
			return
		}
		stream.since = since
	}
	rc := http.NewResponseController(w)
	// The server's write timeout bounds ordinary responses; a stream is meant to stay open.
	// It still ends with the request's context, the session or the process.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		s.logger.WarnContext(r.Context(), "dashboard stream: cannot lift the write timeout", "err", err)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	wake, leave := s.live.subscribe(func(kind string) bool {
		return kind == projections.PendingChanged || (stream.order != "" && kind == projections.OrdersChanged)
	})
	defer leave()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for first := true; ; first = false {
		if !first {
			// The session may have ended (signed out, expired) since the stream opened.
			if _, ok, err := s.sessionManager(r.Context(), r); err != nil || !ok {
				return
			}
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
		if !s.awaitChange(r.Context(), w, rc, wake, tick.C) {
			return
		}
	}
}

// awaitChange blocks until the pending approvals may have changed, sending keep-alive
// comments meanwhile; false means the stream should end.
func (s *Service) awaitChange(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, wake <-chan struct{}, tick <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.live.done:
			return false
		case <-wake:
			return true
		case <-tick:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
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
	list, err := p.s.pendingList(ctx, pendingPageSize)
	if err != nil {
		return err
	}
	listViewedBy(p.manager, &list)
	if err := writeEvent(p.w, "pending-count", fmt.Sprint(list.Total)); err != nil {
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
	return writeEvent(p.w, "pending", buf.String())
}

// departures says why orders left the pending list: who decided them, or that the
// deadline cancelled them. The stream's own manager's decisions are left out: the answer
// to the decision logged them already.
func (s *Service) departures(ctx context.Context, gone []string, me string) ([]ui.LogEntry, error) {
	if len(gone) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT p.order_id, p.status, p.decided_by, p.decision_reason,
			coalesce(s.cancel_reason, ''), coalesce(s.updated_at, now())
		FROM orders.pending_approvals p LEFT JOIN orders.order_summaries s USING (order_id)
		WHERE p.order_id = ANY($1) AND p.status <> $3 AND p.decided_by <> $2 ORDER BY p.order_id`, gone, me, projections.ApprovalWaiting)
	if err != nil {
		return nil, fmt.Errorf("departures: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ui.LogEntry, error) {
		var id, status, by, reason, cancelled string
		var at time.Time
		if err := row.Scan(&id, &status, &by, &reason, &cancelled, &at); err != nil {
			return ui.LogEntry{}, err
		}
		e := ui.LogEntry{OrderID: id, At: at}
		switch status {
		case projections.ApprovalApproved, projections.ApprovalRejected:
			e.Text = ui.DecisionText(ui.Decision{OrderID: id, Approved: status == projections.ApprovalApproved, By: by, Reason: reason})
		case projections.ApprovalCancelled:
			if order.CancelReason(cancelled) == order.ReasonTimedOut {
				e.Text = ui.ShortID(id) + " was cancelled automatically: no decision before its deadline"
			} else {
				e.Text = ui.ShortID(id) + " was cancelled (" + ui.StatusLabel(cancelled) + ")"
			}
		}
		return e, nil
	})
}

// pushOrder sends the order's page again when the timeline has events the page lacks.
func (p *liveStream) pushOrder(ctx context.Context) error {
	var newest int64
	err := p.s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM orders.order_timeline WHERE order_id = $1`, p.order).Scan(&newest)
	if err != nil || newest <= p.since {
		return err
	}
	d, err := p.s.orderDetail(ctx, p.order, p.s.cfg.DevMode)
	if err != nil {
		return err
	}
	viewedBy(p.manager, d.Pending)
	var buf bytes.Buffer
	if err := ui.OrderLive(d, p.csrf).Render(ctx, &buf); err != nil {
		return err
	}
	p.since = d.Version
	return writeEvent(p.w, "order", buf.String())
}

// writeEvent writes one server-sent event; every line of data gets its own data: field.
func writeEvent(w http.ResponseWriter, name, data string) error {
	var b strings.Builder
	b.WriteString("event: " + name + "\n")
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	_, err := fmt.Fprint(w, b.String())
	return err
}
