package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// step is one measured stretch of an order's life, with one sample per order that got
// through it, sorted.
type step struct {
	name    string
	samples []time.Duration
}

// report is what a run measured. Warm-up orders are left out of every figure in it except
// warmupFailed, so that a failing warm-up still fails the run.
type report struct {
	orders, completed, failed int
	placed                    int // orders the service took (orders counts every start)
	untimed                   int // completed orders whose event times could not be read: in no step figure
	warmupFailed              int
	held                      int           // open loop: starts that waited for -max-in-flight
	elapsed                   time.Duration // first measured start to last measured finish
	steps                     []step
	lifetime                  []time.Duration
	// From each webhook's 2xx to the order at its next wait, one list a webhook: the
	// delivery webhook completes the order in its own transaction, so its samples are 0
	// by construction, and pooled with the payment's they made the figure the payment's
	// p98 (a review).
	payToWait, deliveryToWait []time.Duration
	// stepEnd says what ends each step: "commit", the commit of the transaction that
	// recorded it (the order is there once it commits), or "tx_start", that transaction's
	// start (recorded_at), read when the server keeps no commit timestamps: a lower bound.
	stepEnd string
	// stale counts polls just after a write's 2xx that did not show the write: read-your-
	// writes broken (target 3).
	stale      int64
	reads      []time.Duration // every GET /api/orders/{id}, sorted
	readRate   float64         // GETs per second over the run
	readErrors int64           // the readers' failed reads (-read-rate)
	refused    int64           // writes answered 503 and sent again (driver.resend)
	errors     []string        // the first few failures, for the reader
	// cpuPerOrder is the whole machine's busy CPU time over the run per order placed, warm-up
	// included, in milliseconds ("?" when not measured): loadgen, Postgres and the services.
	cpuPerOrder string
	// stealPercent is the share of the machine's CPU time over the run that the hypervisor
	// gave to other guests, in per cent ("?" when not measured): a slow hour on a shared VM
	// shows here, where cpuPerOrder alone would hide it.
	stealPercent string
}

// maxErrorsShown bounds the failures printed: the first ones say what went wrong, and a
// collapsing run would otherwise print thousands of the same line.
const maxErrorsShown = 5

func summarize(trips []*trip, warmup int) report {
	var rep report
	var lowPay, highPay, payToDelivery, deliveryToDone []time.Duration
	var first, last time.Time
	for _, t := range trips {
		if t.seq < warmup {
			if t.err != nil {
				rep.warmupFailed++
			}
			continue
		}
		rep.orders++
		if t.id != "" {
			rep.placed++
		}
		if first.IsZero() || t.placed.Before(first) {
			first = t.placed
		}
		if t.finished.After(last) {
			last = t.finished
		}
		if t.err != nil {
			rep.failed++
			if len(rep.errors) < maxErrorsShown {
				rep.errors = append(rep.errors, fmt.Sprintf("order #%d: %v", t.seq, t.err))
			}
			continue
		}
		rep.completed++
		if t.timesErr != nil {
			rep.untimed++
			if len(rep.errors) < maxErrorsShown {
				rep.errors = append(rep.errors, fmt.Sprintf("order #%d completed, its event times not read: %v", t.seq, t.timesErr))
			}
			continue
		}
		if t.highRisk {
			highPay = append(highPay, t.reserved.Sub(t.placed))
		} else {
			lowPay = append(lowPay, t.reserved.Sub(t.placed))
		}
		payToDelivery = append(payToDelivery, t.shipped.Sub(t.paySent))
		deliveryToDone = append(deliveryToDone, t.completed.Sub(t.deliverySent))
		// "Accepted" is when the webhook's 2xx arrived: from then on the provider is done
		// and everything until the next wait is the system's own work. An order that
		// reached its next wait in the webhook's own transaction (the delivery webhook
		// completes it) was there before the 2xx: nothing was left to wait for, so the
		// sample is 0.
		rep.payToWait = append(rep.payToWait, max(0, t.shipped.Sub(t.payAccepted)))
		rep.deliveryToWait = append(rep.deliveryToWait, max(0, t.completed.Sub(t.deliveryAccepted)))
		rep.lifetime = append(rep.lifetime, t.completed.Sub(t.placed))
	}
	rep.elapsed = last.Sub(first)
	rep.steps = []step{
		{"place → awaiting_payment (low risk)", lowPay},
		{"place → awaiting_payment (high risk, incl. approval)", highPay},
		{"payment webhook → awaiting_delivery", payToDelivery},
		{"delivery webhook → completed", deliveryToDone},
		{"payment webhook accepted → awaiting_delivery", rep.payToWait},
		{"delivery webhook accepted → completed", rep.deliveryToWait},
		{"place → completed (order lifetime)", rep.lifetime},
	}
	for _, s := range rep.steps {
		slices.Sort(s.samples)
	}
	return rep
}

// webhookToWaitP99 is target 2's figure: the worse of the two webhooks' p99s.
func (r report) webhookToWaitP99() []time.Duration {
	pay, _ := pct(r.payToWait, 99)
	delivery, _ := pct(r.deliveryToWait, 99)
	if delivery > pay {
		return r.deliveryToWait
	}
	return r.payToWait
}

func (r report) ordersPerSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.completed) / r.elapsed.Seconds()
}

// print writes the human part: counts, throughput, the step table and the first errors.
func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "orders: %d started, %d placed, %d completed, %d failed in %s", r.orders, r.placed, r.completed, r.failed, r.elapsed.Round(time.Millisecond))
	if r.warmupFailed > 0 {
		fmt.Fprintf(w, " (and %d warm-up orders failed)", r.warmupFailed)
	}
	if r.untimed > 0 {
		fmt.Fprintf(w, "\n%d completed orders' event times could not be read: they are in no step figure", r.untimed)
	}
	fmt.Fprintf(w, "\nthroughput: %.1f orders/s through the whole workflow\n", r.ordersPerSecond())
	if r.held > 0 {
		fmt.Fprintf(w, "open loop: %d starts waited for -max-in-flight; the offered rate was not kept\n", r.held)
	}
	if r.stale > 0 {
		fmt.Fprintf(w, "read-your-writes broken: %d polls just after a write's 2xx did not show the write\n", r.stale)
	}
	if r.stepEnd != "commit" {
		fmt.Fprintf(w, "the steps end at the start of the transaction that recorded each (the server keeps no commit timestamps: set track_commit_timestamp=on): every step figure is a lower bound\n")
	}
	fmt.Fprintf(w, "\n| step | n | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n")
	for _, s := range r.steps {
		d := s.samples
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", s.name, len(d), fmtPct(d, 50), fmtPct(d, 95), fmtPct(d, 99), fmtPct(d, 100))
	}
	fmt.Fprintf(w, "| GET /api/orders/{id} (%.0f/s while the workflow runs) | %d | %s | %s | %s | %s |\n",
		r.readRate, len(r.reads), fmtPct(r.reads, 50), fmtPct(r.reads, 95), fmtPct(r.reads, 99), fmtPct(r.reads, 100))
	fmt.Fprintln(w)
	for _, e := range r.errors {
		fmt.Fprintln(w, "error:", e)
	}
}

// pct is the nearest-rank percentile of sorted samples, false when there are none.
func pct(sorted []time.Duration, p int) (time.Duration, bool) {
	if len(sorted) == 0 {
		return 0, false
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)], true
}

func fmtPct(sorted []time.Duration, p int) string {
	d, ok := pct(sorted, p)
	if !ok {
		return "-"
	}
	return d.Round(100 * time.Microsecond).String()
}

// ms formats a percentile in milliseconds, always in that unit so the summary line can be
// compared with a plain numeric sort.
func ms(sorted []time.Duration, p int) string {
	d, ok := pct(sorted, p)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// summaryLine is the one machine-readable line of a run: key=value pairs, no spaces in values.
func summaryLine(cfg config, r report, rss, correct string) string {
	f := []string{"summary", "mode=" + cfg.mode()}
	if cfg.rate > 0 {
		f = append(f, fmt.Sprintf("rate=%g", cfg.rate))
	} else {
		f = append(f, fmt.Sprintf("concurrency=%d", cfg.concurrency))
	}
	if cfg.warmup > 0 {
		f = append(f, fmt.Sprintf("warmup=%d", cfg.warmup))
	}
	f = append(f,
		fmt.Sprintf("orders=%d", r.orders),
		fmt.Sprintf("placed=%d", r.placed),
		fmt.Sprintf("untimed=%d", r.untimed),
		fmt.Sprintf("completed=%d", r.completed),
		fmt.Sprintf("failed=%d", r.failed+r.warmupFailed),
		fmt.Sprintf("orders_per_s=%.1f", r.ordersPerSecond()),
		"lifetime_p50="+ms(r.lifetime, 50),
		"lifetime_p95="+ms(r.lifetime, 95),
		"lifetime_p99="+ms(r.lifetime, 99),
		"webhook_to_wait_p99="+ms(r.webhookToWaitP99(), 99),
		"pay_webhook_to_wait_p99="+ms(r.payToWait, 99),
		"delivery_webhook_to_wait_p99="+ms(r.deliveryToWait, 99),
		"step_end="+r.stepEnd,
		fmt.Sprintf("reads_per_s=%.0f", r.readRate),
		"read_p50="+ms(r.reads, 50),
		"read_p95="+ms(r.reads, 95),
		"read_p99="+ms(r.reads, 99),
	)
	if cfg.readRate > 0 {
		f = append(f, fmt.Sprintf("read_rate=%g", cfg.readRate), fmt.Sprintf("read_errors=%d", r.readErrors))
	}
	f = append(f,
		"machine_cpu_ms_per_order="+cmp.Or(r.cpuPerOrder, "?"),
		"steal_pct="+cmp.Or(r.stealPercent, "?"),
	)
	if cfg.rate > 0 {
		f = append(f, fmt.Sprintf("held_starts=%d", r.held))
	}
	f = append(f, fmt.Sprintf("refused_503=%d", r.refused), fmt.Sprintf("stale_reads=%d", r.stale), "rss_mb="+rss, "correct="+correct)
	return strings.Join(f, " ")
}
