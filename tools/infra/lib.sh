# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this
# Shared helpers for tools/infra/*.sh (sourced, not run).
# Paths: ASC_DATA_DIR (default <repo>/.asc) holds service data, logs and pid files under infra/;
# ASC_CACHE_DIR (default ~/.cache/asc) holds downloads that outlive a data wipe.

ASC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ASC_DATA_DIR="${ASC_DATA_DIR:-$ASC_ROOT/.asc}"
ASC_CACHE_DIR="${ASC_CACHE_DIR:-${HOME:-/root}/.cache/asc}"
ASC_INFRA_DIR="$ASC_DATA_DIR/infra"

# Each script sets INFRA_NAME before using these.
info() { printf '[%s] %s\n' "${INFRA_NAME:-infra}" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "${INFRA_NAME:-infra}" "$*" >&2; }
# die MESSAGE [HOW TO FIX]: one clear line of what failed, one of what to do.
die() {
  printf '[%s] ERROR: %s\n' "${INFRA_NAME:-infra}" "$1" >&2
  if [ -n "${2:-}" ]; then printf '[%s] FIX: %s\n' "${INFRA_NAME:-infra}" "$2" >&2; fi
  exit 1
}

# Seconds since the epoch, with milliseconds, for phase timings.
now_s() { date +%s.%N | cut -c1-14; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1fs", b - a }'; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# Who listens on a port, for error messages ("unknown" without ss).
port_owner() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1
  fi
}

# pid_alive PIDFILE PATTERN: true when the pid in PIDFILE runs and its command line contains
# PATTERN (guards against a stale pid file whose number now belongs to another process).
pid_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid="$(cat "$1")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# pid_running PIDFILE: true while the process in PIDFILE exists and is not a zombie. Used right
# after a launch, when the child may still be between fork and exec (its command line is then
# still the caller's, so pid_alive's pattern check would wrongly call it dead).
pid_running() {
  local pid state
  [ -s "$1" ] || return 1
  pid="$(cat "$1")"
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -n "$state" ] && [ "$state" != Z ]
}

# stop_pid PIDFILE PATTERN TIMEOUT: TERM, wait, then KILL; removes the pid file.
stop_pid() {
  local pidfile="$1" pattern="$2" timeout="${3:-30}" pid i
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    return 1
  fi
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 5; i++)); do
    [ -d "/proc/$pid" ] || break
    sleep 0.2
  done
  if [ -d "/proc/$pid" ]; then
    warn "pid $pid did not stop within ${timeout}s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  return 0
}

# log_tail FILE [N]: the last lines of a log, indented, for error messages.
log_tail() {
  if [ -s "$1" ]; then
    printf '[%s] --- last %s lines of %s ---\n' "${INFRA_NAME:-infra}" "${2:-40}" "$1" >&2
    tail -n "${2:-40}" "$1" | sed 's/^/    /' >&2
    printf '[%s] --- end of log ---\n' "${INFRA_NAME:-infra}" >&2
  else
    printf '[%s] (%s is empty or missing)\n' "${INFRA_NAME:-infra}" "$1" >&2
  fi
}

apt_updated=0
# ensure_apt CMD PACKAGE...: installs the Debian packages when CMD is not on PATH.
ensure_apt() {
  local cmd="$1"
  shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 ||
    die "'$cmd' is missing and apt-get is not available to install it" "install $* by hand"
  [ "$(id -u)" = 0 ] ||
    die "'$cmd' is missing and installing it needs root" "run: sudo apt-get install -y $*"
  info "installing $* with apt-get (missing '$cmd')"
  local t0 log
  t0="$(now_s)"
  log="$(mktemp)"
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 || {
      cat "$log" >&2
      die "apt-get update failed" "check the network to the Debian mirror, then rerun"
    }
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >"$log" 2>&1 </dev/null || {
    tail -n 30 "$log" >&2
    die "apt-get install $* failed (output above)" "run 'apt-get update && apt-get install -y $*' by hand to see why"
  }
  rm -f "$log"
  command -v "$cmd" >/dev/null 2>&1 || die "installed $* but '$cmd' is still not on PATH" "check: dpkg -L $1"
  info "installed $* in $(elapsed "$t0")"
}

# take_lock NAME: serialises start/stop of one service across every checkout on the machine (the
# ports are machine-wide; two callers of up.sh at once would otherwise both format and start it).
# Held until the script exits; the servers started meanwhile must not inherit fd 9 (9>&-).
take_lock() {
  local lock="${TMPDIR:-/tmp}/asc-infra-$1.lock"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$lock"
  if ! flock -w 180 9; then
    die "another start/stop of $1 has held $lock for 180s" \
      "wait for it to finish, or find it with: fuser $lock"
  fi
}

# port_note PORT...: "; port P is held by another process (X)" for status lines when a port is taken by someone else.
port_note() {
  local p note=""
  for p in "$@"; do
    if port_open 127.0.0.1 "$p"; then note="$note; port $p is held by another process ($(port_owner "$p"))"; fi
  done
  printf '%s' "$note"
}
