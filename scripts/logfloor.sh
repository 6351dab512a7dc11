#!/usr/bin/env bash
# The log's floor: the fewest Postgres writes an order can cost in this design, run by
# pgbench with nothing else on the machine, so that issue 7's target can be set against
# what the store alone allows (docs/BENCHMARKS.md, "The log's floor").
#
#   scripts/logfloor.sh [seconds] [clients]      (defaults: 15 and 8)
#
# It runs on the database of BENCH_DATABASE_URL, which `make bench` (scripts/bench.sh)
# has created and migrated; stop the services first. An order there writes 12 events
# (each with its snapshot and its log message, in the appends' own statement shape), about
# five more log messages (commands, webhook events, deadlines) and three request rows
# (the idempotency key, two webhook inbox rows). Here that is modelled by two
# transactions, mixed by pgbench in the real proportions:
#   request  an HTTP write, 3.1 an order (placement, two webhooks, a tenth's approval): a
#            request row, one stream's two events appended, one command; one round trip,
#            synchronous commit (durability, target 6);
#   batch    a consumer batch, 0.75 an order (6 of an order's events, batches of 8):
#            eight streams' events appended in one statement, four commands, its consumer's offset;
#            asynchronous commit, as the consumers commit.
# Nothing of the read models, the services' own rows, the saga's state, the reads or the
# Go processes is in it. It prints pgbench's figures and the orders a second they make:
# request transactions a second / 3.1. Everything it writes is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

url="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ordermill_bench?sslmode=disable}"
seconds="${1:-15}"
clients="${2:-8}"
dir="$(mktemp -d)"

cleanup() {
  psql -q "$url" <<'SQL' || true
DELETE FROM events WHERE stream_id LIKE 'floor-%';
DELETE FROM snapshots WHERE stream_id LIKE 'floor-%';
DELETE FROM "watermill_order_events.0" WHERE payload->>'streamId' LIKE 'floor-%';
DELETE FROM watermill_warehouse_commands WHERE payload->>'orderId' = 'floor';
DROP TABLE IF EXISTS logfloor_requests, logfloor_offsets;
DROP SEQUENCE IF EXISTS logfloor_ids;
SQL
  rm -rf "$dir"
}
trap cleanup EXIT

psql -q -v ON_ERROR_STOP=1 "$url" <<'SQL'
CREATE TABLE IF NOT EXISTS logfloor_requests (id text PRIMARY KEY, body jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS logfloor_offsets (client int PRIMARY KEY, at timestamptz);
CREATE SEQUENCE IF NOT EXISTS logfloor_ids;
SQL

# append: the appends' statement (eventstore/store.go appendSQL) for the streams and events
# that $1 (a SELECT of stream, version, name) lists, each event with a ~900-byte snapshot.
append() {
  cat <<SQL
WITH e AS ($1), ins AS (
  INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_name, payload, metadata)
  SELECT gen_random_uuid(), e.stream, 'order', e.version, e.name,
    '{"orderId":"floor","score":12,"reasons":["new customer","amount over 500"],"decision":"approve"}'::jsonb,
    '{"correlationId":"floor","actor":"system"}'::jsonb
  FROM e
  RETURNING *
), snap AS (
  INSERT INTO snapshots (stream_id, stream_type, version, position, schema, state)
  SELECT stream_id, 'order', max(stream_version), max(position), 1,
    json_build_object('id', stream_id, 'status', 'placed', 'pad', repeat('x', 850))
  FROM ins GROUP BY stream_id
  ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, position = excluded.position,
    schema = excluded.schema, state = excluded.state, updated_at = now()
), pub AS (
  INSERT INTO "watermill_order_events.0" (uuid, payload, metadata, transaction_id)
  SELECT ins.event_id::text, json_build_object('position', ins.position, 'eventId', ins.event_id,
      'streamId', ins.stream_id, 'streamType', ins.stream_type, 'version', ins.stream_version,
      'name', ins.event_name, 'payload', ins.payload, 'metadata', ins.metadata, 'recordedAt', ins.recorded_at),
    (jsonb_build_object('name', ins.event_name) || '{"partition_key":"floor"}'::jsonb)::json, pg_current_xact_id()
  FROM ins ORDER BY ins.stream_id, ins.stream_version
)
SELECT position, recorded_at FROM ins ORDER BY stream_id, stream_version;
SQL
}

commands() {
  echo "INSERT INTO watermill_warehouse_commands (uuid, payload, metadata, transaction_id)
  SELECT gen_random_uuid()::text, '{\"orderId\":\"floor\",\"items\":[{\"sku\":\"SKU-1\",\"qty\":2}]}', '{\"partition_key\":\"floor\"}', pg_current_xact_id()
  FROM generate_series(1, $1);"
}

{
  echo "SELECT nextval('logfloor_ids') AS id \\gset"
  echo '\startpipeline'
  echo 'BEGIN;'
  echo "INSERT INTO logfloor_requests (id, body) VALUES ('r-' || :id, '{\"type\":\"payment.succeeded\",\"data\":{\"id\":\"pi_floor\",\"amount\":2500}}');"
  append "SELECT 'floor-r' || :id AS stream, v AS version, 'order.risk_assessed.v1' AS name FROM generate_series(1, 2) v"
  commands 1
  echo 'COMMIT;'
  echo '\endpipeline'
} >"$dir/request.sql"

{
  echo "SELECT nextval('logfloor_ids') AS id \\gset"
  echo '\startpipeline'
  echo 'BEGIN;'
  echo 'SET LOCAL synchronous_commit = off;'
  append "SELECT 'floor-b' || :id || '-' || s AS stream, 1 AS version, 'order.inventory_reserved.v1' AS name FROM generate_series(1, 8) s"
  commands 4
  echo 'INSERT INTO logfloor_offsets VALUES (:client_id, now()) ON CONFLICT (client) DO UPDATE SET at = excluded.at;'
  echo 'COMMIT;'
  echo '\endpipeline'
} >"$dir/batch.sql"

out="$(pgbench -n -M prepared -c "$clients" -j 2 -T "$seconds" -f "$dir/request.sql@31" -f "$dir/batch.sql@7" "$url")"
echo "$out" | grep -E '^(tps|latency)|SQL script| - [0-9]+ transactions'
tps="$(echo "$out" | awk '/SQL script 1/ {s = 1} s && /transactions \(/ {match($0, /tps = [0-9.]+/); print substr($0, RSTART + 6, RLENGTH - 6); exit}')"
awk -v t="$tps" 'BEGIN { printf "logfloor: %.0f orders/s (request transactions %.0f/s / 3.1)\n", t / 3.1, t }'
