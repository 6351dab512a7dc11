#!/usr/bin/env bash
# Makes sure a Postgres answers at DATABASE_URL's host and port. When none does but
# Postgres is installed, it starts a project-local cluster under .pg/ (git-ignored), with
# trust authentication for the local user "postgres", on that same port. It keeps running
# after `make run` stops, for the next run and the tests; `ensure-postgres.sh stop` (make
# postgres-stop) stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ordermill?sslmode=disable}"
# Host, port and user, from a URL (postgres://[user[:password]@][host][:port][/db][?…], the
# host possibly [IPv6], host= port= user= in its query winning) or a keyword string
# (host=… port=… user=…). A part left out is PGHOST's, PGPORT's or PGUSER's, as libpq and
# pgx take it, else: port 5432, user postgres (for pg_isready only), and no host, which
# they read as the local socket. Several hosts (h1,h2) are theirs to try: not checked here.
host="" port="" user="" query=""
if [[ "$url" == *://* ]]; then
  authority="${url#*://}"; authority="${authority%%[/?]*}"
  [[ "$url" == *\?* ]] && query="${url#*\?}"
  if [[ "$authority" == *@* ]]; then
    user="${authority%@*}"; user="${user%%:*}"; authority="${authority##*@}"
  fi
  if [[ "$authority" == \[* ]]; then
    host="${authority%%]*}"; host="${host#[}"; port="${authority#*]}"; port="${port#:}"
  else
    host="${authority%%:*}"; [[ "$authority" == *:* ]] && port="${authority#*:}"
  fi
  set -f; IFS='&' read -ra pairs <<<"$query"; set +f
else
  set -f; read -ra pairs <<<"$url"; set +f
fi
for kv in "${pairs[@]}"; do
  case "$kv" in host=*) host="${kv#host=}" ;; port=*) port="${kv#port=}" ;; user=*) user="${kv#user=}" ;; esac
done
host="${host:-${PGHOST:-}}" port="${port:-${PGPORT:-5432}}" user="${user:-${PGUSER:-postgres}}"
if [[ "$host$port" == *,* ]]; then
  [ "${1:-}" = stop ] || exit 0
fi

if [ "${1:-}" != stop ]; then
  # pg_isready: 0 accepting, 1 rejecting (a server starting, stopping or recovering), 2 no
  # answer. A server that answers is waited for, for a minute; only one that does not
  # answer at all is missing (1 was taken for missing: a second cluster was made, and
  # failed to start on the port in use).
  ready=0
  for _ in $(seq 60); do
    ready=0
    pg_isready -q ${host:+-h "$host"} -p "$port" -U "$user" 2>/dev/null || ready=$?
    [ "$ready" = 1 ] || break
    sleep 1
  done
  case "$ready" in
  0) exit 0 ;;
  1)
    echo "ensure-postgres: the server at ${host:-the local socket}:$port answers but has rejected connections for a minute (starting, stopping or recovering?); try again when it accepts them" >&2
    exit 1 ;;
  esac
  case "$host" in 127.0.0.1|localhost|::1) ;;
  ''|/*)
    echo "ensure-postgres: nothing answers at the local socket ${host:-(the default one)} on port $port; start Postgres, or name a host in DATABASE_URL (127.0.0.1) for a project-local cluster" >&2
    exit 1;;
  *)
    echo "ensure-postgres: nothing answers at $host:$port and it is not local; start it or set DATABASE_URL" >&2
    exit 1;;
  esac
fi

bindir=""
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
  bindir="$(pg_config --bindir)"
else
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "ensure-postgres: no Postgres server answers at $host:$port and none is installed." >&2
  echo "  install one (Debian: apt-get install -y postgresql) or set DATABASE_URL." >&2
  exit 1
fi

root="$PWD/.pg"
data="$root/data"
mkdir -p "$root"
as_owner=()
if [ "$(id -u)" = 0 ]; then
  # Postgres refuses to run as root: the cluster belongs to the postgres system user.
  chown -R postgres:postgres "$root"
  as_owner=(runuser -u postgres --)
fi
if [ "${1:-}" = stop ]; then
  if [ -s "$data/postmaster.pid" ]; then
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$data" -m fast -w stop
  else
    echo "ensure-postgres: no project-local cluster runs in $data"
  fi
  exit 0
fi
# failed WHAT LOG says what failed, with the end of its log, and why that may be.
# FROM is the first line of LOG this attempt wrote (server.log grows across runs).
failed() {
  local from="${3:-1}"
  echo "ensure-postgres: $1 failed; the end of $2:" >&2
  tail -n +"$from" "$2" | tail -n 5 >&2 || true
  if [ -n "${as_owner[*]}" ] && tail -n +"$from" "$2" | grep -q "Permission denied"; then
    echo "  the cluster belongs to the postgres user, who cannot reach $root: as root, clone the" >&2
    echo "  checkout where that user may enter (not under /root), or set DATABASE_URL to a running server" >&2
  fi
  exit 1
}
if [ ! -s "$data/PG_VERSION" ]; then
  echo "ensure-postgres: creating a project-local cluster in $data"
  "${as_owner[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 >"$root/initdb.log" 2>&1 ||
    failed initdb "$root/initdb.log"
fi
echo "ensure-postgres: starting the project-local cluster on $host:$port (log: $root/server.log)"
from=1
[ -f "$root/server.log" ] && from=$(($(wc -l <"$root/server.log") + 1))
# track_commit_timestamp: bin/loadgen ends each measured step at the commit that recorded
# it (docs/BENCHMARKS.md); without it, at the transaction's start, a lower bound.
"${as_owner[@]}" "$bindir/pg_ctl" -D "$data" -l "$root/server.log" -w -t 60 \
  -o "-p $port -k $root -c listen_addresses=$host -c track_commit_timestamp=on" start >/dev/null || failed "starting it" "$root/server.log" "$from"
pg_isready -q -h "$host" -p "$port" -U postgres
