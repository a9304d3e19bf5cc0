#!/bin/sh
# The container's command: `asc <service>` runs one service; the other commands are the
# deployment tasks that Kubernetes runs as Jobs and init containers (deploy/kubernetes).
# exec keeps node in the foreground so SIGTERM from the kubelet (through tini) reaches it.
set -eu
APP_ROOT="${ASC_APP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
NODE="${ASC_NODE:-node}"
run() { exec "$NODE" --enable-source-maps -r "$APP_ROOT/tools/scripts/register-paths.js" "$@"; }

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  ingress|policy|routing|secrets|metering|audit)
    run "$APP_ROOT/dist/apps/$cmd/src/main.js" "$@" ;;
  migrate|topics|await-migrations|await-topics)
    run "$APP_ROOT/dist/tools/image/src/deploy-task.main.js" "$cmd" "$@" ;;
  *)
    echo "usage: asc <ingress|policy|routing|secrets|metering|audit>" >&2
    echo "       asc migrate | topics | await-migrations <policy|routing|secrets|audit> | await-topics" >&2
    [ -n "$cmd" ] && echo "asc: unknown command '$cmd'" >&2
    exit 64 ;;
esac
