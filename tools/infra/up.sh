#!/usr/bin/env bash
# Starts the infrastructure ASC's integration tests use: PostgreSQL (127.0.0.1:5432, role and
# databases asc/asc_test), Kafka (127.0.0.1:9092), ClickHouse (http://127.0.0.1:8123) and Redis
# (127.0.0.1:6379).
# Idempotent: what already runs is left as it is. Stops at the first service that fails.
#
#   tools/infra/up.sh [postgres] [kafka] [clickhouse] [redis]     (default: all four)
set -euo pipefail
INFRA_NAME=up
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here="$(dirname "${BASH_SOURCE[0]}")"

services=("$@")
[ "${#services[@]}" -gt 0 ] || services=(postgres kafka clickhouse redis)
t_all="$(now_s)"
for s in "${services[@]}"; do
  case "$s" in
    postgres | kafka | clickhouse | redis) ;;
    *) die "unknown service '$s'" "use any of: postgres kafka clickhouse redis" ;;
  esac
  t0="$(now_s)"
  if [ "$s" = postgres ] || [ "$s" = redis ]; then
    "$here/$s.sh" ensure || die "$s failed to come up (see above)" "fix it, then rerun tools/infra/up.sh"
  else
    "$here/$s.sh" start || die "$s failed to start (see above)" "fix it, then rerun tools/infra/up.sh"
  fi
  info "$s up in $(elapsed "$t0")"
done
info "all up (${services[*]}) in $(elapsed "$t_all")"
