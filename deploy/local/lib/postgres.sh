# shellcheck shell=bash
# A private PostgreSQL cluster from Debian's packages. Sourced after common.sh.

PG_DIR="$STACK_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"
PG_LOG="$LOG_DIR/postgres.log"
PG_OS_USER="postgres"

_pg_bin_has() { [[ -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/psql" ]]; }

# Newest /usr/lib/postgresql/*/bin with initdb+pg_ctl, else PATH; or the
# version an existing data dir was created with.
_pg_find_bin() {
  local want="" d
  [[ -r "$PG_DATA/PG_VERSION" ]] && want="$(cat "$PG_DATA/PG_VERSION")"
  if [[ -n "$want" ]]; then
    d="/usr/lib/postgresql/$want/bin"
    if _pg_bin_has "$d"; then printf '%s\n' "$d"; return 0; fi
  fi
  for d in $(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V -r); do
    if _pg_bin_has "$d"; then printf '%s\n' "$d"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    d="$(dirname "$(command -v pg_ctl)")"
    _pg_bin_has "$d" && { printf '%s\n' "$d"; return 0; }
  fi
  return 1
}

_pg_install() {
  if ! is_root; then
    die "PostgreSQL (initdb/pg_ctl) not found: install it with 'sudo apt-get install -y postgresql'"
  fi
  command -v apt-get >/dev/null 2>&1 \
    || die "PostgreSQL (initdb/pg_ctl) not found and apt-get is unavailable: install PostgreSQL 15+ server binaries"
  local apt_log="$LOG_DIR/apt-postgresql.log"
  log "PostgreSQL not installed: apt-get install -y postgresql (log: $(rel "$apt_log"))"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; } </dev/null >"$apt_log" 2>&1; then
    die "apt-get install postgresql failed: check access to Debian's package mirror; see $(rel "$apt_log")"
  fi
}

# Sets PG_BIN, installing PostgreSQL if needed (install=1).
pg_require_bin() {
  local install="${1:-1}"
  if PG_BIN="$(_pg_find_bin)"; then return 0; fi
  (( install )) || return 1
  _pg_install
  PG_BIN="$(_pg_find_bin)" || die "PostgreSQL installed but initdb/pg_ctl still not found under /usr/lib/postgresql/*/bin"
}

# The data dir only works with the major version that created it.
_pg_check_version() {
  local want have
  [[ -r "$PG_DATA/PG_VERSION" ]] || return 0
  want="$(cat "$PG_DATA/PG_VERSION")"
  have="$("$PG_BIN/pg_ctl" --version 2>/dev/null | sed -nE 's/^[^0-9]*([0-9]+).*/\1/p')"
  [[ -z "$have" || "$have" == "$want" ]] \
    || die "$(rel "$PG_DATA") was created by PostgreSQL $want but $PG_BIN is version $have: install postgresql-$want or run 'stack.sh destroy'"
}

# Run a command as the cluster owner: 'postgres' when we are root (Postgres
# refuses to run as root), otherwise as ourselves. Never leaks our lock fds.
pg_as_owner() {
  if is_root; then
    runuser -u "$PG_OS_USER" -- "$@" 8>&- 9>&-
  else
    "$@" 8>&- 9>&-
  fi
}

pg_pid() {
  local pid
  [[ -r "$PG_DATA/postmaster.pid" ]] || return 1
  pid="$(pid_alive "$PG_DATA/postmaster.pid" "$PG_DATA")" || return 1
  printf '%s\n' "$pid"
}

pg_running_port() { sed -n '4p' "$PG_DATA/postmaster.pid" 2>/dev/null; }

_pg_prepare_dirs() {
  mkdir -p "$PG_DIR" "$PG_RUN"
  touch "$PG_LOG"
  if is_root; then
    id -u "$PG_OS_USER" >/dev/null 2>&1 \
      || die "running as root but OS user '$PG_OS_USER' does not exist: apt-get install -y postgresql (creates it), or run stack.sh as a normal user"
    chown "$PG_OS_USER:" "$PG_DIR" "$PG_RUN" "$PG_LOG"
    if [[ -d "$PG_DATA" && "$(stat -c %U "$PG_DATA")" != "$PG_OS_USER" ]]; then
      chown -R "$PG_OS_USER:" "$PG_DATA"
    fi
    chmod 700 "$PG_DIR"
    runuser -u "$PG_OS_USER" -- test -w "$PG_DIR" 2>/dev/null \
      || die "OS user '$PG_OS_USER' cannot reach $PG_DIR (a parent directory is not world-executable): chmod o+x the parents or set SIGNALOPS_STACK_DIR elsewhere (e.g. /var/tmp/signalops)"
  fi
  # Unix socket paths are limited to 107 bytes.
  local sock="$PG_RUN/.s.PGSQL.$PG_PORT"
  (( ${#sock} <= 100 )) \
    || die "socket path $sock is too long for PostgreSQL (${#sock} > 100 chars): set SIGNALOPS_STACK_DIR to a shorter path"
}

_pg_initdb_once() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
  local pwfile="$PG_DIR/.initdb-pw" out
  log "creating PostgreSQL cluster in $(rel "$PG_DATA")"
  rm -rf "$PG_DATA"
  (umask 077; printf '%s\n' "$PG_SUPERUSER_PASSWORD" >"$pwfile")
  is_root && chown "$PG_OS_USER:" "$pwfile"
  if ! out="$(pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres \
        --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C --pwfile="$pwfile" 2>&1 </dev/null)"; then
    rm -f "$pwfile"
    printf '%s\n' "$out" >"$LOG_DIR/initdb.log"
    die "initdb failed: $(grep -m1 -iE 'error|fatal|could not' <<<"$out" || echo 'see log'); full output in $(rel "$LOG_DIR/initdb.log")"
  fi
  rm -f "$pwfile"
  printf "\ninclude_if_exists = 'signalops.conf'\n" >>"$PG_DATA/postgresql.conf"
}

# Writes signalops.conf; PG_CONF_CHANGED=1 when its content changed.
_pg_write_conf() {
  local conf="$PG_DATA/signalops.conf"
  cat >"$conf.tmp" <<EOF
# generated by deploy/local/stack.sh on every up; edits are overwritten
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 200
shared_buffers = 256MB
# crash-safety is under test: keep durability on
fsync = on
synchronous_commit = on
full_page_writes = on
# after a crash (a killed machine), one syncfs per file system instead of an
# fsync per file: minutes less before the server accepts connections
recovery_init_sync_method = syncfs
password_encryption = 'scram-sha-256'
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
# TLS next to plain connections on the same port (each client chooses with
# sslmode); the certificate names localhost and 127.0.0.1
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
EOF
  PG_CONF_CHANGED=0
  if cmp -s "$conf.tmp" "$conf"; then
    rm -f "$conf.tmp"
  else
    mv -f "$conf.tmp" "$conf"
    PG_CONF_CHANGED=1
  fi
  is_root && chown "$PG_OS_USER:" "$conf"
  return 0
}

# The server's TLS certificate and key: the test ones from
# crates/platform/tests/fixtures/tls (signed by its ca.pem), copied into the
# data dir, where Postgres wants the key readable by the cluster owner only.
# Sets PG_CONF_CHANGED=1 when a file was new or different.
_pg_install_tls() {
  local src="$SO_REPO_DIR/crates/platform/tests/fixtures/tls" pair from to
  for pair in server.pem:server.crt server.key:server.key; do
    from="$src/${pair%%:*}" to="$PG_DATA/${pair##*:}"
    [[ -r "$from" ]] || die "the TLS test certificate $(rel "$from") is missing"
    if ! cmp -s "$from" "$to"; then
      (umask 077; cp -f "$from" "$to.tmp")
      is_root && chown "$PG_OS_USER:" "$to.tmp"
      mv -f "$to.tmp" "$to"
      PG_CONF_CHANGED=1
    fi
    chmod 600 "$to"
    is_root && chown "$PG_OS_USER:" "$to"
  done
  return 0
}

# A running cluster takes the settings that need no restart (TLS included)
# on reload; connections already open are left alone.
_pg_reload_if_changed() {
  (( PG_CONF_CHANGED )) || return 0
  log "PostgreSQL settings changed: reloading"
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" reload </dev/null >/dev/null 2>&1 \
    || die "pg_ctl reload failed for $(rel "$PG_DATA"): see $(rel "$PG_LOG")"
}

# Checks that a new TCP connection gets TLS, giving a reload a moment to
# apply. `SHOW ssl` is no proof: it says on even when a reload could not
# load the certificate. Needs the superuser's password (after pg_setup_roles).
pg_check_tls() {
  local attempt
  for attempt in $(seq 1 50); do
    [[ "$(PGPASSWORD="$PG_SUPERUSER_PASSWORD" "$PG_BIN/psql" -X -At \
          "host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres sslmode=require connect_timeout=5" \
          -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' 2>/dev/null </dev/null 8>&- 9>&-)" == t ]] && return 0
    sleep 0.1
  done
  die "PostgreSQL does not accept TLS connections (was the certificate or key refused?): see $(rel "$PG_LOG")"
}

pg_start() {
  local pid port
  if pid="$(pg_pid)"; then
    port="$(pg_running_port)"
    if [[ -n "$port" && "$port" != "$PG_PORT" ]]; then
      die "PostgreSQL of $(rel "$STACK_DIR") is already running (pid $pid) on port $port, not $PG_PORT: run 'stack.sh down' first to change SIGNALOPS_PG_PORT"
    fi
    _pg_write_conf
    _pg_install_tls
    _pg_reload_if_changed
    log "PostgreSQL already running (pid $pid)"
    return 0
  fi
  require_free_port "$PG_PORT" SIGNALOPS_PG_PORT "PostgreSQL"
  _pg_check_version
  _pg_prepare_dirs
  _pg_initdb_once
  _pg_write_conf
  _pg_install_tls
  local log_start
  log_start="$(stat -c %s "$PG_LOG" 2>/dev/null || echo 0)"
  log "starting PostgreSQL $(basename "$(dirname "$PG_BIN")") on 127.0.0.1:$PG_PORT"
  # crash recovery of a large data dir can take minutes before it accepts
  # connections; a start that fails outright returns at once regardless
  if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 300 start </dev/null >/dev/null 2>&1; then
    local why
    why="$(tail -c +"$((log_start + 1))" "$PG_LOG" 2>/dev/null \
           | grep -E 'FATAL|PANIC|ERROR' | tail -n1 | cut -c1-200 || true)"
    die "PostgreSQL did not start${why:+ ($why)}; see $(rel "$PG_LOG")"
  fi
}

# psql as the superuser over the private unix socket (local = trust).
pg_psql_super() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -U postgres "$@" 8>&- 9>&-
}

pg_setup_roles() {
  local p
  for p in "$PG_SUPERUSER_PASSWORD" "$PG_OWNER_PASSWORD" "$PG_APP_PASSWORD"; do
    [[ "$p" =~ ^[A-Za-z0-9]+$ ]] || die "$(rel "$SECRETS_FILE") holds a password outside [A-Za-z0-9]: delete that line and run up again"
  done
  local out
  if ! out="$(pg_psql_super -d postgres 2>&1 <<EOF
SELECT 'CREATE ROLE signalops_owner' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signalops_owner') \gexec
SELECT 'CREATE ROLE signalops_app' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signalops_app') \gexec
ALTER ROLE postgres PASSWORD '$PG_SUPERUSER_PASSWORD';
ALTER ROLE signalops_owner LOGIN PASSWORD '$PG_OWNER_PASSWORD' CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE signalops_app LOGIN PASSWORD '$PG_APP_PASSWORD' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
SELECT 'CREATE DATABASE signalops OWNER signalops_owner ENCODING ''UTF8''' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'signalops') \gexec
ALTER DATABASE signalops OWNER TO signalops_owner;
EOF
)"; then
    printf '%s\n' "$out" >"$LOG_DIR/postgres-setup.log"
    die "creating the signalops database/roles failed: $(grep -m1 -E 'ERROR|FATAL|error' <<<"$out" | cut -c1-200); see $(rel "$LOG_DIR/postgres-setup.log")"
  fi
}

pg_stop() {
  local pid
  if ! pid="$(pg_pid)"; then
    log "PostgreSQL not running"
    return 0
  fi
  if ! pg_require_bin 0; then
    die "PostgreSQL (pid $pid) is running but pg_ctl is not installed: install postgresql to stop it cleanly"
  fi
  log "stopping PostgreSQL (pid $pid)"
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop </dev/null >/dev/null 2>&1 \
    || die "pg_ctl stop failed for $(rel "$PG_DATA") (pid $pid): see $(rel "$PG_LOG")"
}

pg_status_line() {
  local pid
  if pid="$(pg_pid)"; then
    printf 'postgres  running  pid %s  127.0.0.1:%s  (log %s)\n' "$pid" "$(pg_running_port)" "$(rel "$PG_LOG")"
    return 0
  fi
  printf 'postgres  stopped\n'
  return 1
}
