#!/usr/bin/env bash
# Makes the machine's PostgreSQL on 127.0.0.1:5432 ready for ASC: starts the cluster if it is
# down, then creates (when missing) the LOGIN role `asc` and the databases `asc` and `asc_test`
# owned by it. Idempotent. PostgreSQL belongs to the machine, so `stop` leaves it running.
#
#   tools/infra/postgres.sh [ensure]|start|status|stop
#
# Env: ASC_PG_ADMIN_USER (postgres), ASC_PG_START_TIMEOUT seconds (30).
set -euo pipefail
INFRA_NAME=postgres
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_HOST=127.0.0.1
PG_PORT=5432
PG_ADMIN="${ASC_PG_ADMIN_USER:-postgres}"
START_TIMEOUT="${ASC_PG_START_TIMEOUT:-30}"
ROLE=asc
DATABASES=(asc asc_test)
# ASC is an SQL keyword (ORDER BY x ASC): the names must be double-quoted in SQL.
q() { printf '"%s"' "$1"; }
QROLE="$(q "$ROLE")"

admin_psql() { psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_ADMIN" -d postgres "$@"; }
reachable() { admin_psql -Atc 'SELECT 1' >/dev/null 2>&1; }

# Only when no PostgreSQL is installed at all: Debian's package, with trust auth on loopback
# (the test URLs carry no password), matching the machines this project runs on.
install_postgres() {
  ensure_apt pg_ctlcluster postgresql postgresql-client
  local hba
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    [ -f "$hba" ] || continue
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
      info "allowing trust auth on 127.0.0.1 in $hba (new install, dev/CI only)"
      sed -i '/^# TYPE/a host all all 127.0.0.1/32 trust\nlocal all all trust' "$hba"
    fi
  done
}

start_cluster() {
  command -v pg_ctlcluster >/dev/null 2>&1 || install_postgres
  command -v psql >/dev/null 2>&1 || ensure_apt psql postgresql-client
  local versions=() v out
  for v in /etc/postgresql/*/main; do [ -d "$v" ] && versions+=("$(basename "$(dirname "$v")")"); done
  [ "${#versions[@]}" -gt 0 ] ||
    die "no PostgreSQL cluster under /etc/postgresql/*/main" \
      "create one: pg_createcluster 15 main --start (or apt-get install -y postgresql)"
  for v in "${versions[@]}"; do
    info "PostgreSQL not reachable on $PG_HOST:$PG_PORT; starting cluster $v/main"
    if ! out="$(pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>&1)"; then
      # "already running" is fine: then it listens elsewhere or is still starting.
      printf '%s\n' "$out" | grep -qi 'already running' || {
        printf '%s\n' "$out" >&2
        log_tail "/var/log/postgresql/postgresql-$v-main.log" 20
        die "pg_ctlcluster $v main start failed (output above)" \
          "check /var/log/postgresql/postgresql-$v-main.log; port $PG_PORT free? (ss -ltnp 'sport = :$PG_PORT')"
      }
    fi
  done
  local deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    reachable && return 0
    sleep 0.5
  done
  admin_psql -Atc 'SELECT 1' 2>&1 | sed 's/^/    /' >&2 || true
  die "PostgreSQL still not reachable as '$PG_ADMIN' on $PG_HOST:$PG_PORT after ${START_TIMEOUT}s" \
    "check 'pg_lsclusters' (port must be $PG_PORT) and that pg_hba.conf trusts host 127.0.0.1/32 for $PG_ADMIN; try: psql -h $PG_HOST -U $PG_ADMIN -c 'select 1'"
}

cmd_ensure() {
  local t0 db owner err
  t0="$(now_s)"
  command -v psql >/dev/null 2>&1 || start_cluster
  reachable || start_cluster
  err="$(mktemp)"
  # Role: create, or make sure an existing one can log in. CREATEDB lets tests make scratch databases.
  admin_psql >/dev/null 2>"$err" <<SQL || { cat "$err" >&2; die "could not create or update role '$ROLE'" "run by hand: psql -h $PG_HOST -U $PG_ADMIN -c 'CREATE ROLE \"$ROLE\" LOGIN CREATEDB'"; }
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $QROLE LOGIN CREATEDB;
  ELSIF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE' AND rolcanlogin AND rolcreatedb) THEN
    ALTER ROLE $QROLE LOGIN CREATEDB;
  END IF;
END
\$\$;
SQL
  for db in "${DATABASES[@]}"; do
    owner="$(admin_psql -Atc "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$db'" 2>"$err")" ||
      { cat "$err" >&2; die "could not query pg_database for '$db'" "check that '$PG_ADMIN' may connect to database postgres"; }
    if [ -z "$owner" ]; then
      admin_psql -c "CREATE DATABASE $(q "$db") OWNER $QROLE" 2>"$err" ||
        { cat "$err" >&2; die "could not create database '$db'" "run by hand: psql -h $PG_HOST -U $PG_ADMIN -c 'CREATE DATABASE \"$db\" OWNER \"$ROLE\"'"; }
      info "created database $db (owner $ROLE)"
    elif [ "$owner" != "$ROLE" ]; then
      admin_psql -c "ALTER DATABASE $(q "$db") OWNER TO $QROLE" 2>"$err" ||
        { cat "$err" >&2; die "could not give database '$db' to '$ROLE' (owner now '$owner')" "run: psql -h $PG_HOST -U $PG_ADMIN -c 'ALTER DATABASE \"$db\" OWNER TO \"$ROLE\"'"; }
      info "database $db: owner changed from $owner to $ROLE"
    fi
  done
  # The URL the tests use has no password: prove it works as they will use it.
  for db in "${DATABASES[@]}"; do
    psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$ROLE" -d "$db" -Atc 'SELECT 1' >/dev/null 2>"$err" </dev/null || {
      cat "$err" >&2
      die "role '$ROLE' cannot connect to '$db' on $PG_HOST:$PG_PORT without a password" \
        "add 'host all all 127.0.0.1/32 trust' to pg_hba.conf (dev/CI only) and reload: pg_ctlcluster --skip-systemctl-redirect <version> main reload"
    }
  done
  rm -f "$err"
  info "ready: $(admin_psql -Atc 'SHOW server_version' 2>/dev/null | cut -d' ' -f1) on $PG_HOST:$PG_PORT, role $ROLE, databases ${DATABASES[*]} (postgres://$ROLE@$PG_HOST:$PG_PORT/asc_test) in $(elapsed "$t0")"
}

cmd_status() {
  if command -v psql >/dev/null 2>&1 && reachable; then
    local have
    have="$(admin_psql -Atc "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database WHERE datname IN ('asc','asc_test')")"
    info "running on $PG_HOST:$PG_PORT; ASC databases present: ${have:-none} (run tools/infra/postgres.sh to create missing ones)"
    return 0
  fi
  info "not reachable on $PG_HOST:$PG_PORT"
  return 3
}

case "${1:-ensure}" in
  ensure | start) take_lock postgres && cmd_ensure ;;
  status) cmd_status ;;
  stop) info "left running (PostgreSQL is the machine's service, shared with others)" ;;
  *)
    echo "usage: $0 [ensure]|start|status|stop" >&2
    exit 2
    ;;
esac
