package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// report prints the run's figures: what was driven, what was done to it, how fast the
// system came back, and the verdict.
func report(out io.Writer, cfg config, d *driver, m *monkey, recs []recovery, elapsed time.Duration, problems []string) {
	trips := d.trips()
	byScript := map[script]int{}
	early := 0
	for _, t := range trips {
		byScript[t.script]++
		if t.early {
			early++
		}
	}
	fmt.Fprintf(out, "\nchaos: %d orders in %s (", len(trips), elapsed.Round(time.Second))
	for i, s := range []script{completed, approved, rejected, paymentFailed, earlyDecline, deliveryFailed, earlyDelivery} {
		if i > 0 {
			fmt.Fprint(out, ", ")
		}
		fmt.Fprintf(out, "%s %d", s, byScript[s])
	}
	fmt.Fprintf(out, "); %d webhooks arrived before the order waited for them; %d requests retried\n", early, d.retries.Load())

	if len(recs) == 0 {
		fmt.Fprintln(out, "chaos: nothing was killed")
		recs = []recovery{{disruption: disruption{at: time.Now()}}}
	}
	var longest recovery
	var kills []time.Duration
	failedRestarts, idle, loops := 0, 0, 0
	for _, r := range recs {
		if r.err != nil {
			failedRestarts++
		}
		loops += r.crashLoops
		switch {
		case r.victim == "postgres":
		case r.moved < 0:
			idle++ // killed after the last order: there was nothing left to move
		default:
			kills = append(kills, r.moved)
		}
		if r.moved > longest.moved {
			longest = r
		}
	}
	fmt.Fprintf(out, "chaos: %d kills (SIGKILL, each process started again after %s), %d PostgreSQL restarts, %d restarts that failed, %d starts that exited early and were started again\n",
		m.count(false), cfg.down, m.count(true), failedRestarts, loops)
	for _, r := range recs {
		moved := "nothing moved afterwards"
		if r.moved >= 0 {
			moved = "moved again after " + r.moved.Round(time.Millisecond).String()
		}
		fmt.Fprintf(out, "  %-12s at +%-6s back in %-7s %s\n", r.victim, r.at.Sub(recs[0].at).Round(time.Second), r.back.Sub(r.at).Round(time.Millisecond), moved)
	}
	if len(kills) > 0 {
		slices.Sort(kills)
		fmt.Fprintf(out, "chaos: recovery after a kill: median %s, longest %s (%d kills under load; %d after the last order, with nothing left to move)\n",
			kills[len(kills)/2].Round(time.Millisecond), kills[len(kills)-1].Round(time.Millisecond), len(kills), idle)
	}
	if longest.victim != "" { // a run cut short may have nothing to recover from
		fmt.Fprintf(out, "chaos: longest time to recover: %s (%s at +%s)\n", longest.moved.Round(time.Millisecond), longest.victim, longest.at.Sub(recs[0].at).Round(time.Second))
	}
	if len(problems) == 0 {
		fmt.Fprintln(out, "chaos: every check passed: end states, stock, no duplicate events or effects, no dead letters, legal histories")
	} else {
		fmt.Fprintf(out, "chaos: %d violations (above)\n", len(problems))
	}
}
