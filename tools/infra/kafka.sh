#!/usr/bin/env bash
# Apache Kafka (KRaft combined broker+controller, one node) on 127.0.0.1:9092 for dev and CI.
# The jars come from Maven Central through deploy/kafka/pom.xml; no tarball, no Docker.
#
#   tools/infra/kafka.sh start|stop|status|restart|reset
#   tools/infra/kafka.sh cluster start|stop|status|reset [NODE]   3-broker KRaft cluster on 19092-19094
#   tools/infra/kafka.sh cluster kill NODE                        SIGKILL one broker (scale-out drills)
#   tools/infra/kafka.sh drill start|stop|status|reset            a second one-node broker on 29092 (fault drills)
#
# Env: ASC_KAFKA_VERSION (3.9.1), ASC_CACHE_DIR (~/.cache/asc: jars in kafka-<version>/libs),
#      ASC_DATA_DIR (<repo>/.asc: data, log and pid in infra/kafka), KAFKA_HEAP_OPTS
#      (-Xms256m -Xmx512m), ASC_KAFKA_START_TIMEOUT seconds (120).
set -euo pipefail
INFRA_NAME=kafka
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="${ASC_KAFKA_VERSION:-3.9.1}"
KAFKA_HOST=127.0.0.1
KAFKA_PORT=9092
CONTROLLER_PORT=9093
LIBS="$ASC_CACHE_DIR/kafka-$KAFKA_VERSION/libs"
DATA="$ASC_INFRA_DIR/kafka"
PIDFILE="$DATA/kafka.pid"
LOG="$DATA/kafka.log"
PROPS="$DATA/server.properties"
CONF="$ASC_ROOT/deploy/kafka"
START_TIMEOUT="${ASC_KAFKA_START_TIMEOUT:-120}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
MAIN_CLASS=kafka.Kafka
# What tells our broker's java from any other in /proc/PID/cmdline.
PATTERN="$MAIN_CLASS"
LOCK_NAME=kafka

# A second one-node broker for the fault drills (tools/drills/src/fault-drills.ts), with its own
# ports ($ASC_DRILL_KAFKA_PORT, default 29092, controller +1) and data ($ASC_INFRA_DIR/kafka-drill):
# a drill stops and restarts it; the shared broker on 9092 is never touched.
if [ "${1:-}" = drill ]; then
  shift
  INFRA_NAME=kafka-drill
  KAFKA_PORT="${ASC_DRILL_KAFKA_PORT:-29092}"
  CONTROLLER_PORT=$((KAFKA_PORT + 1))
  DATA="$ASC_INFRA_DIR/kafka-drill"
  PIDFILE="$DATA/kafka.pid"
  LOG="$DATA/kafka.log"
  PROPS="$DATA/server.properties"
  PATTERN="$PROPS"
  HEAP_OPTS="${KAFKA_DRILL_HEAP_OPTS:--Xms128m -Xmx384m}"
  LOCK_NAME=kafka-drill
fi
TOOLS_LOG4J="-Dlog4j.configuration=file:$CONF/tools-log4j.properties"

ensure_java() {
  ensure_apt java openjdk-17-jre-headless
  local major
  major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  if [ -z "$major" ] || [ "$major" -lt 11 ]; then
    die "Kafka $KAFKA_VERSION needs Java 11 or newer; 'java' is version ${major:-unknown}" \
      "apt-get install -y openjdk-17-jre-headless and put it first on PATH (update-alternatives --config java)"
  fi
}

# Resolves the broker's jars once into the cache; later runs find the marker and skip Maven.
ensure_libs() {
  if [ -f "$LIBS/.complete" ]; then return 0; fi
  ensure_java
  ensure_apt mvn maven
  local t0 tmp mvnlog
  t0="$(now_s)"
  info "resolving Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  mkdir -p "$(dirname "$LIBS")"
  tmp="$LIBS.tmp.$$"
  mvnlog="$(dirname "$LIBS")/mvn.log"
  rm -rf "$tmp"
  if ! mvn -B -q -Dstyle.color=never -f "$CONF/pom.xml" \
    -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$tmp" \
    dependency:copy-dependencies >"$mvnlog" 2>&1 </dev/null; then
    rm -rf "$tmp"
    INFRA_NAME=kafka log_tail "$mvnlog" 30
    die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (full log: $mvnlog)" \
      "check that Maven Central is reachable (mvn dependency:get -Dartifact=org.apache.kafka:kafka_2.13:$KAFKA_VERSION) or set ASC_KAFKA_VERSION to one that resolves"
  fi
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] ||
    die "Maven finished but $tmp has no kafka_2.13-$KAFKA_VERSION.jar" "inspect $mvnlog"
  touch "$tmp/.complete"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  info "resolved $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $(elapsed "$t0")"
}

render_props() {
  mkdir -p "$DATA"
  sed -e "s|@DATA_DIR@|$DATA|g" -e "s|127.0.0.1:9092|$KAFKA_HOST:$KAFKA_PORT|g" -e "s|127.0.0.1:9093|$KAFKA_HOST:$CONTROLLER_PORT|g" \
    "$CONF/server.properties" >"$PROPS.tmp"
  mv "$PROPS.tmp" "$PROPS"
}


# Formats the KRaft storage once; the cluster id is kept in meta.properties.
ensure_formatted() {
  if [ -f "$DATA/metadata/meta.properties" ] && [ -f "$DATA/logs/meta.properties" ]; then return 0; fi
  local id out
  id="$(java -Xmx128m "$TOOLS_LOG4J" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
  [ -n "$id" ] || die "kafka.tools.StorageTool random-uuid printed no cluster id" \
    "run it by hand: java -cp '$LIBS/*' kafka.tools.StorageTool random-uuid"
  info "formatting KRaft storage in $DATA (cluster id $id)"
  if ! out="$(java -Xmx256m "$TOOLS_LOG4J" -cp "$LIBS/*" kafka.tools.StorageTool format \
    -t "$id" -c "$PROPS" --ignore-formatted 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "formatting Kafka storage failed (output above)" \
      "remove the data and start fresh: tools/infra/kafka.sh reset"
  fi
}

# The broker answers a metadata request: proof that it serves clients, not only that the port is open.
broker_answers() {
  timeout 45 java -Xmx128m "$TOOLS_LOG4J" -cp "$LIBS/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$KAFKA_HOST:${1:-$KAFKA_PORT}" --list >/dev/null 2>"$DATA/check.err"
}

is_running() { pid_alive "$PIDFILE" "$PATTERN"; }

wait_ready() {
  local t0="$1" deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! pid_running "$PIDFILE"; then
      log_tail "$LOG" 60
      rm -f "$PIDFILE"
      die "the Kafka process exited during startup (log: $LOG)" \
        "read the log above; if storage is corrupt or from another cluster run: tools/infra/kafka.sh reset"
    fi
    if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      if broker_answers; then
        info "ready on $KAFKA_HOST:$KAFKA_PORT (pid $(cat "$PIDFILE"), started in $(elapsed "$t0"))"
        return 0
      fi
    fi
    sleep 0.5
  done
  log_tail "$LOG" 60
  [ -s "$DATA/check.err" ] && { echo "[kafka] last readiness check said:" >&2; tail -n 5 "$DATA/check.err" | sed 's/^/    /' >&2; }
  die "Kafka did not answer on $KAFKA_HOST:$KAFKA_PORT within ${START_TIMEOUT}s (pid $(cat "$PIDFILE" 2>/dev/null), log: $LOG)" \
    "read the log above; raise ASC_KAFKA_START_TIMEOUT on a slow machine, or stop it and retry: tools/infra/kafka.sh stop && tools/infra/kafka.sh start"
}

cmd_start() {
  local t0
  t0="$(now_s)"
  if is_running; then
    if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      info "already running (pid $(cat "$PIDFILE")) on $KAFKA_HOST:$KAFKA_PORT"
      return 0
    fi
    info "process $(cat "$PIDFILE") exists but the port is not open yet; waiting for it"
    ensure_libs
    wait_ready "$t0"
    return 0
  fi
  local p
  for p in "$KAFKA_PORT" "$CONTROLLER_PORT"; do
    if port_open "$KAFKA_HOST" "$p"; then
      die "port $KAFKA_HOST:$p is already taken by another process ($(port_owner "$p"); not ours: no live pid in $PIDFILE)" \
        "stop that process (see: ss -ltnp 'sport = :$p'), then rerun tools/infra/kafka.sh start"
    fi
  done
  ensure_java
  ensure_libs
  render_props
  ensure_formatted
  [ -f "$LOG" ] && mv -f "$LOG" "$LOG.1"
  info "starting Kafka $KAFKA_VERSION (KRaft broker+controller), data in $DATA"
  # setsid: its own session, so a Ctrl-C in the calling terminal does not reach the broker.
  # shellcheck disable=SC2086
  nohup setsid java $HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$CONF/log4j.properties" -Dkafka.logs.dir="$DATA" \
    -cp "$LIBS/*" "$MAIN_CLASS" "$PROPS" >"$LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDFILE"
  wait_ready "$t0"
}

cmd_stop() {
  if stop_pid "$PIDFILE" "$PATTERN" 60; then
    info "stopped"
  else
    info "not running"
  fi
}

cmd_status() {
  if is_running && port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    info "running: Kafka $KAFKA_VERSION, pid $(cat "$PIDFILE"), $KAFKA_HOST:$KAFKA_PORT (controller :$CONTROLLER_PORT), data $DATA, log $LOG"
    return 0
  elif is_running; then
    info "starting: pid $(cat "$PIDFILE") is alive but $KAFKA_HOST:$KAFKA_PORT is not open yet (log $LOG)"
    return 3
  fi
  info "stopped$(port_note "$KAFKA_PORT" "$CONTROLLER_PORT")"
  return 3
}

cmd_reset() {
  cmd_stop
  info "removing data in $DATA"
  rm -rf "$DATA"
}


# --- cluster mode: three KRaft nodes (broker+controller) on 19092-19094 / 19192-19194 -------------
# Its own data dir ($ASC_INFRA_DIR/kafka-cluster/node-N) and ports: the shared broker on 9092 is
# never touched. Used by the scale-out drills (tools/drills/kafka-broker-loss.sh).
CLUSTER_DATA="$ASC_INFRA_DIR/kafka-cluster"
CLUSTER_NODES=(1 2 3)
CLUSTER_HEAP="${KAFKA_CLUSTER_HEAP_OPTS:--Xms128m -Xmx384m}"
node_port() { echo $((19091 + $1)); }
node_controller_port() { echo $((19191 + $1)); }
node_dir() { echo "$CLUSTER_DATA/node-$1"; }
node_pidfile() { echo "$(node_dir "$1")/kafka.pid"; }
# The main class plus this node's properties file: tells our node's java from any other.
node_pattern() { echo "$(node_dir "$1")/server.properties"; }
node_running() { pid_alive "$(node_pidfile "$1")" "$(node_pattern "$1")"; }

cluster_start_node() {
  local n="$1" dir port cport id t0
  t0="$(now_s)"
  dir="$(node_dir "$n")"; port="$(node_port "$n")"; cport="$(node_controller_port "$n")"
  if node_running "$n"; then info "node $n already running (pid $(cat "$(node_pidfile "$n")"))"; return 0; fi
  for p in "$port" "$cport"; do
    port_open "$KAFKA_HOST" "$p" && die "port $KAFKA_HOST:$p is taken by another process ($(port_owner "$p"))" \
      "stop it, or reset the cluster: tools/infra/kafka.sh cluster reset"
  done
  mkdir -p "$dir"
  sed -e "s|@DATA_DIR@|$dir|g" -e "s|@NODE_ID@|$n|g" -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" \
    "$CONF/cluster.properties" >"$dir/server.properties"
  if [ ! -f "$CLUSTER_DATA/cluster.id" ]; then
    java -Xmx128m "$TOOLS_LOG4J" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1 >"$CLUSTER_DATA/cluster.id"
  fi
  id="$(cat "$CLUSTER_DATA/cluster.id")"
  if [ ! -f "$dir/metadata/meta.properties" ]; then
    java -Xmx256m "$TOOLS_LOG4J" -cp "$LIBS/*" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" --ignore-formatted >/dev/null 2>&1 ||
      die "formatting node $n failed" "tools/infra/kafka.sh cluster reset"
  fi
  [ -f "$dir/kafka.log" ] && mv -f "$dir/kafka.log" "$dir/kafka.log.1"
  # shellcheck disable=SC2086
  nohup setsid java $CLUSTER_HEAP -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$CONF/log4j.properties" -Dkafka.logs.dir="$dir" \
    -cp "$LIBS/*" "$MAIN_CLASS" "$dir/server.properties" >"$dir/kafka.log" 2>&1 </dev/null 9>&- &
  echo $! >"$(node_pidfile "$n")"
  info "node $n starting on $KAFKA_HOST:$port (pid $!, $(elapsed "$t0"))"
}

cluster_wait() {
  local deadline=$((SECONDS + START_TIMEOUT)) n
  for n in "$@"; do
    until port_open "$KAFKA_HOST" "$(node_port "$n")" && DATA="$(node_dir "$n")" broker_answers "$(node_port "$n")"; do
      pid_running "$(node_pidfile "$n")" || { log_tail "$(node_dir "$n")/kafka.log" 40; die "node $n exited during startup" "tools/infra/kafka.sh cluster reset"; }
      ((SECONDS < deadline)) || die "node $n did not answer within ${START_TIMEOUT}s (log $(node_dir "$n")/kafka.log)" "raise ASC_KAFKA_START_TIMEOUT"
      sleep 0.5
    done
    info "node $n ready on $KAFKA_HOST:$(node_port "$n")"
  done
}

cmd_cluster() {
  local sub="${1:-}" nodes
  shift || true
  if [ $# -gt 0 ]; then nodes=("$@"); else nodes=("${CLUSTER_NODES[@]}"); fi
  for n in "${nodes[@]}"; do case "$n" in 1 | 2 | 3) ;; *) die "cluster nodes are 1, 2 and 3 (got '$n')" ;; esac; done
  case "$sub" in
    start)
      ensure_java
      ensure_libs
      mkdir -p "$CLUSTER_DATA"
      for n in "${nodes[@]}"; do cluster_start_node "$n"; done
      cluster_wait "${nodes[@]}"
      ;;
    stop) for n in "${nodes[@]}"; do stop_pid "$(node_pidfile "$n")" "$(node_pattern "$n")" 60 && info "node $n stopped" || info "node $n not running"; done ;;
    kill)
      [ $# -eq 1 ] || die "cluster kill takes one node (1, 2 or 3)"
      node_running "$1" || die "node $1 is not running"
      kill -KILL "$(cat "$(node_pidfile "$1")")"
      info "node $1 killed (SIGKILL)"
      ;;
    status)
      local rc=0
      for n in "${nodes[@]}"; do
        if node_running "$n" && port_open "$KAFKA_HOST" "$(node_port "$n")"; then info "node $n running on $KAFKA_HOST:$(node_port "$n")"; else info "node $n stopped"; rc=3; fi
      done
      return "$rc"
      ;;
    reset)
      for n in "${CLUSTER_NODES[@]}"; do stop_pid "$(node_pidfile "$n")" "$(node_pattern "$n")" 60 || true; done
      rm -rf "$CLUSTER_DATA"
      info "cluster data removed"
      ;;
    *) echo "usage: $0 cluster start|stop|status|reset [NODE...] | cluster kill NODE" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  start | stop | restart | reset) take_lock "$LOCK_NAME" ;;
  cluster) shift; cmd_cluster "$@"; exit $? ;;
esac
case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop && cmd_start ;;
  reset) cmd_reset ;;
  *)
    echo "usage: $0 [drill] start|stop|status|restart|reset | cluster ..." >&2
    exit 2
    ;;
esac
