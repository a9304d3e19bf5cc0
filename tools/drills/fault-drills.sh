#!/usr/bin/env bash
# The fault drills of issue 12 in their documented (long) variants, one after the other, each in
# a fresh production-mode ASC against the drill broker (127.0.0.1:29092) and ClickHouse
# (127.0.0.1:28123), which are started here when not running and stopped at the end. Prints one
# docs/reliability.md table row per drill; exits 1 if any drill lost or duplicated anything.
#
#   tools/drills/fault-drills.sh [drill...]     (after npm run build; default: all five)
#
# Env: DRILL_RATE requests/s (100); ASC_TEST_POSTGRES_URL (the Postgres for the throwaway database).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[ -f dist/tools/drills/src/fault-drills.js ] || { echo "run npm run build first" >&2; exit 1; }
rate="${DRILL_RATE:-100}"
drills=("$@")
[ ${#drills[@]} -gt 0 ] || drills=(consumers-kill broker-down clickhouse-down ingress-kill poison)
args_for() {
  case "$1" in
    consumers-kill) echo "--duration 60 --kills 10" ;;
    broker-down) echo "--duration 90 --outage 60" ;;
    clickhouse-down) echo "--duration 330 --outage 300" ;;
    ingress-kill) echo "--duration 60 --outage 30" ;;
    poison) echo "--duration 60" ;;
    *) echo "unknown drill '$1' (consumers-kill, broker-down, clickhouse-down, ingress-kill, poison)" >&2; exit 2 ;;
  esac
}
started=()
for s in kafka clickhouse; do
  if ! tools/infra/"$s".sh drill status >/dev/null 2>&1; then tools/infra/"$s".sh drill start; started+=("$s"); fi
done
stop() { for s in "${started[@]}"; do tools/infra/"$s".sh drill stop || true; done; }
trap stop EXIT
rc=0
for d in "${drills[@]}"; do
  # shellcheck disable=SC2046
  node -r ./tools/scripts/register-paths.js dist/tools/drills/src/fault-drills.js --drill "$d" --rate "$rate" $(args_for "$d") || rc=1
done
exit "$rc"
