#!/usr/bin/env bash
# Compares two builds of Ordermill under the same load, in alternating runs of
# scripts/bench.sh, each on a fresh system:
#
#   scripts/abbench.sh [-n PAIRS] [-f FIELDS] DIR_A DIR_B [loadgen flags]
#
# DIR_A and DIR_B each hold a `make build`'s binaries (say `make build && cp -r bin /tmp/a`
# on the old commit, then `make build` on the new one and `scripts/abbench.sh /tmp/a bin`).
# Without loadgen flags it runs 64 customers × 3,000 orders.
#
# This VM's speed drifts by tens of per cent within an hour, more than most changes are
# worth, so one run of each build says little. The pairs run A then B, then B then A, and so
# on (PAIRS, default 3): a drift over the session falls on both builds alike. It prints each
# run's summary fields (FIELDS: comma-separated keys of loadgen's summary line; by default
# orders/s, machine CPU an order, the webhook tail, the read tail and the hypervisor's steal,
# which shows a pair whose runs had unequal machines), then each field's
# median for A and for B, the geometric mean of B/A over the pairs and the lowest and
# highest B/A of a pair: when that range spans 1, the runs do not tell the builds apart.
# Two copies of one build, as A and B, gave B/A 1.044 with pairs from 0.939 to 1.125
# (docs/BENCHMARKS.md, sixty-third session): three pairs do not tell apart builds that
# differ by less than about a tenth.
# It stops at the first run that fails or is not correct=true.
#
# BENCH_DATABASE_URL, BENCH_BASE_PORT and BENCH_HISTORY_EVENTS are passed on to bench.sh.
set -euo pipefail

usage() {
  echo "usage: scripts/abbench.sh [-n PAIRS] [-f FIELDS] DIR_A DIR_B [loadgen flags]" >&2
  exit 2
}

pairs=3
fields=orders_per_s,machine_cpu_ms_per_order,webhook_to_wait_p99,read_p99,steal_pct
while getopts n:f: opt; do
  case $opt in
    n) pairs=$OPTARG ;;
    f) fields=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || usage
a=$(realpath -e "$1") && b=$(realpath -e "$2") || usage
dirs=("$a" "$b")
shift 2
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(-concurrency 64 -orders 3000)
cd "$(dirname "$0")/.."
names=(A B)
for d in "${dirs[@]}"; do
  for cmd in orders payments warehouse delivery loadgen replay history; do
    [ -x "$d/$cmd" ] || { echo "abbench: $d/$cmd is missing: copy a 'make build' there" >&2; exit 2; }
  done
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT

# run SIDE PAIR runs one build (0 for A, 1 for B) on a fresh system and records its
# summary line.
run() {
  local side=$1 pair=$2 line f v shown=""
  line=$(BENCH_BIN="${dirs[$side]}" scripts/bench.sh "${flags[@]}" 2>/dev/null | grep '^summary ' || true)
  if [ -z "$line" ] || [[ "$line" != *" correct=true"* ]]; then
    echo "abbench: the run of ${dirs[$side]} in pair $pair failed: ${line:-no summary line (run scripts/bench.sh alone to see why)}" >&2
    exit 1
  fi
  echo "$pair $side ${line#summary }" >>"$results"
  for f in ${fields//,/ }; do
    v=$(grep -o " $f=[^ ]*" <<<"$line" || true)
    shown+="${v:- $f=?}"
  done
  echo "pair $pair ${names[$side]}:$shown"
}

for ((p = 1; p <= pairs; p++)); do
  if ((p % 2)); then order=(0 1); else order=(1 0); fi
  for side in "${order[@]}"; do
    run "$side" "$p"
  done
done

# Medians per build and the geometric mean of B/A per field, from the recorded lines.
awk -v fields="$fields" -v a="$a" -v b="$b" '
  function num(s) { sub(/ms$/, "", s); return s + 0 }
  function median(arr, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && arr[j-1] > arr[j]; j--) { t = arr[j]; arr[j] = arr[j-1]; arr[j-1] = t }
    return n % 2 ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
  }
  BEGIN { nf = split(fields, fs, ",") }
  {
    pair = $1; side = $2
    for (i = 3; i <= NF; i++) { split($i, kv, "="); val[pair, side, kv[1]] = kv[2] }
    if (pair > pairs) pairs = pair
  }
  END {
    printf "%-28s %10s %10s %8s %16s\n", "field (median of " pairs ")", "A", "B", "B/A", "B/A by pair"
    for (k = 1; k <= nf; k++) {
      f = fs[k]; na = nb = 0; logsum = 0; nr = 0; lo = hi = 0
      for (p = 1; p <= pairs; p++) {
        if ((p, 0, f) in val) xa[++na] = num(val[p, 0, f])
        if ((p, 1, f) in val) xb[++nb] = num(val[p, 1, f])
        if ((p, 0, f) in val && (p, 1, f) in val && num(val[p, 0, f]) > 0) {
          r = num(val[p, 1, f]) / num(val[p, 0, f]); logsum += log(r)
          if (nr++ == 0 || r < lo) lo = r
          if (r > hi) hi = r
        }
      }
      if (na == 0 || nb == 0) { printf "%-28s %10s %10s %8s %16s\n", f, "?", "?", "?", "?"; continue }
      # A field at 0 on side A (no steal, say) has medians but no ratio.
      if (nr == 0) { printf "%-28s %10.1f %10.1f %8s %16s\n", f, median(xa, na), median(xb, nb), "?", "?"; continue }
      printf "%-28s %10.1f %10.1f %8.3f %16s\n", f, median(xa, na), median(xb, nb), exp(logsum / nr), sprintf("%.3f–%.3f", lo, hi)
    }
    printf "A = %s, B = %s\n", a, b
  }' "$results"
