#!/usr/bin/env bash
# Benchmarks the whole workflow: starts a fresh Ordermill (its own database, dropped first,
# and the four services started as scripts/run.sh does), runs bin/loadgen against it, stops
# every service it started and exits with loadgen's status.
#
#   scripts/bench.sh [loadgen flags]     e.g. scripts/bench.sh -concurrency 64 -orders 3000
#
# Without flags it runs a closed loop (64 customers, 2000 orders) and then an open loop
# (100 orders/s for 20 s), each on a fresh system: peak RSS is a high-water mark over a
# process's life, so a second run on the same processes would report the first one's peak.
#
# BENCH_DATABASE_URL (default ordermill_bench on the local Postgres) and BENCH_BASE_PORT
# (default 3001; the services take it and the next three) choose where. DATABASE_URL is
# deliberately not used: the Makefile exports it for the development database, and this
# script drops its database. BENCH_PPROF_PORT, when set, gives each service Go's profiler
# on its own port: orders on BENCH_PPROF_PORT, payments on the next, and so on.
# BENCH_HISTORY_EVENTS=N gives the fresh database a past of N order events before the
# services start (bin/history: earlier orders, already consumed, in the read models), to
# measure throughput against the log's size. BENCH_BIN (default bin) is the directory of the
# binaries it runs, so that scripts/abbench.sh can run two builds in turn.
set -euo pipefail
cd "$(dirname "$0")/.."

url="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ordermill_bench?sslmode=disable}"
base_port="${BENCH_BASE_PORT:-3001}"
services=(orders payments warehouse delivery)
bin="${BENCH_BIN:-bin}"

# The parts of url that dropdb and psql need (they do not take pgx's pool_* settings): postgres://user@host:port/db?params
authority="${url#*://}"; authority="${authority%%/*}"
db="${url#*://*/}"; db="${db%%\?*}"
user=postgres
if [[ "$authority" == *@* ]]; then user="${authority%@*}"; user="${user%%:*}"; fi
hostport="${authority#*@}"
host="${hostport%%:*}"; port="${hostport##*:}"
[ "$port" = "$hostport" ] && port=5432

export DATABASE_URL="$url" DEV_MODE=1 SEED_CATALOG=1 LOG_LEVEL=warn
export PAYMENTS_URL="http://127.0.0.1:$((base_port + 1))" DELIVERY_URL="http://127.0.0.1:$((base_port + 3))"
export WAREHOUSE_URL="http://127.0.0.1:$((base_port + 2))"

pids=()
stop_system() {
  [ ${#pids[@]} -eq 0 ] && return 0
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap stop_system EXIT
trap 'exit 130' INT TERM

healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ]; }

# start_system drops the database, migrates it, starts the four services and waits until
# each answers /readyz. Every step checks its own failure: bench_run is called from an
# `||` list, where bash ignores set -e.
start_system() {
  local i svc
  for i in "${!services[@]}"; do
    if curl -s -o /dev/null "http://127.0.0.1:$((base_port + i))/"; then
      echo "bench: port $((base_port + i)) is already in use (another Ordermill?); stop it or set BENCH_BASE_PORT" >&2
      return 1
    fi
  done
  fresh_database || return 1
  # Migrations first, once, so the four processes do not queue on the migration lock.
  "$bin"/replay -migrate-only >/dev/null || return 1
  if [ -n "${BENCH_HISTORY_EVENTS:-}" ]; then
    echo "bench: writing a history of $BENCH_HISTORY_EVENTS events" >&2
    "$bin"/history -events "$BENCH_HISTORY_EVENTS" >&2 || return 1
  fi
  for i in "${!services[@]}"; do
    svc="${services[$i]}"
    # As in run.sh: the prefixing sed runs in a process substitution so that $! is the
    # service itself, which is what loadgen reads peak RSS from.
    PORT=$((base_port + i)) PPROF_ADDR="${BENCH_PPROF_PORT:+127.0.0.1:$((BENCH_PPROF_PORT + i))}" \
      "$bin/$svc" > >(sed -u "s/^/[$svc] /" >&2) 2>&1 &
    pids+=($!)
  done
  for i in "${!services[@]}"; do
    wait_healthy "${services[$i]}" $((base_port + i)) "${pids[$i]}" || return 1
  done
  top_up_stock || return 1
}

# bench_mark is the comment on a database this script made, which its next run may drop.
bench_mark="made by scripts/bench.sh, which drops it at its next run"

# fresh_database drops the database and makes it again, marked as the bench's. It drops
# only a database of its own: one it made, the default ordermill_bench, or one that holds
# no tables, an extension's left out, as eventstore.Tables counts them (a probe pointed
# bin/chaos at the development database, with its services connected, and it was
# dropped: this script did the same).
fresh_database() {
  local psql_admin=(psql -X -q -At -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" -d postgres -v db="$db")
  local mark tables
  # The database's comment, "-" when it has none, nothing when there is no such database.
  mark=$("${psql_admin[@]}" <<<"SELECT coalesce(shobj_description(oid, 'pg_database'), '-') FROM pg_database WHERE datname = :'db'") || return 1
  if [ -n "$mark" ] && [ "$mark" != "$bench_mark" ] && [ "$db" != ordermill_bench ]; then
    tables=$(psql -X -At -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" -d "$db" -c \
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')") || return 1
    if [ "$tables" != 0 ]; then
      echo "bench: BENCH_DATABASE_URL names database $db, which holds $tables tables and was not made by this script: it drops its database at each run, so name another (the default is ordermill_bench), or drop $db yourself" >&2
      return 1
    fi
  fi
  dropdb --if-exists --force -h "$host" -p "$port" -U "$user" "$db" || return 1
  "${psql_admin[@]}" <<<"CREATE DATABASE :\"db\"; COMMENT ON DATABASE :\"db\" IS '$bench_mark'" || return 1
}

wait_healthy() {
  local svc=$1 port=$2 pid=$3 tries=0
  until healthy "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench: $svc exited before answering /readyz" >&2
      return 1
    fi
    if (( ++tries > 600 )); then
      echo "bench: $svc did not answer /readyz on :$port within 60 s" >&2
      return 1
    fi
    sleep 0.1
  done
}

# The demo catalogue holds 110 to 1000 units per SKU (services/warehouse/stock.go), fewer
# than a few thousand orders spread over its 30 SKUs need; an order refused for stock
# would fail the run for a reason that is not the system's. The warehouse has seeded
# the catalogue by the time it answers /readyz, so the rows exist here.
top_up_stock() {
  psql -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" -d "$db" -c \
    "UPDATE warehouse.stock SET available = 1000000 WHERE sku ~ '^SKU-0[0-9][0-9]\$'" >/dev/null
}

# bench_run runs loadgen once on a fresh system, with the flags given.
bench_run() {
  start_system || { stop_system; return 1; }
  local status=0 pid_flag
  pid_flag="orders=${pids[0]},payments=${pids[1]},warehouse=${pids[2]},delivery=${pids[3]}"
  echo "bench: $bin/loadgen $*" >&2
  "$bin"/loadgen -url "http://127.0.0.1:$base_port" -database-url "$url" -pids "$pid_flag" "$@" || status=$?
  stop_system
  return "$status"
}

status=0
if [ $# -gt 0 ]; then
  bench_run "$@" || status=$?
else
  bench_run -concurrency 64 -orders 2000 || status=$?
  bench_run -rate 100 -duration 20s || status=$?
fi
exit "$status"
