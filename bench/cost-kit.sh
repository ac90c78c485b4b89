# Shared by bench/drain-cost.sh and bench/ingest-cost.sh (sourced, not run): a database of
# its own on the machine's Postgres, a prefix of its own on the machine's Redis, an admin key,
# the migrations, the built-in types registered, and the CPU and Redis counters both read.
# Usage: cost_setup <tag> <log level>; cpu <pid>; stats; cost_cleanup.

cost_setup() {
  export REDIS_URL=redis://127.0.0.1:6379
  DB=conveyor_$1_$$
  psql -h 127.0.0.1 -U postgres -qc "create database $DB"
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB QUEUE_PREFIX=$1-$$ LOG_LEVEL=$2 RATE_LIMIT_PER_SECOND=0
  KEY=$(node -e "const c=require('crypto');console.log('cvk_'+c.randomBytes(8).toString('hex')+'_'+c.randomBytes(32).toString('base64url'))")
  node apps/api/dist/cli/migrate.js >/dev/null
  # The API accepts the types its workers registered: start the stock worker once to register them.
  WORKER_PORT=3997 node apps/worker/dist/main.js > /dev/null 2>&1 &
  local reg=$!
  for _ in $(seq 1 100); do curl -sf -o /dev/null http://127.0.0.1:3997/health/ready && break; sleep 0.2; done
  kill -TERM $reg; wait $reg || true
  HZ=$(getconf CLK_TCK)
}

# CPU ticks so far: redis-server, all postgres processes, and pid $1. Postgres counts its
# exited backends too (the postmaster's reaped children, fields 16-17): without them a
# backend of another client ending during the run made the figure negative.
cpu() {
  local r; r=$(awk '{print $14+$15}' "/proc/$(pgrep -f "redis-server 127.0.0.1:6379" | head -1)/stat")
  local p=0; for q in $(pgrep -u postgres); do p=$((p + $(awk '{print $14+$15+$16+$17}' "/proc/$q/stat" 2>/dev/null || echo 0))); done
  local s; s=$(awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0)
  echo "$r $p $s"
}

# Redis commands since the last `config resetstat`: name, calls, usec.
stats() { redis-cli info commandstats | grep -E "^cmdstat_" | sed 's/cmdstat_//; s/:calls=\([0-9]*\),usec=\([0-9]*\).*/ \1 \2/' ; }

# Per-unit table of `stats`, for $1 units.
per_unit() { stats | awk -v n="$1" '$2 > 0 {c+=$2; u+=$3; printf "  %-14s %6.2f calls %7.1f us\n", $1, $2/n, $3/n} END {printf "  TOTAL          %6.2f calls %7.1f us\n", c/n, u/n}'; }

cost_cleanup() {
  redis-cli --scan --pattern "$QUEUE_PREFIX:*" | xargs -r -n 1000 redis-cli del >/dev/null
  psql -h 127.0.0.1 -U postgres -qc "drop database $DB with (force)"
}
