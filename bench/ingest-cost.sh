#!/usr/bin/env bash
# Where a submit's CPU goes: Redis commands per submit (INFO commandstats) and CPU µs per
# submit of the HTTP server, redis-server and Postgres (/proc), the bare Hono + queue.add
# route (bench/baselines/ingest-server.ts) vs Conveyor's POST /v1/jobs, both under autocannon
# with 50 connections for a fixed number of requests. Needs redis-server, the machine's
# Postgres (trust auth), redis-cli and psql, and a build (npm run build). The Redis is the
# run's own; Postgres counts everything the server does, so run it on an otherwise quiet machine.
# Usage: bench/ingest-cost.sh [requests]
# API_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the Conveyor API (bench/profile-top.mjs reads it).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-30000}
# shellcheck source=bench/cost-kit.sh
. bench/cost-kit.sh
cost_setup ic info
load() { # $1 url, $2 body, $3.. extra autocannon args
  local url=$1 body=$2; shift 2
  npx autocannon -c 50 -a "$N" -m POST -H content-type=application/json "$@" -b "$body" "$url" 2>&1 | grep -E "requests in|non 2xx" || true
}
for kind in base conveyor; do
  if [ $kind = base ]; then PORT=3995 node --import tsx bench/baselines/ingest-server.ts > /dev/null 2>&1 & S=$!; URL=http://127.0.0.1:3995/jobs; BODY='{}'; AUTH=(-H x-bench=base); BEARER=
  else BOOTSTRAP_ADMIN_KEY=$KEY PORT=3996 HOST=127.0.0.1 node ${API_NODE_FLAGS:-} apps/api/dist/main.js > /dev/null 2>&1 & S=$!; URL=http://127.0.0.1:3996/v1/jobs; BODY='{"type":"noop"}'; AUTH=(-H "authorization=Bearer $KEY"); BEARER="Bearer $KEY"; fi
  for i in $(seq 1 100); do curl -sf -o /dev/null -X POST -H 'content-type: application/json' -H "authorization: $BEARER" -d "$BODY" $URL && break; sleep 0.2; done
  # Warm up (JIT, pools), then measure.
  N=2000 load $URL "$BODY" "${AUTH[@]}" > /dev/null
  redis-cli config resetstat > /dev/null
  read R0 P0 S0 < <(cpu $S)
  T0=$(date +%s%N)
  load $URL "$BODY" "${AUTH[@]}"
  T1=$(date +%s%N)
  read R1 P1 S1 < <(cpu $S)
  echo "== $kind: $(( N * 1000000000 / (T1-T0) )) submits/s; CPU µs per submit: server $(( (S1-S0)*1000000/HZ/N )), redis-server $(( (R1-R0)*1000000/HZ/N )), postgres $(( (P1-P0)*1000000/HZ/N ))"
  echo "== $kind: per submit (calls, redis usec)"
  per_unit $N
  kill -INT $S; wait $S || true
  redis-cli flushall >/dev/null
done
cost_cleanup
