#!/usr/bin/env bash
# Starts the four Ordermill services as separate processes against one database and stops
# them all on Ctrl-C. The services create the database and apply migrations themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ordermill?sslmode=disable}"
export DEV_MODE="${DEV_MODE:-1}"
export SEED_CATALOG="${SEED_CATALOG:-1}"

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

# prefix NAME copies its input to the terminal with "[NAME] " in front of each line. It
# ignores Ctrl-C, which reaches the whole process group: it must outlive the process it
# reads, or that process's shutdown lines meet a closed pipe and SIGPIPE kills it before
# it drains its requests and emails. It ends when that process does.
prefix() { (trap "" INT; exec sed -u "s/^/[$1] /"); }

# Migrations first, once, so the four processes do not queue on the migration lock.
bin/replay -migrate-only

# Mailpit (pinned in tools/mailpit) catches every email the workflow sends, to be read at
# http://localhost:8025; unless SMTP_URL says to send them elsewhere.
mailbox=""
if [ -z "${SMTP_URL:-}" ]; then
  echo "building Mailpit (the first time takes a minute or two)…"
  mailpit=$(go tool -C tools/mailpit -n mailpit)
  "$mailpit" --smtp 127.0.0.1:1025 --listen 127.0.0.1:8025 --quiet --disable-version-check > >(prefix mailpit) 2>&1 &
  pids+=($!)
  export SMTP_URL=smtp://127.0.0.1:1025
  export DEV_MAILBOX_URL="${DEV_MAILBOX_URL:-http://localhost:8025}"
  mailbox="  mailpit    http://localhost:8025   (every email the workflow sends)"
fi

# The prefixing sed runs in a process substitution so that $! is the service itself: a
# pipeline's $! would be sed, and stop would then leave the services running.
for svc in orders payments warehouse delivery; do
  bin/"$svc" > >(prefix "$svc") 2>&1 &
  pids+=($!)
done
cat <<MSG

Ordermill is starting:
  orders     http://localhost:3001   (API, webhooks, dashboard at /dashboard)
  payments   http://localhost:3002
  warehouse  http://localhost:3003   (GET /api/inventory)
  delivery   http://localhost:3004
$mailbox
Ctrl-C stops the services$([ -n "$mailbox" ] && echo " and Mailpit"); a project-local Postgres in .pg/, if
one was started, keeps running for the next run (make postgres-stop stops it).

MSG
wait -n
