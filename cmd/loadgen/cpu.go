package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/stat's CPU times: USER_HZ, 100 ticks a second on every
// Linux architecture Go supports.
const userHZ = 100

// cpuTimes is the whole machine's CPU time since boot, from the first line of /proc/stat.
type cpuTimes struct {
	// busy is every process's time, the load generator's included, and the kernel's:
	// user, nice, system, irq and softirq. Not idle and iowait (nothing ran), nor steal,
	// nor guest time (already counted in user). The difference of two readings around a
	// run, divided by its orders, is what an order costs the machine, which on a saturated
	// machine is what bounds throughput.
	busy time.Duration
	// steal is the time the hypervisor gave this VM's virtual CPUs to someone else while
	// they had work: capacity the run lost, which busy does not show.
	steal time.Duration
	// all is busy, idle, iowait and steal together: the virtual CPUs' whole time.
	all time.Duration
}

// sub is the machine's CPU time between the readings before and t.
func (t cpuTimes) sub(before cpuTimes) cpuTimes {
	return cpuTimes{busy: t.busy - before.busy, steal: t.steal - before.steal, all: t.all - before.all}
}

// machineTimes parses /proc/stat's first line.
func machineTimes(stat string) (cpuTimes, error) {
	line, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("/proc/stat: first line %q is not the cpu totals", line)
	}
	var busy, idle, steal int64
	for i, f := range fields[1:9] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
		}
		switch i {
		case 3, 4: // idle, iowait
			idle += n
		case 7:
			steal = n
		default:
			busy += n
		}
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }
	return cpuTimes{busy: tick(busy), steal: tick(steal), all: tick(busy + idle + steal)}, nil
}

// cpuClock reads machineTimes from /proc/stat; ok is false where there is none.
func cpuClock() (t cpuTimes, ok bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, false
	}
	t, err = machineTimes(string(stat))
	return t, err == nil
}

// cpuPerOrder formats the machine's busy time per order placed, in milliseconds; "?" when
// it was not measured.
func cpuPerOrder(t cpuTimes, ok bool, orders int) string {
	if !ok || orders == 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f", float64(t.busy)/float64(time.Millisecond)/float64(orders))
}

// stealPercent formats the share of the virtual CPUs' time the hypervisor took, in per
// cent; "?" when it was not measured.
func stealPercent(t cpuTimes, ok bool) string {
	if !ok || t.all <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f", 100*float64(t.steal)/float64(t.all))
}
