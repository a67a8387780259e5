#!/usr/bin/env bash
# Schemathesis against the whole HTTP API of a real gateway (ADR 0022).
#
# Starts a gateway on the test stack with a fresh migrated database and topics
# of its own, signs a person up (access token) and gives their tenant an API
# key with every scope, then runs Schemathesis on every operation of the
# gateway's /openapi.json twice: once with the API key, once with the access
# token. Run by `make test`; by hand: `deploy/local/schemathesis.sh`.
#
# Its last line is `schemathesis: <passed> passed, <failed> failed, <skipped>
# skipped`, counted per operation and credential; it exits non-zero when any
# check failed. Logs, reports and the gateway's log go to
# $SIGNALOPS_STACK_DIR/logs/schemathesis/ (or SCHEMATHESIS_LOG_DIR). Needs the
# stack running: `make test-stack-up` first when run by hand.
#
#   SCHEMATHESIS_MAX_EXAMPLES=100 deploy/local/schemathesis.sh   more cases per operation
#   SCHEMATHESIS_ARGS="--include-path-regex ^/v1/members" ...     extra `st run` options
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# The test stack unless the caller chose another one.
if [[ -z "${SIGNALOPS_STACK_DIR:-}" ]]; then
  # shellcheck source=test-env.sh
  . "$HERE/test-env.sh"
fi
cd "$REPO"

say() { printf '[schemathesis] %s\n' "$*" >&2; }
die() { printf '[schemathesis] error: %s\n' "$*" >&2; echo "schemathesis: 0 passed, 1 failed, 0 skipped"; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"
command -v python3 >/dev/null 2>&1 || die "python3 not found: apt-get install -y python3 python3-venv"
command -v psql >/dev/null 2>&1 || die "psql not found: apt-get install -y postgresql-client (deploy/local/stack.sh up installs it with PostgreSQL)"

# The stack is started by test.sh (or `make test-stack-up`), not here.
[[ -r "$SIGNALOPS_STACK_DIR/env" ]] || die "no stack env file at $SIGNALOPS_STACK_DIR/env: start the test stack with make test-stack-up"
set -a
# shellcheck disable=SC1091
. "$SIGNALOPS_STACK_DIR/env"
set +a

out="${SCHEMATHESIS_LOG_DIR:-$SIGNALOPS_STACK_DIR/logs/schemathesis}"
rm -rf "$out"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# --- Schemathesis, pinned, in a virtualenv of its own under .cache/ ---------
# shellcheck source=lib/schemathesis_venv.sh
. "$HERE/lib/schemathesis_venv.sh"
schemathesis_venv "$HERE/schemathesis/requirements.txt" "${SIGNALOPS_CACHE_DIR:-$REPO/.cache}" \
  || die "could not install Schemathesis (see above)"
ST="$ST_VENV/bin/st" ST_PYTHON="$ST_VENV/bin/python"

# --- the gateway and signalctl ----------------------------------------------
say "building the gateway and signalctl"
cargo build -q -p signalops-gateway -p signalops-signalctl || die "cargo build failed"
BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug"

# --- a database and topics of its own, and fresh secrets ---------------------
run_id="$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
database="signalops_st_$run_id"
topic_prefix="test.schemathesis.$run_id"
gateway_pid=''
# The stack's own database: the run's database cannot be dropped from itself.
admin_url="$SIGNALOPS_DATABASE_OWNER_URL"
cleanup() {
  if [[ -n "$gateway_pid" ]]; then
    kill -TERM "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 \
    || printf '[schemathesis] warning: could not drop database %s\n' "$database" >&2
  "$HERE/bin/kafka-topics" --delete --topic "${topic_prefix//./\\.}\\..*" >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql -q -v ON_ERROR_STOP=1 "$admin_url" -c "CREATE DATABASE $database" >/dev/null || die "cannot create database $database"
export SIGNALOPS_DATABASE_URL="${SIGNALOPS_DATABASE_URL%/*}/$database"
export SIGNALOPS_DATABASE_OWNER_URL="${SIGNALOPS_DATABASE_OWNER_URL%/*}/$database"
for topic in events notifications deliveries dlq redrive; do
  export "SIGNALOPS_KAFKA__TOPICS__${topic^^}=$topic_prefix.$topic"
done
export SIGNALOPS_KAFKA__PARTITIONS=3
SIGNALOPS_API_KEYS__PEPPER="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
SIGNALOPS_AUTH__JWT_KEYS="st:$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
SIGNALOPS_CHANNELS__SECRET_KEYS="st:$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')"
export SIGNALOPS_API_KEYS__PEPPER SIGNALOPS_AUTH__JWT_KEYS SIGNALOPS_CHANNELS__SECRET_KEYS SIGNALOPS_API_KEYS__ENVIRONMENT=test
# The longest-lived access token, so one token lasts its whole run; cheap
# bcrypt; sign-in limits far above what the run sends, so sign-up and login
# cases reach the handlers instead of stopping at 429.
export SIGNALOPS_AUTH__ACCESS_TOKEN_TTL_SECS=900 SIGNALOPS_AUTH__BCRYPT_COST=4
export SIGNALOPS_AUTH__LOGIN_ATTEMPTS_PER_MINUTE_PER_EMAIL=100000 SIGNALOPS_AUTH__LOGIN_ATTEMPTS_PER_MINUTE_PER_IP=100000
export SIGNALOPS_TELEMETRY__FORMAT=json SIGNALOPS_HTTP__PORT=0

"$BIN/signalctl" migrate >"$out/setup.log" 2>&1 || die "signalctl migrate failed: see $out/setup.log"
"$BIN/signalctl" topics ensure >>"$out/setup.log" 2>&1 || die "signalctl topics ensure failed: see $out/setup.log"

# --- the gateway, on a free port ----------------------------------------------
"$BIN/gateway" >"$out/gateway.log" 2>&1 &
gateway_pid=$!
port=''
for _ in $(seq 1 120); do
  port="$(python3 - "$out/gateway.log" <<'PY' 2>/dev/null || true
import json, sys
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        record = json.loads(line)
    except ValueError:
        continue
    fields = record.get("fields", record)
    if fields.get("message") == "gateway listening":
        print(fields["port"])
        break
PY
)"
  [[ -n "$port" ]] && break
  kill -0 "$gateway_pid" 2>/dev/null || die "the gateway exited at start-up; see $out/gateway.log"
  sleep 0.25
done
[[ -n "$port" ]] || die "the gateway did not report its port within 30 s; see $out/gateway.log"
base="http://127.0.0.1:$port"
say "gateway on $base (database $database, topics $topic_prefix.*)"

# --- credentials: a person (sign-up) and an API key with every scope ----------
credentials="$("$ST_PYTHON" "$HERE/schemathesis/credentials.py" "$base")" || die "could not sign up or create the API key; see $out/gateway.log"
eval "$credentials" # SO_ST_ACCESS_TOKEN, SO_ST_API_KEY, SO_ST_EMAIL, SO_ST_PASSWORD
export SO_ST_ACCESS_TOKEN SO_ST_API_KEY

# --- the runs -------------------------------------------------------------------
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-$(sed -n 's/^generation\.max-examples = //p' "$HERE/schemathesis/schemathesis.toml")}"
[[ "$max_examples" =~ ^[1-9][0-9]*$ ]] || die "SCHEMATHESIS_MAX_EXAMPLES=$max_examples is not a positive number"
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
status=0
for credential in api_key bearer; do
  config="$out/$credential.toml"
  # More cases on request, set at the top level so the live tail keeps its own
  # (an `st run --max-examples` would override it too).
  sed "s/^generation\.max-examples = .*/generation.max-examples = $max_examples/" "$HERE/schemathesis/schemathesis.toml" >"$config"
  case "$credential" in
    api_key) printf '\n[auth.openapi.api_key]\napi_key = "${SO_ST_API_KEY}"\n' >>"$config" ;;
    bearer) printf '\n[auth.openapi.bearer]\nbearer = "${SO_ST_ACCESS_TOKEN}"\n' >>"$config" ;;
  esac
  say "running Schemathesis with the $credential credential (log: $out/$credential.log)"
  # From the output dir, so nothing Schemathesis writes lands in the repo.
  # shellcheck disable=SC2086 # SCHEMATHESIS_ARGS is a list of words
  (cd "$out" && "$ST" --config-file "$config" run "$base/openapi.json" \
    --checks "$checks" \
    --report junit --report-junit-path "$out/$credential.junit.xml" \
    --no-color ${SCHEMATHESIS_ARGS:-} >"$out/$credential.log" 2>&1) || status=$?
  tail -n 25 "$out/$credential.log" >&2
done

counts="$("$ST_PYTHON" "$HERE/schemathesis/count.py" "$out"/*.junit.xml)" || counts="0 passed, 1 failed, 0 skipped"
if (( status != 0 )) && [[ "$counts" == *" 0 failed"* ]]; then
  # Schemathesis stopped without a failing test case (bad config, schema error).
  counts="${counts/ 0 failed/ 1 failed}"
fi
echo "schemathesis: $counts"
exit "$status"
