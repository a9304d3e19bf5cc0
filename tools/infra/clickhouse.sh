#!/usr/bin/env bash
# ClickHouse server (Debian's clickhouse-server, 18.16 on bookworm) on 127.0.0.1: HTTP 8123,
# native 9000. Installs the package with apt when missing; runs it with our config from
# deploy/clickhouse/, not the system service.
#
#   tools/infra/clickhouse.sh start|stop|status|restart|reset
#   tools/infra/clickhouse.sh drill start|stop|status|reset   a second server on HTTP 28123, native 29000 (fault drills)
#
# Env: ASC_DATA_DIR (<repo>/.asc: config, data, logs and pid in infra/clickhouse),
#      ASC_CLICKHOUSE_START_TIMEOUT seconds (60).
set -euo pipefail
INFRA_NAME=clickhouse
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CH_HOST=127.0.0.1
CH_HTTP_PORT=8123
CH_TCP_PORT=9000
DATA="$ASC_INFRA_DIR/clickhouse"
PIDFILE="$DATA/clickhouse.pid"
OUT="$DATA/log/stdout.log"
ERR_LOG="$DATA/log/clickhouse-server.err.log"
CONF="$ASC_ROOT/deploy/clickhouse"
START_TIMEOUT="${ASC_CLICKHOUSE_START_TIMEOUT:-60}"
PATTERN="clickhouse-server --config-file=$DATA/etc/config.xml"
LOCK_NAME=clickhouse

# A second server for the fault drills (tools/drills/src/fault-drills.ts), with its own ports
# ($ASC_DRILL_CLICKHOUSE_HTTP_PORT, default 28123; native 29000) and data
# ($ASC_INFRA_DIR/clickhouse-drill): a drill stops it; the shared server on 8123 is never touched.
if [ "${1:-}" = drill ]; then
  shift
  INFRA_NAME=clickhouse-drill
  CH_HTTP_PORT="${ASC_DRILL_CLICKHOUSE_HTTP_PORT:-28123}"
  CH_TCP_PORT="${ASC_DRILL_CLICKHOUSE_TCP_PORT:-29000}"
  DATA="$ASC_INFRA_DIR/clickhouse-drill"
  PIDFILE="$DATA/clickhouse.pid"
  OUT="$DATA/log/stdout.log"
  ERR_LOG="$DATA/log/clickhouse-server.err.log"
  PATTERN="clickhouse-server --config-file=$DATA/etc/config.xml"
  LOCK_NAME=clickhouse-drill
fi
URL="http://$CH_HOST:$CH_HTTP_PORT"

ensure_installed() {
  command -v curl >/dev/null 2>&1 || ensure_apt curl curl
  if command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1; then
    return 0
  fi
  local pre_running=0
  pgrep -x clickhouse-serv >/dev/null 2>&1 && pre_running=1
  # Both binaries come from one apt call; ensure_apt only runs it when clickhouse-server is missing.
  ensure_apt clickhouse-server clickhouse-server clickhouse-client
  command -v clickhouse-client >/dev/null 2>&1 || ensure_apt clickhouse-client clickhouse-client
  # On a machine with a working init system the package starts its own service on the same
  # ports; stop that one so ours (with our paths) can bind.
  if [ "$pre_running" = 0 ] && pgrep -x clickhouse-serv >/dev/null 2>&1; then
    info "the package started the system clickhouse-server service; stopping it (we run our own)"
    service clickhouse-server stop >/dev/null 2>&1 || systemctl stop clickhouse-server >/dev/null 2>&1 || true
    if command -v systemctl >/dev/null 2>&1; then systemctl disable clickhouse-server >/dev/null 2>&1 || true; fi
  fi
}

render_config() {
  mkdir -p "$DATA/etc" "$DATA/data" "$DATA/tmp" "$DATA/log" "$DATA/user_files" "$DATA/format_schemas"
  sed -e "s|@DATA_DIR@|$DATA|g" -e "s|<http_port>8123</http_port>|<http_port>$CH_HTTP_PORT</http_port>|" \
    -e "s|<tcp_port>9000</tcp_port>|<tcp_port>$CH_TCP_PORT</tcp_port>|" "$CONF/config.xml" >"$DATA/etc/config.xml.tmp"
  mv "$DATA/etc/config.xml.tmp" "$DATA/etc/config.xml"
  cp "$CONF/users.xml" "$DATA/etc/users.xml"
}

is_running() { pid_alive "$PIDFILE" "$PATTERN"; }
ping_ok() { [ "$(curl -fsS --max-time 2 "$URL/ping" 2>/dev/null)" = "Ok." ]; }

show_logs() {
  log_tail "$OUT" 20
  log_tail "$ERR_LOG" 30
}

wait_ready() {
  local t0="$1" deadline=$((SECONDS + START_TIMEOUT)) version
  while ((SECONDS < deadline)); do
    if ! pid_running "$PIDFILE"; then
      show_logs
      rm -f "$PIDFILE"
      die "clickhouse-server exited during startup (logs: $DATA/log/)" \
        "read the log above; a config error names the file and tag; corrupt data: tools/infra/clickhouse.sh reset"
    fi
    if ping_ok; then
      version="$(curl -fsS --max-time 5 --data-binary 'SELECT version()' "$URL/" 2>/dev/null || true)"
      [ -n "$version" ] || { sleep 0.3; continue; }
      info "ready: ClickHouse $version on $URL (native :$CH_TCP_PORT), pid $(cat "$PIDFILE"), started in $(elapsed "$t0")"
      return 0
    fi
    sleep 0.3
  done
  show_logs
  die "ClickHouse did not answer $URL/ping within ${START_TIMEOUT}s (pid $(cat "$PIDFILE" 2>/dev/null), logs: $DATA/log/)" \
    "read the log above; raise ASC_CLICKHOUSE_START_TIMEOUT on a slow machine, or: tools/infra/clickhouse.sh stop && tools/infra/clickhouse.sh start"
}

cmd_start() {
  local t0 p
  t0="$(now_s)"
  if is_running; then
    if ping_ok; then
      info "already running (pid $(cat "$PIDFILE")) on $URL"
      return 0
    fi
    info "process $(cat "$PIDFILE") exists but does not answer yet; waiting for it"
    wait_ready "$t0"
    return 0
  fi
  for p in "$CH_HTTP_PORT" "$CH_TCP_PORT"; do
    if port_open "$CH_HOST" "$p"; then
      die "port $CH_HOST:$p is already taken by another process ($(port_owner "$p"); not ours: no live pid in $PIDFILE)" \
        "stop it (a system service? try: service clickhouse-server stop; else see ss -ltnp 'sport = :$p'), then rerun tools/infra/clickhouse.sh start"
    fi
  done
  ensure_installed
  render_config
  [ -f "$OUT" ] && mv -f "$OUT" "$OUT.1"
  info "starting clickhouse-server, data in $DATA"
  # Foreground mode under nohup+setsid (its own session): we keep the pid, no init system needed.
  # cd: any relative path or core file lands in the data dir, not the caller's directory.
  (cd "$DATA" && exec nohup setsid clickhouse-server --config-file="$DATA/etc/config.xml" >"$OUT" 2>&1 </dev/null 9>&-) &
  echo $! >"$PIDFILE"
  wait_ready "$t0"
}

cmd_stop() {
  if stop_pid "$PIDFILE" "$PATTERN" 30; then
    info "stopped"
  else
    info "not running"
  fi
}

cmd_status() {
  if is_running && ping_ok; then
    info "running: pid $(cat "$PIDFILE"), $URL (native :$CH_TCP_PORT), data $DATA, logs $DATA/log"
    return 0
  elif is_running; then
    info "starting: pid $(cat "$PIDFILE") is alive but $URL/ping does not answer yet (logs $DATA/log)"
    return 3
  fi
  info "stopped$(port_note "$CH_HTTP_PORT" "$CH_TCP_PORT")"
  return 3
}

cmd_reset() {
  cmd_stop
  info "removing data in $DATA"
  rm -rf "$DATA"
}

case "${1:-}" in
  start | stop | restart | reset) take_lock "$LOCK_NAME" ;;
esac
case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop && cmd_start ;;
  reset) cmd_reset ;;
  *)
    echo "usage: $0 [drill] start|stop|status|restart|reset" >&2
    exit 2
    ;;
esac
