#!/usr/bin/env bash
# Where a drain's CPU goes: Redis commands per job (INFO commandstats) and CPU ms per 1,000
# jobs of redis-server, Postgres and the worker (/proc), raw BullMQ worker vs Conveyor worker,
# both at concurrency 64. Needs redis-server (the run starts its own), the machine's Postgres (trust auth),
# redis-cli and psql, and a build (npm run build). It counts everything those servers do, so
# run it on an otherwise quiet machine. Usage: bench/drain-cost.sh [jobs]
# WORKER_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the Conveyor worker (bench/profile-top.mjs reads it),
# BASELINE_NODE_FLAGS the raw one; "--import ./bench/alloc-profile.mjs" samples what either allocates.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
# shellcheck source=bench/cost-kit.sh
. bench/cost-kit.sh
cost_setup cs warn
BOOTSTRAP_ADMIN_KEY=$KEY PORT=3996 HOST=127.0.0.1 node apps/api/dist/main.js > /dev/null 2>&1 &
API=$!
for i in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:3996/health/live && break; sleep 0.2; done
BODY=$(node -e "console.log(JSON.stringify({jobs:Array.from({length:1000},()=>({type:'noop'}))}))")
fill() { for i in $(seq 1 $((N/1000))); do curl -sf -o /dev/null -H "authorization: Bearer $KEY" -H 'content-type: application/json' -d "$BODY" http://127.0.0.1:3996/v1/jobs/batch; done; }
for kind in base conveyor; do
  fill
  redis-cli config resetstat >/dev/null
  if [ $kind = base ]; then CONCURRENCY=${CONCURRENCY:-64} node ${BASELINE_NODE_FLAGS:-} --import tsx bench/baselines/worker.ts >/dev/null 2>&1 & W=$!
  else WORKER_PORT=0 WORKER_CONCURRENCY=${CONCURRENCY:-64} node ${WORKER_NODE_FLAGS:-} apps/worker/dist/main.js >/dev/null 2>&1 & W=$!; fi
  read R0 P0 W0 < <(cpu $W)
  T0=$(date +%s%N)
  if [ $kind = base ]; then while [ "$(redis-cli llen $QUEUE_PREFIX:default:wait)" != "0" ] || [ "$(redis-cli llen $QUEUE_PREFIX:default:active)" != "0" ]; do sleep 0.2; done
  else while [ "$(psql -h 127.0.0.1 -U postgres -d $DB -Atc 'select count(*) from jobs')" -lt "$N" ]; do sleep 0.2; done; fi
  read R1 P1 W1 < <(cpu $W)
  T1=$(date +%s%N)
  kill -TERM $W; wait $W || true
  echo "== $kind: CPU ms per 1000 jobs: redis-server $(( (R1-R0)*1000*1000/HZ/N )), postgres $(( (P1-P0)*1000*1000/HZ/N )), worker $(( (W1-W0)*1000*1000/HZ/N ))"
  echo "== $kind: $(( N * 1000000000 / (T1-T0) )) jobs/s (from the worker's start; 0.2 s polls)"
  echo "== $kind: per job (calls, redis usec)"
  per_unit $N
  psql -h 127.0.0.1 -U postgres -d $DB -qc "truncate jobs"
done
kill -INT $API; wait $API || true
cost_cleanup
