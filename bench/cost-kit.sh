# Shared by bench/drain-cost.sh and bench/ingest-cost.sh (sourced, not run): a database of
# its own on the machine's Postgres, a redis-server of its own (so nothing else using the
# machine's Redis counts in its commands or its CPU), an admin key, the migrations, the
# built-in types registered, and the CPU and Redis counters both read.
# Usage: cost_setup <tag> <log level>; cpu <pid>; stats; cost_cleanup.

# Every redis-cli of the scripts talks to the run's own server.
redis-cli() { command redis-cli -p "$REDIS_PORT" "$@"; }

cost_setup() {
  REDIS_PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --maxmemory-policy noeviction \
    --daemonize yes --pidfile "/tmp/conveyor-cost-$$.pid" --logfile "/tmp/conveyor-cost-$$.log"
  # Stopped however the script ends (cost_cleanup stops it on success).
  trap 'redis-cli shutdown nosave >/dev/null 2>&1 || true' EXIT
  for _ in $(seq 1 50); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
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
  local r; r=$(awk '{print $14+$15}' "/proc/$(cat "/tmp/conveyor-cost-$$.pid")/stat")
  local p=0; for q in $(pgrep -u postgres); do p=$((p + $(awk '{print $14+$15+$16+$17}' "/proc/$q/stat" 2>/dev/null || echo 0))); done
  local s; s=$(awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0)
  echo "$r $p $s"
}

# Redis commands since the last `config resetstat`: name, calls, usec.
stats() { redis-cli info commandstats | grep -E "^cmdstat_" | sed 's/cmdstat_//; s/:calls=\([0-9]*\),usec=\([0-9]*\).*/ \1 \2/' ; }

# Per-unit table of `stats`, for $1 units.
per_unit() { stats | awk -v n="$1" '$2 > 0 {c+=$2; u+=$3; printf "  %-14s %6.2f calls %7.1f us\n", $1, $2/n, $3/n} END {printf "  TOTAL          %6.2f calls %7.1f us\n", c/n, u/n}'; }

cost_cleanup() {
  redis-cli shutdown nosave >/dev/null 2>&1 || true
  rm -f "/tmp/conveyor-cost-$$.log"
  psql -h 127.0.0.1 -U postgres -qc "drop database $DB with (force)"
}
