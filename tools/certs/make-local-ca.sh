#!/usr/bin/env bash
# A local CA and per-service mTLS certificates (openssl), see tools/certs/src/main.ts.
#   tools/certs/make-local-ca.sh [dir=.asc/certs] [identity...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
command -v openssl >/dev/null || { echo "openssl is required (apt-get install -y openssl)" >&2; exit 1; }
[ -f "$ROOT/dist/tools/certs/src/main.js" ] || (cd "$ROOT" && npm run build >/dev/null)
exec node -r "$ROOT/tools/scripts/register-paths.js" "$ROOT/dist/tools/certs/src/main.js" "$@"
