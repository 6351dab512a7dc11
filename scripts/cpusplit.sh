#!/usr/bin/env bash
# Splits the machine's CPU an order between the processes of a running benchmark: run it
# beside scripts/bench.sh, on the same BENCH_DATABASE_URL,
#
#   scripts/cpusplit.sh [DELAY [SECONDS]] & scripts/bench.sh -concurrency 64 -orders 8000
#
# After DELAY seconds (default 8: past the start-up and the first orders) it reads, over a
# window of SECONDS (default 15), the CPU time (user + system, from /proc/<pid>/stat) of the
# PostgreSQL cluster (its postmaster, every backend, and the backends reaped meanwhile), of
# each Ordermill service and of loadgen, and the orders completed meanwhile. It prints each
# one's milliseconds of CPU an order and their sum ("together": these processes only, so a
# little below loadgen's machine_cpu_ms_per_order, which reads the whole machine's
# /proc/stat, interrupts and other processes included), the commits an order, and, where
# pg_stat_statements is installed in the database, the statements an order and the twenty
# statements with the most time (it resets the extension's counters at the window's start).
#
# The bench must run on this machine's PostgreSQL, and this script must be able to read the
# cluster's postmaster.pid (run it as root or as the cluster's owner).
set -euo pipefail

delay="${1:-8}"
secs="${2:-15}"
url="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ordermill_bench?sslmode=disable}"
q() { psql "$url" -Atqc "$1"; }

sleep "$delay"
postmaster=$(head -1 "$(q 'SHOW data_directory')/postmaster.pid")
has_statements=$(q "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")

# ticks prints "name ticks" for every process that counts: the postmaster with its reaped
# children, its live children, the services and loadgen.
ticks() {
  local p pid line rest comm
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    read -r line 2>/dev/null <"$p/stat" || continue
    comm=${line#*(}; comm=${comm%)*}
    rest=${line##*) }
    # shellcheck disable=SC2086 # the fields after the command's name, split on purpose
    set -- $rest
    # $2 is the parent; ${12}, ${13} utime and stime; ${14}, ${15} the reaped children's.
    if [ "$pid" = "$postmaster" ]; then
      echo "postgres $((${12} + ${13} + ${14} + ${15}))"
    elif [ "$2" = "$postmaster" ]; then
      echo "postgres $((${12} + ${13}))"
    else
      case $comm in orders | payments | warehouse | delivery | loadgen) echo "$comm $((${12} + ${13}))" ;; esac
    fi
  done | awk '{t[$1] += $2} END {for (k in t) print k, t[k]}' | sort
}
completed() { q "SELECT count(*) FROM orders.order_summaries WHERE status = 'completed'"; }
commits() { q "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"; }

hz=$(getconf CLK_TCK)
[ "$has_statements" = 1 ] && q 'SELECT pg_stat_statements_reset()' >/dev/null
c0=$(completed) x0=$(commits) t0=$(ticks)
sleep "$secs"
t1=$(ticks) c1=$(completed) x1=$(commits)

n=$((c1 - c0))
if [ "$n" -le 0 ]; then
  echo "cpusplit: no order completed in the window" >&2
  exit 1
fi
echo "window ${secs}s: $n orders completed ($(awk -v n="$n" -v s="$secs" 'BEGIN {printf "%.1f", n / s}')/s), $(awk -v x=$((x1 - x0)) -v n="$n" 'BEGIN {printf "%.2f", x / n}') commits an order"
join <(echo "$t0") <(echo "$t1") | awk -v n="$n" -v hz="$hz" '
  {ms = ($3 - $2) * 1000 / hz / n; total += ms; printf "%-10s %6.2f ms an order\n", $1, ms}
  END {printf "%-10s %6.2f ms an order\n", "together", total}'
if [ "$has_statements" = 1 ]; then
  this_db="dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
  q "SELECT format('statements: %s an order, %s ms of their time an order', round(sum(calls)::numeric / $n, 1),
       round((sum(total_exec_time) / $n)::numeric, 2))
     FROM pg_stat_statements WHERE $this_db"
  q "SELECT format('%6s calls %7s ms %6s pages  %s', round(calls::numeric / $n, 2), round((total_exec_time / $n)::numeric, 4),
       round(shared_blks_hit::numeric / greatest(calls, 1), 1), left(regexp_replace(query, '\s+', ' ', 'g'), 100))
     FROM pg_stat_statements WHERE $this_db
     ORDER BY total_exec_time DESC LIMIT 20"
fi
