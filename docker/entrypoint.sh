#!/bin/sh
# Picks the process of the image: api, worker, migrate, or keys (API key management).
set -e
cd "${CONVEYOR_HOME:-/app}"
command="${1:-api}"
[ $# -gt 0 ] && shift
case "$command" in
  api) exec node --enable-source-maps apps/api/dist/main.js "$@" ;;
  worker) exec node --enable-source-maps apps/worker/dist/main.js "$@" ;;
  migrate) exec node --enable-source-maps apps/api/dist/cli/migrate.js "$@" ;;
  keys) exec node apps/api/dist/cli/keys.js "$@" ;;
  *)
    echo "usage: conveyor api | worker | migrate | keys <create|list|revoke|generate> …" >&2
    exit 2
    ;;
esac
