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
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

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
wait -n
