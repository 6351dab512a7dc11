package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ordermill/ordermill/cmd/internal/cli"
)

// servicePIDs resolves the service processes: from -pids ("orders=123,payments=124") or,
// when that is empty, by finding running executables named bin/<service>. A service not
// found is left out and reported as "?": memory is a figure, not a reason to fail a run.
func servicePIDs(flag string, warn io.Writer) (map[string]int, error) {
	if flag == "" {
		return findServices("/proc", warn), nil
	}
	pids := map[string]int{}
	for _, kv := range strings.Split(flag, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(kv), "=")
		pid, err := strconv.Atoi(value)
		if !ok || err != nil || pid <= 0 {
			return nil, fmt.Errorf("-pids: %q is not service=pid", kv)
		}
		if !slices.Contains(cli.Services, name) {
			return nil, fmt.Errorf("-pids: unknown service %q (want %s)", name, strings.Join(cli.Services, ", "))
		}
		pids[name] = pid
	}
	return pids, nil
}

// findServices scans proc for processes whose argv[0] is bin/<service> (how scripts/run.sh
// and scripts/bench.sh start them). Two matches for one service (two systems running) are
// ambiguous, so that service is left out rather than guessed.
func findServices(proc string, warn io.Writer) map[string]int {
	found := map[string][]int{}
	dirs, _ := os.ReadDir(proc)
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(proc, d.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		for _, svc := range cli.Services {
			if name := "bin/" + svc; string(argv0) == name || strings.HasSuffix(string(argv0), "/"+name) {
				found[svc] = append(found[svc], pid)
			}
		}
	}
	pids := map[string]int{}
	for svc, list := range found {
		if len(list) == 1 {
			pids[svc] = list[0]
		} else {
			fmt.Fprintf(warn, "loadgen: %d processes look like bin/%s (pids %v): pass -pids to say which\n", len(list), svc, list)
		}
	}
	return pids
}

// peakRSS formats each service's peak resident memory in MB ("orders:85,payments:30,…").
// VmHWM is the high-water mark over the process's whole life, so read at the end of a run
// it is the peak the run caused (or an earlier one, hence a fresh system for benchmarks).
func peakRSS(pids map[string]int, warn io.Writer) string {
	parts := make([]string, len(cli.Services))
	for i, svc := range cli.Services {
		mb := "?"
		if pid, ok := pids[svc]; ok {
			kb, err := vmHWM(pid)
			if err != nil {
				fmt.Fprintf(warn, "loadgen: peak RSS of %s (pid %d): %v\n", svc, pid, err)
			} else {
				mb = strconv.Itoa((kb + 512) / 1024)
			}
		}
		parts[i] = svc + ":" + mb
	}
	return strings.Join(parts, ",")
}

// vmHWM reads the peak resident set size, in kB, from /proc/<pid>/status.
func vmHWM(pid int) (int, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
