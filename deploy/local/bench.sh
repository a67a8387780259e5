#!/usr/bin/env bash
# `make bench`: issue 4's ingest benchmark, on loopback, bounded in time.
# Starts its own stack instance (.stack/bench, Kafka 39092/39093, PostgreSQL
# 35432), builds release binaries, runs the release gateway, then measures
# the raw producer and HTTP ceilings and the gateway (single, batch of 100,
# batch with 10 % duplicate ids) and prints the table, also written to
# docs/benchmarks.md. Missed targets are reported, not failed: the exit
# status is non-zero only when the harness itself breaks.
#
#   BENCH_SECONDS=10               seconds per scenario
#   BENCH_CONCURRENCY=32           producer chunks / batch requests in flight
#   BENCH_SINGLE_CONCURRENCY=256   single-event requests in flight (many
#                                  clients, as a front door sees them); the
#                                  HTTP ceiling is measured with the same
#   KEEP_STACK=1            leave the bench stack running afterwards
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"
export SIGNALOPS_STACK_DIR="${SIGNALOPS_BENCH_STACK_DIR:-$REPO/.stack/bench}"
export SIGNALOPS_KAFKA_PORT="${SIGNALOPS_BENCH_KAFKA_PORT:-39092}"
export SIGNALOPS_KAFKA_CONTROLLER_PORT="${SIGNALOPS_BENCH_KAFKA_CONTROLLER_PORT:-39093}"
export SIGNALOPS_PG_PORT="${SIGNALOPS_BENCH_PG_PORT:-35432}"
export BENCH_SECONDS="${BENCH_SECONDS:-10}" BENCH_CONCURRENCY="${BENCH_CONCURRENCY:-32}"
BENCH_SINGLE_CONCURRENCY="${BENCH_SINGLE_CONCURRENCY:-256}"

say() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"
command -v python3 >/dev/null 2>&1 || die "python3 not found: apt-get install -y python3"

gateway_pid=""
cleanup() {
  if [[ -n "$gateway_pid" ]]; then
    kill -TERM "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  if [[ "${KEEP_STACK:-0}" != "1" ]]; then
    "$HERE/stack.sh" down >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$HERE/stack.sh" up >&2
set -a
# shellcheck disable=SC1091
. "$SIGNALOPS_STACK_DIR/env"
set +a

say "building release binaries (the first build takes several minutes)"
cargo build -q --release -p signalops-gateway -p signalops-signalctl -p signalops-bench
BIN="$REPO/target/release"
logs="$SIGNALOPS_STACK_DIR/logs"
mkdir -p "$logs"

# Fresh secrets and topics per run: nothing from an earlier run (keys,
# records, idempotency state) can flatter or burden this one.
hex32() { python3 -c 'import secrets; print(secrets.token_hex(32))'; }
SIGNALOPS_API_KEYS__PEPPER="$(hex32)"
SIGNALOPS_AUTH__JWT_KEYS="bench:$(hex32)"
export SIGNALOPS_API_KEYS__PEPPER SIGNALOPS_AUTH__JWT_KEYS SIGNALOPS_API_KEYS__ENVIRONMENT=test
stamp="$(date +%Y%m%d%H%M%S)"
export SIGNALOPS_KAFKA__TOPICS__EVENTS="bench.events.$stamp"
export SIGNALOPS_KAFKA__TOPICS__NOTIFICATIONS="bench.notifications.$stamp"
export SIGNALOPS_KAFKA__TOPICS__DELIVERIES="bench.deliveries.$stamp"
export SIGNALOPS_KAFKA__TOPICS__DLQ="bench.dlq.$stamp"
export SIGNALOPS_TELEMETRY__LEVEL=warn SIGNALOPS_TELEMETRY__FORMAT=json
# The per-key ingest limit would measure the limiter, not the gateway.
export SIGNALOPS_INGEST__RATE_LIMIT_PER_SECOND=10000000 SIGNALOPS_INGEST__RATE_LIMIT_BURST=10000000

"$BIN/signalctl" migrate >&2
"$BIN/signalctl" topics ensure >&2
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
tenant_id="$("$BIN/signalctl" --json tenants create --name "bench-$stamp" | json_field id)"
BENCH_API_KEY="$("$BIN/signalctl" --json keys create --tenant "$tenant_id" --scopes events:write,events:read --label bench | json_field key)"
export BENCH_API_KEY

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SIGNALOPS_HTTP__PORT="$port" "$BIN/gateway" >"$logs/gateway-bench.log" 2>&1 &
gateway_pid=$!
gateway="http://127.0.0.1:$port"
ready=0
for _ in $(seq 1 60); do
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/readyz", timeout=1)' "$gateway" 2>/dev/null; then
    ready=1
    break
  fi
  kill -0 "$gateway_pid" 2>/dev/null || die "the gateway exited at start-up; see $logs/gateway-bench.log"
  sleep 0.5
done
(( ready )) || die "the gateway was not ready within 30 s; see $logs/gateway-bench.log"
say "gateway ready on $gateway (pid $gateway_pid)"

results="$SIGNALOPS_STACK_DIR/bench-results.jsonl"
: >"$results"
scenario() { # NAME ARGS...: one JSON line into $results
  say "$1 (${BENCH_SECONDS} s)"
  "$BIN/signalops-bench" "${@:2}" >>"$results"
}
scenario producer-ceiling producer-ceiling --topic "$SIGNALOPS_KAFKA__TOPICS__EVENTS"
scenario http-ceiling http-ceiling --concurrency "$BENCH_SINGLE_CONCURRENCY"
for mode in single batch batch-dup; do
  in_flight="$BENCH_CONCURRENCY"
  [[ "$mode" == single ]] && in_flight="$BENCH_SINGLE_CONCURRENCY"
  scenario "gateway-$mode" gateway --url "$gateway" --mode "$mode" --concurrency "$in_flight"
  kill -0 "$gateway_pid" 2>/dev/null || die "the gateway died during gateway-$mode; see $logs/gateway-bench.log"
done

# VmHWM: the peak resident set over the gateway's whole life, i.e. under load.
rss_kib="$(awk '/^VmHWM:/ {print $2}' "/proc/$gateway_pid/status" 2>/dev/null || true)"
mem_gib="$(awk '/^MemTotal:/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Other people edit the tree while a run builds: say whether it was clean.
if ! tree="$(git status --porcelain 2>/dev/null)"; then
  commit="$commit (tree state unknown)"
elif [[ -n "$tree" ]]; then
  commit="$commit (with uncommitted changes)"
fi
echo
"$BIN/signalops-bench" report --results "$results" --doc "$REPO/docs/benchmarks.md" \
  ${rss_kib:+--rss-kib "$rss_kib"} \
  --date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --machine "$(nproc) cores, $mem_gib GiB RAM, $(uname -sr)" \
  --kafka "$(basename "$SIGNALOPS_KAFKA_HOME" | sed 's/^kafka[_-]//')" \
  --commit "$commit"
echo
say "table written to docs/benchmarks.md; gateway log: ${logs#"$REPO"/}/gateway-bench.log"
