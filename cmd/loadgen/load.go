package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// recorder collects finished trips and keeps the live counters the progress line prints.
type recorder struct {
	mu    sync.Mutex
	trips []*trip

	inFlight, completed, failed atomic.Int64
}

func (r *recorder) begin() { r.inFlight.Add(1) }

func (r *recorder) end(t *trip) {
	r.mu.Lock()
	r.trips = append(r.trips, t)
	r.mu.Unlock()
	if t.err != nil {
		r.failed.Add(1)
	} else {
		r.completed.Add(1)
	}
	r.inFlight.Add(-1)
}

func (r *recorder) all() []*trip {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*trip(nil), r.trips...)
}

// reportProgress prints a line to w every interval until the returned stop is called, so a
// long run shows whether the system keeps up (rate) or falls behind (in flight growing).
func (r *recorder) reportProgress(w io.Writer, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		start := time.Now()
		tick := time.NewTicker(every)
		defer tick.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				completed := r.completed.Load()
				rate := float64(completed-last) / now.Sub(lastAt).Seconds()
				fmt.Fprintf(w, "progress elapsed=%s completed=%d orders_per_s=%.1f in_flight=%d errors=%d\n",
					now.Sub(start).Round(time.Second), completed, rate, r.inFlight.Load(), r.failed.Load())
				last, lastAt = completed, now
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// runClosed is the closed loop: cfg.concurrency customers, each starting its next order
// only when the previous one is done, until -orders are placed or -duration has passed.
func runClosed(ctx context.Context, cfg config, d *driver, rec *recorder) {
	var next atomic.Int64
	stopAt := deadline(cfg.duration)
	var wg sync.WaitGroup
	for range cfg.concurrency {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(stopAt) {
				seq := int(next.Add(1) - 1)
				if cfg.orders > 0 && seq >= cfg.orders {
					return
				}
				rec.begin()
				rec.end(d.journey(ctx, seq))
			}
		})
	}
	wg.Wait()
}

// runOpen is the open loop: order n starts at n/rate seconds, each in its own goroutine,
// whether or not earlier orders have finished. Starts are scheduled from the run's start
// rather than from the previous start, so a late wake-up does not lower the rate. Only
// cfg.maxInFlight bounds it, to keep a collapsing system from exhausting memory; a start
// that has to wait for that bound is counted (held), since the loop is no longer open then.
func runOpen(ctx context.Context, cfg config, d *driver, rec *recorder) (held int) {
	slots := make(chan struct{}, cfg.maxInFlight)
	start := time.Now()
	var wg sync.WaitGroup
	for seq := 0; cfg.orders == 0 || seq < cfg.orders; seq++ {
		// In float seconds: an interval rounded to whole nanoseconds would squeeze an extra
		// start into a -duration run (15/s for 6 s must start 90 orders, not 91).
		at := start.Add(time.Duration(float64(seq) / cfg.rate * float64(time.Second)))
		if cfg.duration > 0 && at.Sub(start) >= cfg.duration {
			break
		}
		if !sleepUntil(ctx, at) {
			break
		}
		waited, ok := acquire(ctx, slots)
		if waited {
			held++
		}
		if !ok {
			break
		}
		rec.begin()
		wg.Go(func() {
			defer func() { <-slots }()
			rec.end(d.journey(ctx, seq))
		})
	}
	wg.Wait()
	return held
}

// runReaders GETs orders the run has placed, a random one each time, rate times a
// second until the returned stop is called: read n is due at n/rate seconds from the
// start, each in its own goroutine (an open loop, so a slow answer delays no other read).
// A read due before any order is placed is skipped. Its samples join the customers'
// polls in d.reads. stop starts no more reads and waits for those under way.
func runReaders(ctx context.Context, rate float64, d *driver) (stop func()) {
	if rate <= 0 {
		return func() {}
	}
	scheduling, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		start := time.Now()
		for n := 0; ; n++ {
			if !sleepUntil(scheduling, start.Add(time.Duration(float64(n)/rate*float64(time.Second)))) {
				return
			}
			if id, ok := d.anyPlaced(); ok {
				wg.Go(func() { d.read(ctx, id) })
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// acquire takes an in-flight slot, reporting whether it had to wait for one and false if
// ctx ended first.
func acquire(ctx context.Context, slots chan struct{}) (waited, ok bool) {
	select {
	case slots <- struct{}{}:
		return false, true
	default:
	}
	select {
	case slots <- struct{}{}:
		return true, true
	case <-ctx.Done():
		return true, false
	}
}

// deadline is when a run of d stops starting orders; no limit when d is 0.
func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Now().Add(d)
}

// sleepUntil waits until t and reports false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	wait := time.Until(t)
	if wait <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
