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

// machineBusy reads the CPU time the whole machine has spent busy since boot (every
// process, the load generator included, and the kernel) from the first line of
// /proc/stat: user, nice, system, irq and softirq. Not idle and iowait (nothing ran), nor
// steal (the hypervisor ran someone else), nor guest time (already counted in user). The
// difference of two readings around a run, divided by its orders, is what an order costs
// the machine, which on a saturated machine is what bounds throughput.
func machineBusy(stat string) (time.Duration, error) {
	line, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: first line %q is not the cpu totals", line)
	}
	var busy int64
	for i, f := range fields[1:8] { // user nice system idle iowait irq softirq
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}

// busyClock reads machineBusy from /proc/stat; ok is false where there is none.
func busyClock() (busy time.Duration, ok bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	busy, err = machineBusy(string(stat))
	return busy, err == nil
}

// cpuPerOrder formats the machine's busy time per order placed, in milliseconds; "?" when
// it was not measured.
func cpuPerOrder(busy time.Duration, ok bool, orders int) string {
	if !ok || orders == 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f", float64(busy)/float64(time.Millisecond)/float64(orders))
}
