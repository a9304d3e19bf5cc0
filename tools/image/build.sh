#!/usr/bin/env bash
# Builds the contents of the ASC container image into OUT_DIR. The Dockerfile runs this
# script, and CI runs it in a clean directory and checks what it produced (see
# tools/image/src/image.int-spec.ts), so the image's contents are tested without an engine.
#
#   tools/image/build.sh OUT_DIR
#
# Steps: install every dependency and compile (skipped with ASC_IMAGE_PREBUILT=1 when dist/
# was just built from this same tree), then assemble OUT_DIR with production dependencies
# only (npm ci --omit=dev from the lock), the compiled apps and libraries without tests, the
# .proto files the gRPC servers load at run time, and the `asc` command.
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:?usage: tools/image/build.sh OUT_DIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
[ "$OUT" != "$SRC" ] || { echo "build.sh: OUT_DIR must not be the source tree" >&2; exit 2; }
log() { printf '[image] %s\n' "$*"; }

cd "$SRC"
if [ "${ASC_IMAGE_PREBUILT:-0}" != 1 ]; then
  log "npm ci (all dependencies, to compile)"
  npm ci --no-audit --no-fund
  log "npm run build"
  npm run build
fi
for app in ingress policy routing secrets metering audit; do
  [ -f "dist/apps/$app/src/main.js" ] || { echo "build.sh: dist/apps/$app/src/main.js is missing: run npm run build" >&2; exit 1; }
done

log "assembling $OUT"
find "$OUT" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
cp package.json package-lock.json tsconfig.base.json "$OUT/"
mkdir -p "$OUT/tools/scripts" "$OUT/bin" "$OUT/dist/tools"
cp tools/scripts/register-paths.js "$OUT/tools/scripts/"
cp -R proto "$OUT/proto"
# Compiled code without tests: apps, libraries and the deployment tasks (tools/image).
tar -C dist --exclude='*.spec.js' --exclude='*.spec.js.map' --exclude='*.int-spec.js' --exclude='*.int-spec.js.map' \
  --exclude='*.e2e-spec.js' --exclude='*.e2e-spec.js.map' --exclude='.tsbuildinfo' \
  -cf - apps libs tools/image | tar -C "$OUT/dist" -xf -
rm -rf "$OUT/dist/apps/e2e"
install -m 0755 tools/image/asc.sh "$OUT/bin/asc"

log "npm ci --omit=dev (production dependencies only)"
(cd "$OUT" && npm ci --omit=dev --no-audit --no-fund --prefer-offline >/dev/null)
rm -f "$OUT/package-lock.json"
log "done: $(du -sh "$OUT" | cut -f1)"
