#!/usr/bin/env bash
# Stops what tools/infra/up.sh started (Kafka, ClickHouse). PostgreSQL is the machine's shared
# service and stays up. Idempotent.
#
#   tools/infra/down.sh [kafka] [clickhouse] [postgres]   (default: all)
set -euo pipefail
INFRA_NAME=down
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here="$(dirname "${BASH_SOURCE[0]}")"

services=("$@")
[ "${#services[@]}" -gt 0 ] || services=(kafka clickhouse postgres)
rc=0
for s in "${services[@]}"; do
  case "$s" in
    postgres | kafka | clickhouse | redis) "$here/$s.sh" stop || rc=1 ;;
    *) die "unknown service '$s'" "use any of: postgres kafka clickhouse redis" ;;
  esac
done
exit "$rc"
