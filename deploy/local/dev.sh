#!/usr/bin/env bash
# `make dev`: the real stack, migrations, topics, a demo tenant with an API
# key, and every service, with logs under the stack directory. Ctrl-C stops
# the services (the stack keeps running; `make stack-down` stops it).
#
# Service ports (override with the variables shown):
#   gateway   SIGNALOPS_GATEWAY_PORT    8080   API + /livez /readyz /metrics
#   projector SIGNALOPS_PROJECTOR_PORT  9101   /livez /readyz /metrics
#   rules     SIGNALOPS_RULES_PORT      9102
#   notifier  SIGNALOPS_NOTIFIER_PORT   9103
#   billing   SIGNALOPS_BILLING_PORT    9104
# Stack ports: see deploy/local/stack.sh (Kafka 19092, PostgreSQL 15432).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"
export SIGNALOPS_STACK_DIR="${SIGNALOPS_STACK_DIR:-$REPO/.stack/dev}"

say() { printf '[dev] %s\n' "$*" >&2; }
die() { printf '[dev] error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"
# shellcheck source=lib/build-deps.sh
. "$HERE/lib/build-deps.sh"
ensure_build_deps
command -v python3 >/dev/null 2>&1 || die "python3 not found: apt-get install -y python3"

"$HERE/stack.sh" up
set -a
# shellcheck disable=SC1091
. "$SIGNALOPS_STACK_DIR/env"
set +a

say "building services (first build takes a few minutes)"
cargo build -q --workspace --bins
BIN="$REPO/target/debug"

# A server-side pepper for API key digests, generated once per stack.
pepper_file="$SIGNALOPS_STACK_DIR/api-key-pepper"
if [[ ! -s "$pepper_file" ]]; then
  (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' >"$pepper_file")
  # Keys digested under an older pepper no longer verify: issue a new demo key.
  rm -f "$SIGNALOPS_STACK_DIR/demo.env"
fi
SIGNALOPS_API_KEYS__PEPPER="$(cat "$pepper_file")"
# The JWT signing key for people's access tokens, also generated once.
jwt_file="$SIGNALOPS_STACK_DIR/jwt-key"
if [[ ! -s "$jwt_file" ]]; then
  (umask 077; python3 -c 'import secrets; print("dev1:" + secrets.token_hex(32))' >"$jwt_file")
fi
SIGNALOPS_AUTH__JWT_KEYS="$(cat "$jwt_file")"
export SIGNALOPS_AUTH__JWT_KEYS
# The key that seals channel credentials at rest, generated once too: a new
# one would leave the channels stored under the old one unopenable.
channel_keys_file="$SIGNALOPS_STACK_DIR/channel-keys"
if [[ ! -s "$channel_keys_file" ]]; then
  (umask 077; python3 -c 'import base64, secrets; print("dev1:" + base64.b64encode(secrets.token_bytes(32)).decode())' >"$channel_keys_file")
fi
SIGNALOPS_CHANNELS__SECRET_KEYS="$(cat "$channel_keys_file")"
export SIGNALOPS_CHANNELS__SECRET_KEYS
export SIGNALOPS_API_KEYS__PEPPER SIGNALOPS_API_KEYS__ENVIRONMENT=dev
export SIGNALOPS_TELEMETRY__FORMAT="${SIGNALOPS_TELEMETRY__FORMAT:-json}"

"$BIN/signalctl" migrate
"$BIN/signalctl" topics ensure

# The demo tenant and its key are created once and remembered (the key is
# shown only at creation, so it is kept in the stack dir, mode 600).
demo_file="$SIGNALOPS_STACK_DIR/demo.env"
demo_valid() {
  [[ -s "$demo_file" ]] || return 1
  # shellcheck disable=SC1090
  . "$demo_file"
  "$BIN/signalctl" tenants list | grep -q "$DEMO_TENANT_ID"
}
if ! demo_valid; then
  tenant_json="$("$BIN/signalctl" --json tenants create --name demo)"
  DEMO_TENANT_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$tenant_json")"
  key_json="$("$BIN/signalctl" --json keys create --tenant "$DEMO_TENANT_ID" --scopes events:write,events:read --label demo)"
  DEMO_API_KEY="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])' <<<"$key_json")"
  (umask 077; printf 'DEMO_TENANT_ID=%s\nDEMO_API_KEY=%s\n' "$DEMO_TENANT_ID" "$DEMO_API_KEY" >"$demo_file")
fi
# shellcheck disable=SC1090
. "$demo_file"

logs="$SIGNALOPS_STACK_DIR/logs"
mkdir -p "$logs"
pids=()
start() { # NAME PORT
  SIGNALOPS_HTTP__PORT="$2" "$BIN/$1" >>"$logs/$1.log" 2>&1 &
  pids+=("$!")
}
stop_services() {
  trap - INT TERM EXIT
  say "stopping services"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  say "services stopped; the stack keeps running (make stack-down stops it)"
}
trap stop_services INT TERM EXIT

gateway_port="${SIGNALOPS_GATEWAY_PORT:-8080}"
start gateway "$gateway_port"
start projector "${SIGNALOPS_PROJECTOR_PORT:-9101}"
start rules "${SIGNALOPS_RULES_PORT:-9102}"
start notifier "${SIGNALOPS_NOTIFIER_PORT:-9103}"
start billing "${SIGNALOPS_BILLING_PORT:-9104}"

# Wait for the gateway to be ready (bounded), so the curl line below works.
ready=0
for _ in $(seq 1 60); do
  if python3 - "$gateway_port" <<'PY' 2>/dev/null; then ready=1; break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
PY
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "a service exited at start-up; see $logs/*.log"
  done
  sleep 0.5
done

(( ready )) || die "the gateway did not become ready within 30 s; see $logs/gateway.log"
cat <<EOT

SignalOps is running.
  gateway    http://127.0.0.1:$gateway_port      (logs: ${logs#"$REPO"/}/gateway.log)
  projector  http://127.0.0.1:${SIGNALOPS_PROJECTOR_PORT:-9101}/metrics   rules :${SIGNALOPS_RULES_PORT:-9102}  notifier :${SIGNALOPS_NOTIFIER_PORT:-9103}  billing :${SIGNALOPS_BILLING_PORT:-9104}
  Kafka      $SIGNALOPS_KAFKA_BROKERS      PostgreSQL ${SIGNALOPS_DATABASE_URL##*@}

Demo tenant  $DEMO_TENANT_ID
Demo API key $DEMO_API_KEY   (scopes events:write,events:read)

  # send an event (202 with its Kafka partition and offset):
  curl -s -X POST http://127.0.0.1:$gateway_port/v1/events -H "x-api-key: $DEMO_API_KEY" \\
       -H 'content-type: application/json' -d '{"type": "invoice.paid", "data": {"amount": 4200}}'
  # the API and its documentation (in a browser):
  http://127.0.0.1:$gateway_port/docs/

Ctrl-C stops the services.
EOT
wait "${pids[@]}"
