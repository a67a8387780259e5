# shellcheck shell=bash
# Shared paths, settings and helpers for deploy/local (sourced, never run).
#
# Settings (environment variables, all optional):
#   SIGNALOPS_STACK_DIR              data, logs, pid files   (<repo>/.stack/dev)
#   SIGNALOPS_CACHE_DIR              downloaded jars, shared (<repo>/.cache)
#   SIGNALOPS_KAFKA_PORT             Kafka client listener   (19092)
#   SIGNALOPS_KAFKA_CONTROLLER_PORT  KRaft controller        (19093)
#   SIGNALOPS_PG_PORT                PostgreSQL              (15432)
#   KAFKA_VERSION                    Kafka release or 'latest' (4.3.1)
#   SIGNALOPS_READY_TIMEOUT          seconds to wait for Kafka (60)

SO_LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SO_REPO_DIR="$(cd "$SO_LOCAL_DIR/../.." && pwd)"

# Pinned default. 4.4.0 is the newest kafka_2.13 on Maven Central, but its
# kafka-tools / kafka-tools-api 4.4.0 artifacts are not published there, so
# it cannot be resolved; 4.3.1 is the newest complete 4.x release.
# shellcheck disable=SC2034 # used by kafka.sh
SO_DEFAULT_KAFKA_VERSION="4.3.1"

STACK_DIR="${SIGNALOPS_STACK_DIR:-$SO_REPO_DIR/.stack/dev}"
CACHE_DIR="${SIGNALOPS_CACHE_DIR:-$SO_REPO_DIR/.cache}"
KAFKA_PORT="${SIGNALOPS_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${SIGNALOPS_KAFKA_CONTROLLER_PORT:-19093}"
PG_PORT="${SIGNALOPS_PG_PORT:-15432}"
READY_TIMEOUT="${SIGNALOPS_READY_TIMEOUT:-60}"

# Relative paths would change meaning when a tool cd's; make them absolute.
case "$STACK_DIR" in /*) ;; *) STACK_DIR="$PWD/$STACK_DIR" ;; esac
case "$CACHE_DIR" in /*) ;; *) CACHE_DIR="$PWD/$CACHE_DIR" ;; esac

LOG_DIR="$STACK_DIR/logs"
ENV_FILE="$STACK_DIR/env"
SECRETS_FILE="$STACK_DIR/secrets"
STACK_MARKER="$STACK_DIR/.signalops-stack"

if [[ -t 2 ]]; then
  _so_red=$'\e[31m' _so_yel=$'\e[33m' _so_dim=$'\e[2m' _so_off=$'\e[0m'
else
  _so_red='' _so_yel='' _so_dim='' _so_off=''
fi

log()  { printf '%s[stack]%s %s\n' "$_so_dim" "$_so_off" "$*" >&2; }
warn() { printf '%s[stack] warning:%s %s\n' "$_so_yel" "$_so_off" "$*" >&2; }
# die MESSAGE: one line saying what is wrong and how to fix it, then exit 1.
die()  { printf '%s[stack] error:%s %s\n' "$_so_red" "$_so_off" "$*" >&2; exit 1; }

# Show paths relative to the repo when they are inside it (shorter messages).
rel() {
  case "$1" in
    "$SO_REPO_DIR"/*) printf '%s' "${1#"$SO_REPO_DIR"/}" ;;
    *) printf '%s' "$1" ;;
  esac
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

validate_port() { # NAME VALUE
  if ! [[ "$2" =~ ^[0-9]+$ ]] || (( $2 < 1 || $2 > 65535 )); then
    die "$1=$2 is not a valid TCP port: use a number between 1 and 65535"
  fi
}

validate_settings() {
  validate_port SIGNALOPS_KAFKA_PORT "$KAFKA_PORT"
  validate_port SIGNALOPS_KAFKA_CONTROLLER_PORT "$KAFKA_CONTROLLER_PORT"
  validate_port SIGNALOPS_PG_PORT "$PG_PORT"
  [[ "$READY_TIMEOUT" =~ ^[0-9]+$ ]] \
    || die "SIGNALOPS_READY_TIMEOUT=$READY_TIMEOUT is not a number of seconds"
  local a="$KAFKA_PORT" b="$KAFKA_CONTROLLER_PORT" c="$PG_PORT"
  if [[ "$a" == "$b" || "$a" == "$c" || "$b" == "$c" ]]; then
    die "ports must differ (kafka=$a controller=$b postgres=$c): set SIGNALOPS_KAFKA_PORT, SIGNALOPS_KAFKA_CONTROLLER_PORT, SIGNALOPS_PG_PORT"
  fi
}

# port_in_use PORT: true when something listens on PORT (any local address).
port_in_use() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

# tcp_open PORT: true when 127.0.0.1:PORT accepts a connection.
tcp_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# require_free_port PORT VARNAME WHAT
require_free_port() {
  if port_in_use "$1"; then
    die "port $1 ($3) already in use by another process: stop it or set $2 to a free port"
  fi
}

require_cmd() { # CMD HOW-TO-INSTALL
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

# proc_running PID: alive and not a zombie (an exited child that nobody has
# reaped yet still answers kill -0).
proc_running() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

# pid_alive PIDFILE PATTERN: prints the pid when the process in PIDFILE is
# alive and its command line contains PATTERN (guards against pid reuse).
pid_alive() {
  local pidfile="$1" pattern="$2" pid cmdline
  [[ -r "$pidfile" ]] || return 1
  pid="$(head -n1 "$pidfile" 2>/dev/null | tr -dc '0-9')"
  [[ -n "$pid" ]] || return 1
  proc_running "$pid" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == *"$pattern"* ]] || return 1
  printf '%s\n' "$pid"
}

# random_password: 32 chars of [A-Za-z0-9] (nothing to URL-encode).
random_password() {
  local s
  s="$(head -c 1024 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')"
  (( ${#s} >= 32 )) || die "could not generate a random password from /dev/urandom"
  printf '%s' "${s:0:32}"
}

ensure_stack_dir() {
  if [[ -e "$STACK_DIR" && ! -f "$STACK_MARKER" ]] \
     && [[ -n "$(ls -A "$STACK_DIR" 2>/dev/null)" ]]; then
    die "$STACK_DIR exists and is not a SignalOps stack dir (no .signalops-stack marker): point SIGNALOPS_STACK_DIR at an empty or new directory"
  fi
  mkdir -p "$STACK_DIR" "$LOG_DIR" || die "cannot create $STACK_DIR: check permissions or set SIGNALOPS_STACK_DIR"
  # Postgres runs as the 'postgres' user when we are root: it must be able to
  # traverse the stack dir.
  chmod 755 "$STACK_DIR" "$LOG_DIR"
  [[ -f "$STACK_MARKER" ]] || printf 'SignalOps local stack (deploy/local/stack.sh)\n' >"$STACK_MARKER"
}

# Serialise concurrent stack.sh runs on the same stack dir.
lock_stack() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 8>"$STACK_DIR/.lock"
  flock -w 300 8 || die "another stack.sh is still running on $STACK_DIR (lock $STACK_DIR/.lock held for 300s)"
}

# Load the secrets file, generating missing passwords on first use.
load_or_create_secrets() {
  local changed=0
  PG_SUPERUSER_PASSWORD='' PG_OWNER_PASSWORD='' PG_APP_PASSWORD=''
  if [[ -f "$SECRETS_FILE" ]]; then
    # shellcheck source=/dev/null
    . "$SECRETS_FILE"
  fi
  [[ -n "$PG_SUPERUSER_PASSWORD" ]] || { PG_SUPERUSER_PASSWORD="$(random_password)"; changed=1; }
  [[ -n "$PG_OWNER_PASSWORD" ]]     || { PG_OWNER_PASSWORD="$(random_password)"; changed=1; }
  [[ -n "$PG_APP_PASSWORD" ]]       || { PG_APP_PASSWORD="$(random_password)"; changed=1; }
  if (( changed )); then
    (
      umask 077
      {
        echo "# generated by deploy/local/stack.sh; reused by later runs"
        echo "PG_SUPERUSER_PASSWORD=$PG_SUPERUSER_PASSWORD"
        echo "PG_OWNER_PASSWORD=$PG_OWNER_PASSWORD"
        echo "PG_APP_PASSWORD=$PG_APP_PASSWORD"
      } >"$SECRETS_FILE.tmp"
    )
    mv -f "$SECRETS_FILE.tmp" "$SECRETS_FILE"
  fi
  chmod 600 "$SECRETS_FILE"
}

write_env_file() {
  local pg="127.0.0.1:$PG_PORT"
  (
    umask 077
    cat >"$ENV_FILE.tmp" <<EOF
# SignalOps local stack: source $ENV_FILE
export SIGNALOPS_STACK_DIR=$STACK_DIR
export SIGNALOPS_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export SIGNALOPS_KAFKA_HOME=$KAFKA_HOME
export SIGNALOPS_DATABASE_URL=postgres://signalops_app:$PG_APP_PASSWORD@$pg/signalops
export SIGNALOPS_DATABASE_OWNER_URL=postgres://signalops_owner:$PG_OWNER_PASSWORD@$pg/signalops
export SIGNALOPS_DATABASE_SUPERUSER_URL=postgres://postgres:$PG_SUPERUSER_PASSWORD@$pg/postgres
EOF
  )
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
  chmod 600 "$ENV_FILE"
}
