package dashboard

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore/logging"
	"github.com/ordermill/ordermill/projections"
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
	open     map[string]int // live streams open per manager, at most StreamsPerManager
	done     chan struct{}
	stopOnce sync.Once
	// changes counts the notifications that may change the pending list; the streams one
	// wakes share one reading of it (Service.livePending).
	changes atomic.Uint64

	// shared is the pending list as read after the changes'th notification.
	shared struct {
		sync.Mutex
		changes uint64
		list    *ui.PendingList
	}
}

func newLiveHub() *liveHub {
	return &liveHub{subs: map[chan struct{}]func(string) bool{}, open: map[string]int{}, done: make(chan struct{})}
}

// StreamsPerManager bounds the live streams one manager has open in a process: each tab
// of the dashboard holds one. Every stream a change wakes does its own reads (its session,
// its order's position), so a probe's 1,500 streams of one session made placing an order
// ten times slower for every customer.
const StreamsPerManager = 16

// join counts a stream of manager's, or says false when manager has StreamsPerManager
// open already; leave ends the count.
func (h *liveHub) join(manager string) (leave func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open[manager] >= StreamsPerManager {
		return nil, false
	}
	h.open[manager]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.open[manager]--; h.open[manager] == 0 {
			delete(h.open, manager)
		}
	}, true
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
	if kind == projections.PendingChanged || kind == listenerConnected {
		h.changes.Add(1)
	}
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

// livePending is the pending list for a stream a notification woke. The streams one
// notification wakes share one reading: it is read once after the latest notification,
// which was sent after the commit it tells of, so it shows that commit. A probe opened
// 500 streams, and every change then cost 500 readings of 2 or 3 queries each, which held
// the pool and slowed every order. Each stream gets a copy to mark its manager's claims.
func (s *Service) livePending(ctx context.Context) (ui.PendingList, error) {
	h := &s.live.shared
	h.Lock()
	defer h.Unlock()
	changes := s.live.changes.Load() // before the reading: a notification after it reads again
	if h.list == nil || h.changes != changes {
		list, err := s.pendingList(ctx, pendingPageSize)
		if err != nil {
			return list, err
		}
		h.list, h.changes = &list, changes
	}
	list := *h.list
	list.Orders = slices.Clone(list.Orders)
	return list, nil
}

// stop ends every stream: the process is shutting down, and an open stream would hold up
// the HTTP server's graceful shutdown.
func (h *liveHub) stop() { h.stopOnce.Do(func() { close(h.done) }) }

// liveGroup names the live handler like the log's consumers (group/topic), though it
// keeps no offsets.
const liveGroup = "dashboard.live"

// RegisterLive runs the NOTIFY listener as a router handler, so it starts and stops with
// the process's other consumers.
func (s *Service) RegisterLive(router *message.Router) {
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
		lost := logging.NewRepeats() // a database outage is a line a minute, not one a second
		for ctx.Err() == nil {
			err := n.listen(ctx, channel, out)
			if ctx.Err() != nil {
				return
			}
			if due, missed := lost.Due(""); due {
				n.logger.Warn("dashboard listener lost its connection; retrying", "err", err, "repeated_since_last_line", missed)
			}
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
