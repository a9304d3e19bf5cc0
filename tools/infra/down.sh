#!/usr/bin/env bash
# Stops what tools/infra/up.sh started (Kafka, ClickHouse; and their fault-drill instances, see
# kafka.sh drill / clickhouse.sh drill, when one was left running). PostgreSQL is the machine's shared
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
    postgres | redis) "$here/$s.sh" stop || rc=1 ;;
    # With the fault drills' second instance of this checkout, if a drill left it running.
    kafka | clickhouse)
      "$here/$s.sh" stop || rc=1
      "$here/$s.sh" drill status >/dev/null 2>&1 && { "$here/$s.sh" drill stop || rc=1; }
      ;;
    *) die "unknown service '$s'" "use any of: postgres kafka clickhouse redis" ;;
  esac
done
exit "$rc"
