#!/usr/bin/env bash
# Makes Redis answer on 127.0.0.1:6379 (ASC's shared rate-limit/budget counters and response
# cache): checks PING; when nothing answers, installs Debian's redis-server if it is missing and
# starts it the way these machines run it (daemonized, loopback only, no persistence). Redis is
# the machine's shared service, so `stop` leaves it running, like PostgreSQL.
#
#   tools/infra/redis.sh [ensure]|start|status|stop
#
# Env: ASC_REDIS_START_TIMEOUT seconds (15).
set -euo pipefail
INFRA_NAME=redis
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REDIS_HOST=127.0.0.1
REDIS_PORT=6379
START_TIMEOUT="${ASC_REDIS_START_TIMEOUT:-15}"

ping_ok() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ]
  else
    # No client yet: speak RESP over bash's /dev/tcp.
    timeout 2 bash -c "exec 3<>/dev/tcp/$REDIS_HOST/$REDIS_PORT && printf 'PING\r\n' >&3 && head -c 5 <&3" 2>/dev/null | grep -q '+PONG'
  fi
}

cmd_ensure() {
  local t0
  t0="$(now_s)"
  if ping_ok; then
    info "ready: $(redis_version) on $REDIS_HOST:$REDIS_PORT (redis://$REDIS_HOST:$REDIS_PORT) in $(elapsed "$t0")"
    return 0
  fi
  if port_open "$REDIS_HOST" "$REDIS_PORT"; then
    die "port $REDIS_PORT is taken by something that does not answer Redis PING ($(port_owner "$REDIS_PORT"))" \
      "free the port, or point ASC_TEST_REDIS_URL / ASC_REDIS_URL at a Redis elsewhere"
  fi
  ensure_apt redis-server redis-server
  command -v redis-cli >/dev/null 2>&1 || ensure_apt redis-cli redis-tools
  info "not answering on $REDIS_HOST:$REDIS_PORT; starting redis-server"
  # 9>&-: the daemon must not inherit the lock of take_lock.
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no 9>&- >/dev/null ||
    die "redis-server failed to start" "run it in the foreground to see why: redis-server --port $REDIS_PORT"
  local deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ping_ok; then
      info "ready: $(redis_version) on $REDIS_HOST:$REDIS_PORT in $(elapsed "$t0")"
      return 0
    fi
    sleep 0.2
  done
  die "redis-server started but $REDIS_HOST:$REDIS_PORT does not answer PING after ${START_TIMEOUT}s" \
    "check: redis-cli -h $REDIS_HOST -p $REDIS_PORT PING; is another instance bound elsewhere?"
}

redis_version() {
  if command -v redis-cli >/dev/null 2>&1; then
    printf 'Redis %s' "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" INFO server 2>/dev/null | sed -n 's/^redis_version:\(.*\)\r$/\1/p')"
  else
    printf 'Redis'
  fi
}

cmd_status() {
  if ping_ok; then
    info "running: $(redis_version) on $REDIS_HOST:$REDIS_PORT"
    return 0
  fi
  info "not answering PING on $REDIS_HOST:$REDIS_PORT$(port_note "$REDIS_PORT")"
  return 3
}

case "${1:-ensure}" in
  ensure | start) take_lock redis && cmd_ensure ;;
  status) cmd_status ;;
  stop) info "left running (Redis is the machine's service, shared with others)" ;;
  *)
    echo "usage: $0 [ensure]|start|status|stop" >&2
    exit 2
    ;;
esac
