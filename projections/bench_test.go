package projections_test

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermill/ordermill/eventstore"
	"github.com/ordermill/ordermill/eventstore/pgtest"
	"github.com/ordermill/ordermill/projections"
	"github.com/ordermill/ordermill/projections/ordergen"
)

// BenchmarkRebuild rebuilds every read model from a realistic log (ordergen) and reports
// events/s and the process's peak resident memory during the rebuilds (VmHWM, reset after
// the log is written). REPLAY_BENCH_EVENTS sizes the log (default 20,000);
// REPLAY_BENCH_DATABASE_URL keeps it in a database of that name, created and migrated if
// needed and written only up to the size asked for, so that runs (and bin/replay) can
// share one log; otherwise it lives in a fresh test database.
//
//	REPLAY_BENCH_EVENTS=1000000 go test -run '^$' -bench BenchmarkRebuild -benchtime 3x ./projections/
func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	events := 20_000
	if v := os.Getenv("REPLAY_BENCH_EVENTS"); v != "" {
		var err error
		if events, err = strconv.Atoi(v); err != nil {
			b.Fatalf("REPLAY_BENCH_EVENTS: %v", err)
		}
	}
	var pool *pgxpool.Pool
	if url := os.Getenv("REPLAY_BENCH_DATABASE_URL"); url != "" {
		var err error
		if pool, err = eventstore.Open(ctx, url, "bench"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
	} else {
		pool = pgtest.Pool(b)
	}
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&stored); err != nil {
		b.Fatal(err)
	}
	if stored < events {
		start := time.Now()
		res, err := ordergen.Generate(ctx, pool, ordergen.Options{Events: events - stored, Seed: uint64(stored) + 1, Prefix: "g" + strconv.Itoa(stored) + "-"})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("wrote %d events (%d orders) in %s", res.Events, res.Orders, time.Since(start).Round(time.Second))
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS(b)

	var replayed int64
	b.ResetTimer()
	for b.Loop() {
		res, err := projections.Rebuild(ctx, pool, projections.Options{})
		if err != nil {
			b.Fatal(err)
		}
		replayed += res.Events
	}
	b.ReportMetric(float64(replayed)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(peakRSS(b))/1024, "peak-RSS-MB")
}

// resetPeakRSS makes the kernel start the process's peak resident memory afresh.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("peak RSS not reset (%v): it includes writing the log", err)
	}
}

// peakRSS is the process's peak resident memory in kB since the last reset.
func peakRSS(b *testing.B) int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
