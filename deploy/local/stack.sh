#!/usr/bin/env bash
# SignalOps local stack without Docker: Kafka (KRaft, jars from Maven Central,
# run with the JDK) + PostgreSQL (Debian packages), bound to 127.0.0.1 only.
#
# Usage: deploy/local/stack.sh up|down|status|env|destroy
#
#   up       fetch Kafka once, start Kafka + PostgreSQL, create db/roles,
#            write $SIGNALOPS_STACK_DIR/env                    (idempotent)
#   down     stop what 'up' started (by pid file); data is kept
#   status   one line per component; exit 0 if all running, 3 otherwise
#   env      print the env file (eval "$(deploy/local/stack.sh env)");
#            'env --path' prints only its path
#   destroy  down + delete $SIGNALOPS_STACK_DIR (the jar cache stays)
#
# Environment (all optional):
#   SIGNALOPS_STACK_DIR              <repo>/.stack/dev   data, logs, pids, env
#   SIGNALOPS_CACHE_DIR              <repo>/.cache       jars + maven repo (shared)
#   SIGNALOPS_KAFKA_PORT             19092               Kafka PLAINTEXT listener
#   SIGNALOPS_KAFKA_CONTROLLER_PORT  19093               KRaft controller listener
#   SIGNALOPS_PG_PORT                15432               PostgreSQL
#   KAFKA_VERSION                    4.3.1               or 'latest' (newest 4.x)
#   SIGNALOPS_READY_TIMEOUT          60                  seconds to wait for Kafka
#
# Env file keys: SIGNALOPS_STACK_DIR SIGNALOPS_KAFKA_BROKERS SIGNALOPS_KAFKA_HOME
#   SIGNALOPS_DATABASE_URL SIGNALOPS_DATABASE_OWNER_URL SIGNALOPS_DATABASE_SUPERUSER_URL
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$HERE/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/kafka.sh
. "$HERE/lib/kafka.sh"
# shellcheck source-path=SCRIPTDIR source=lib/postgres.sh
. "$HERE/lib/postgres.sh"

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
}

# Check every port before starting anything, so a conflict leaves nothing
# half-started.
preflight_ports() {
  if ! kafka_pid >/dev/null; then
    require_free_port "$KAFKA_PORT" SIGNALOPS_KAFKA_PORT "Kafka"
    require_free_port "$KAFKA_CONTROLLER_PORT" SIGNALOPS_KAFKA_CONTROLLER_PORT "Kafka controller"
  fi
  if ! pg_pid >/dev/null; then
    require_free_port "$PG_PORT" SIGNALOPS_PG_PORT "PostgreSQL"
  fi
}

cmd_up() {
  validate_settings
  require_java
  ensure_stack_dir
  lock_stack
  preflight_ports
  load_or_create_secrets
  kafka_resolve_version
  kafka_fetch
  pg_require_bin 1

  kafka_start
  pg_start            # PostgreSQL starts while the broker boots
  pg_setup_roles
  pg_check_tls
  kafka_wait_ready
  write_env_file

  cat <<EOF
SignalOps local stack is up ($(rel "$STACK_DIR")):
  Kafka $KAFKA_VERSION_RESOLVED    127.0.0.1:$KAFKA_PORT  (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)
  PostgreSQL  127.0.0.1:$PG_PORT  database signalops, roles signalops_owner / signalops_app
  logs        $(rel "$LOG_DIR")/{kafka.log,kafka.out,postgres.log}
  env         source $ENV_FILE
EOF
}

cmd_down() {
  [[ -d "$STACK_DIR" ]] || { log "nothing to stop ($(rel "$STACK_DIR") does not exist)"; return 0; }
  lock_stack
  kafka_stop
  pg_stop
}

cmd_status() {
  local rc=0
  kafka_status_line || rc=3
  pg_status_line || rc=3
  return "$rc"
}

cmd_env() {
  [[ -f "$ENV_FILE" ]] || die "no env file at $ENV_FILE: run deploy/local/stack.sh up first"
  if [[ "${1:-}" == --path ]]; then
    printf '%s\n' "$ENV_FILE"
  else
    cat "$ENV_FILE"
  fi
}

cmd_destroy() {
  [[ -e "$STACK_DIR" ]] || { log "nothing to destroy ($(rel "$STACK_DIR") does not exist)"; return 0; }
  [[ -f "$STACK_MARKER" ]] \
    || die "refusing to delete $STACK_DIR: it has no .signalops-stack marker (not created by stack.sh)"
  cmd_down
  log "deleting $STACK_DIR"
  rm -rf -- "$STACK_DIR"
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up)      cmd_up ;;
    down)    cmd_down ;;
    status)  cmd_status ;;
    env)     cmd_env "$@" ;;
    destroy) cmd_destroy ;;
    -h|--help|help) usage ;;
    *) usage; die "unknown command '${cmd}': use up, down, status, env or destroy" ;;
  esac
}

main "$@"
