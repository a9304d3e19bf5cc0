#!/usr/bin/env bash
# Scale-out drill: a 3-broker KRaft Kafka on loopback (19092-19094, its own data; the shared
# broker on 9092 is not touched) loses the leader of a partition under load and gets it back.
# Prints the measured stall and recovery times (docs/reliability.md, "Scale-out").
#
#   tools/drills/kafka-broker-loss.sh        (after npm run build)
#
# Env: ASC_KEEP_CLUSTER=1 leaves the cluster running (stop: tools/infra/kafka.sh cluster stop).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[ -f dist/apps/e2e/src/kafka-broker-loss.int-spec.js ] || { echo "run npm run build first" >&2; exit 1; }
started=0
if ! tools/infra/kafka.sh cluster status >/dev/null 2>&1; then
  started=1
  tools/infra/kafka.sh cluster start
fi
stop() { [ "$started" = 1 ] && [ "${ASC_KEEP_CLUSTER:-0}" != 1 ] && tools/infra/kafka.sh cluster stop || true; }
trap stop EXIT
node tools/scripts/run-tests.mjs --tier int kafka-broker-loss
