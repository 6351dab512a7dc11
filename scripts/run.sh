#!/usr/bin/env bash
# Starts the four Ordermill services as separate processes against one database and stops
# them all on Ctrl-C. The services create the database and apply migrations themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ordermill?sslmode=disable}"
export DEV_MODE="${DEV_MODE:-1}"
export SEED_CATALOG="${SEED_CATALOG:-1}"

# RUN_BASE_PORT moves every port by the same step (a second checkout, or another program
# on 3001): the services take it and the next three, Mailpit 1025 and 8025 moved alike.
base="${RUN_BASE_PORT:-3001}"
case "$base" in ''|*[!0-9]*) echo "run: RUN_BASE_PORT=$base is not a port" >&2; exit 2 ;; esac
base=$((10#$base)) # 03001 is 3001, not octal
step=$((base - 3001))
port() { echo $(($1 + step)); }
if [ "$(port 1025)" -lt 1 ] || [ "$(port 8025)" -gt 65535 ]; then
  echo "run: RUN_BASE_PORT=$base moves Mailpit's ports 1025 and 8025 outside 1-65535: choose one from 1977 to 60511" >&2
  exit 2
fi
export WAREHOUSE_URL="${WAREHOUSE_URL:-http://localhost:$(port 3003)}"
export PAYMENTS_URL="${PAYMENTS_URL:-http://localhost:$(port 3002)}"
export DELIVERY_URL="${DELIVERY_URL:-http://localhost:$(port 3004)}"
export PAYMENTS_PUBLIC_URL="${PAYMENTS_PUBLIC_URL:-http://localhost:$(port 3002)}"
export PAYMENTS_WEBHOOK_URL="${PAYMENTS_WEBHOOK_URL:-http://localhost:$(port 3001)/webhooks/payment}"
export DELIVERY_WEBHOOK_URL="${DELIVERY_WEBHOOK_URL:-http://localhost:$(port 3001)/webhooks/delivery}"

pids=()
declare -A names # pid -> what it runs, for the line that says which one ended the run
lock_pid=""
stopping=""
stop() { stopping=1; kill "${pids[@]}" $lock_pid 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM HUP

# prefix NAME copies its input to the terminal with "[NAME] " in front of each line. It
# ignores Ctrl-C, which reaches the whole process group: it must outlive the process it
# reads, or that process's shutdown lines meet a closed pipe and SIGPIPE kills it before
# it drains its requests and emails. It ends when that process does.
prefix() { (trap "" INT; exec sed -u "s/^/[$1] /"); }

# Migrations first, once, so the four processes do not queue on the migration lock; but
# not on a database another system's services use (a second checkout's run, or services
# left running): they would share its work, and one run's payment links and emails would
# come from the other's ports. The services are replicable, but two runs are not replicas.
bin/replay -migrate-only -alone

# And no second run in the moment before this one's services connect: two runs started
# together both passed that check (a probe) and mixed their payment links and emails.
# The run holds an advisory lock on the database while it lasts, on a psql session of its
# own (psql takes the URL without pgx's pool_* settings); the session, and the lock, end
# with the run, however it ends.
if ! command -v psql >/dev/null 2>&1; then
  echo "run: psql is needed (it holds this run's lock on the database): install PostgreSQL's client (apt-get install postgresql-client)" >&2
  exit 1
fi
# pgx's own settings, which libpq refuses, are left out: pool_*, and the statement caches
# and query mode, in a URL's query or a key=value string.
pgx_only='(pool_[a-z_]+|default_query_exec_mode|statement_cache_capacity|description_cache_capacity)'
psql_url=$(echo "$DATABASE_URL" | sed -E "s/([?&])$pgx_only=[^&]*/\1/g; s/&+/\&/g; s/\?&/?/; s/[?&]\$//; s/(^| )$pgx_only=[^ ]*//g")
coproc RUNLOCK { exec psql -X -q -At -v ON_ERROR_STOP=1 "$psql_url" 2>&1; }
lock_pid=$RUNLOCK_PID
echo "SELECT pg_try_advisory_lock(7256372656);" >&"${RUNLOCK[1]}"
held=""
read -r -t 30 held <&"${RUNLOCK[0]}" || true # t, f, or psql's error
case "$held" in
  t) ;;
  f)
    echo "run: another make run is starting on database $(echo "$psql_url" | sed -E 's|.*/([^/?]+).*|\1|'): stop it, or give this run a database of its own (DATABASE_URL=…/ordermill_2)" >&2
    exit 1 ;;
  *)
    echo "run: could not take the run's lock on the database with psql: ${held:-no answer in 30 s}" >&2
    exit 1 ;;
esac

# Mailpit (pinned in tools/mailpit) catches every email the workflow sends, to be read at
# http://localhost:8025 (moved by RUN_BASE_PORT); unless SMTP_URL says to send them elsewhere.
mailbox=""
if [ -z "${SMTP_URL:-}" ]; then
  echo "building Mailpit (the first time takes a minute or two)…"
  mailpit=$(go tool -C tools/mailpit -n mailpit)
  # It keeps the newest 10,000 (its default, 500, dropped the emails of a short load run
  # that the dashboard still links to: a probe); in memory, a bound is still wanted.
  "$mailpit" --smtp "127.0.0.1:$(port 1025)" --listen "127.0.0.1:$(port 8025)" --max 10000 --quiet --disable-version-check > >(prefix mailpit) 2>&1 &
  pids+=($!)
  names[$!]=mailpit
  export SMTP_URL="smtp://127.0.0.1:$(port 1025)"
  export DEV_MAILBOX_URL="${DEV_MAILBOX_URL:-http://localhost:$(port 8025)}"
  mailbox="  mailpit    http://localhost:$(port 8025)   (every email the workflow sends)"
fi

# The prefixing sed runs in a process substitution so that $! is the service itself: a
# pipeline's $! would be sed, and stop would then leave the services running.
i=0
for svc in orders payments warehouse delivery; do
  PORT=$((base + i)) bin/"$svc" > >(prefix "$svc") 2>&1 &
  pids+=($!)
  names[$!]=$svc
  i=$((i + 1))
done
cat <<MSG

Ordermill is starting:
  orders     http://localhost:$(port 3001)   (API, webhooks, dashboard at /dashboard)
  payments   http://localhost:$(port 3002)
  warehouse  http://localhost:$(port 3003)   (GET /api/inventory)
  delivery   http://localhost:$(port 3004)
$mailbox
Ctrl-C stops the services$([ -n "$mailbox" ] && echo " and Mailpit"); a project-local Postgres in .pg/, if
one was started, keeps running for the next run (make postgres-stop stops it).

MSG
# The services and Mailpit: the lock's session may end with a restart of Postgres, which
# the services ride out. When one of them ends the run, it says which (bash's "Killed"
# line named none, and the others' lines after it blamed the database: a probe).
status=0
wait -n -p ended "${pids[@]}" || status=$?
if [ -z "$stopping" ] && [ "$status" != 0 ]; then # 0: it was asked to stop (Ctrl-C reaches it first)
  echo "run: ${names[$ended]:-a process} stopped (exit status $status), so the others are stopped too" >&2
fi
exit "$status"
