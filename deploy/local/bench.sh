#!/usr/bin/env bash
# `make bench`: the ingest and read-side benchmark, on loopback, bounded in time.
# Starts its own stack instance (.stack/bench, Kafka 39092/39093, PostgreSQL
# 35432), builds release binaries, runs the release gateway, then measures
# the raw producer and HTTP ceilings and the gateway (single, batch of 100,
# batch with 10 % duplicate ids), the read side, the rules group against a
# no-op consumer over the same records, and prints the table, also written to
# docs/benchmarks.md. Missed targets are reported, not failed: the exit
# status is non-zero only when the harness itself breaks.
#
#   BENCH_SECONDS=8                seconds per scenario and round
#   BENCH_ROUNDS=3                 rounds of the ingest scenarios; ceilings and
#                                  gateway alternate, each round judged against
#                                  its own ceilings (the host's load drifts)
#   BENCH_CONCURRENCY=32           producer chunks / batch requests in flight
#   BENCH_SINGLE_CONCURRENCY=256   single-event requests in flight (many
#                                  clients, as a front door sees them); the
#                                  HTTP ceiling is measured with the same
#   BENCH_REBUILD_EVENTS=1000000   envelopes the projector catches up and rebuilds
#   BENCH_RULES_EVENTS=200000      events the rules group catches up (12 tenants,
#                                  100 rules each: 80 stateless, 20 windows)
#   BENCH_ONLY=read-side           skip the ingest scenarios (tuning the projector)
#   BENCH_ONLY=rules               only the rules group and its ceiling (tuning rules)
#   KEEP_STACK=1            leave the bench stack running afterwards
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"
export SIGNALOPS_STACK_DIR="${SIGNALOPS_BENCH_STACK_DIR:-$REPO/.stack/bench}"
export SIGNALOPS_KAFKA_PORT="${SIGNALOPS_BENCH_KAFKA_PORT:-39092}"
export SIGNALOPS_KAFKA_CONTROLLER_PORT="${SIGNALOPS_BENCH_KAFKA_CONTROLLER_PORT:-39093}"
export SIGNALOPS_PG_PORT="${SIGNALOPS_BENCH_PG_PORT:-35432}"
export BENCH_SECONDS="${BENCH_SECONDS:-8}" BENCH_CONCURRENCY="${BENCH_CONCURRENCY:-32}"
BENCH_ROUNDS="${BENCH_ROUNDS:-3}"
BENCH_SINGLE_CONCURRENCY="${BENCH_SINGLE_CONCURRENCY:-256}"
BENCH_REBUILD_EVENTS="${BENCH_REBUILD_EVENTS:-1000000}"
BENCH_RULES_EVENTS="${BENCH_RULES_EVENTS:-200000}"

say() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"
# shellcheck source=lib/build-deps.sh
. "$HERE/lib/build-deps.sh"
ensure_build_deps
command -v python3 >/dev/null 2>&1 || die "python3 not found: apt-get install -y python3"

gateway_pid=""
projector_pid=""
e2e_gateway_pid=""
rules_pid=""
cleanup() {
  if [[ -n "$rules_pid" ]]; then
    kill -TERM "$rules_pid" 2>/dev/null || true
    wait "$rules_pid" 2>/dev/null || true
  fi
  if [[ -n "$e2e_gateway_pid" ]]; then
    kill -TERM "$e2e_gateway_pid" 2>/dev/null || true
    wait "$e2e_gateway_pid" 2>/dev/null || true
  fi
  if [[ -n "$projector_pid" ]]; then
    kill -TERM "$projector_pid" 2>/dev/null || true
    wait "$projector_pid" 2>/dev/null || true
  fi
  if [[ -n "${read_db:-}" ]]; then
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $read_db" >/dev/null 2>&1 || true
  fi
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
cargo build -q --release -p signalops-gateway -p signalops-projector -p signalops-rules -p signalops-signalctl -p signalops-bench
BIN="$REPO/target/release"
logs="$SIGNALOPS_STACK_DIR/logs"
mkdir -p "$logs"

# Fresh secrets and topics per run: nothing from an earlier run (keys,
# records, idempotency state) can flatter or burden this one.
hex32() { python3 -c 'import secrets; print(secrets.token_hex(32))'; }
SIGNALOPS_API_KEYS__PEPPER="$(hex32)"
SIGNALOPS_AUTH__JWT_KEYS="bench:$(hex32)"
SIGNALOPS_CHANNELS__SECRET_KEYS="bench:$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')"
export SIGNALOPS_API_KEYS__PEPPER SIGNALOPS_AUTH__JWT_KEYS SIGNALOPS_CHANNELS__SECRET_KEYS SIGNALOPS_API_KEYS__ENVIRONMENT=test
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
wait_ready() { # URL PID LOG
  for _ in $(seq 1 60); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/readyz", timeout=1)' "$1" 2>/dev/null; then
      return 0
    fi
    kill -0 "$2" 2>/dev/null || die "the gateway exited at start-up; see $3"
    sleep 0.5
  done
  die "the gateway was not ready within 30 s; see $3"
}
wait_ready "$gateway" "$gateway_pid" "$logs/gateway-bench.log"
say "gateway ready on $gateway (pid $gateway_pid)"

results="$SIGNALOPS_STACK_DIR/bench-results.jsonl"
: >"$results"
round=0
scenario() { # NAME ARGS...: one JSON line, tagged with its round, into $results
  say "$1 (round $round, ${BENCH_SECONDS} s)"
  "$BIN/signalops-bench" "${@:2}" | sed "s/^{/{\"round\":$round,/" >>"$results"
}
steal_ticks() { awk '/^cpu / {print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
read -r steal_before total_before < <(steal_ticks)
if [[ "${BENCH_ONLY:-}" != read-side && "${BENCH_ONLY:-}" != rules ]]; then
  for round in $(seq 1 "$BENCH_ROUNDS"); do
    scenario producer-ceiling producer-ceiling --topic "$SIGNALOPS_KAFKA__TOPICS__EVENTS"
    scenario http-ceiling http-ceiling --concurrency "$BENCH_SINGLE_CONCURRENCY"
    for mode in single batch batch-dup; do
      in_flight="$BENCH_CONCURRENCY"
      [[ "$mode" == single ]] && in_flight="$BENCH_SINGLE_CONCURRENCY"
      scenario "gateway-$mode" gateway --url "$gateway" --mode "$mode" --concurrency "$in_flight"
      kill -0 "$gateway_pid" 2>/dev/null || die "the gateway died during gateway-$mode; see $logs/gateway-bench.log"
    done
  done
  round=0
fi

# VmHWM: the peak resident set over the gateway's whole life, i.e. under load.
rss_kib="$(awk '/^VmHWM:/ {print $2}' "/proc/$gateway_pid/status" 2>/dev/null || true)"

# The read side, on a topic of its own: the COPY ceiling, the
# projector catching up a backlog (version 1) and rebuilding it side by side
# (version 2, `signalctl projections rebuild`), and the projector's peak RSS.
# A database of its own for the read side and the rules, dropped afterwards:
# earlier runs' rows, read-model versions and tenants' rules can neither
# burden nor flatter this one.
read_db="bench_read_$stamp"
admin_url="$SIGNALOPS_DATABASE_OWNER_URL"
psql -q "$admin_url" -c "CREATE DATABASE $read_db" >/dev/null
export SIGNALOPS_DATABASE_URL="${SIGNALOPS_DATABASE_URL%/*}/$read_db" SIGNALOPS_DATABASE_OWNER_URL="${SIGNALOPS_DATABASE_OWNER_URL%/*}/$read_db"
"$BIN/signalctl" migrate >/dev/null
# (Not indented: the heredocs below end at the start of a line.)
if [[ "${BENCH_ONLY:-}" != rules ]]; then
readside="bench.readside.$stamp"
SIGNALOPS_KAFKA__TOPICS__EVENTS="$readside" "$BIN/signalctl" topics ensure >/dev/null
say "read side: $BENCH_REBUILD_EVENTS envelopes into $readside"
"$BIN/signalops-bench" fill --topic "$readside" --count "$BENCH_REBUILD_EVENTS" >/dev/null
say "postgres-copy-ceiling ($BENCH_REBUILD_EVENTS rows)"
"$BIN/signalops-bench" copy-ceiling --rows "$BENCH_REBUILD_EVENTS" >>"$results"
projected() { # the projector group's Postgres offsets summed over the read-side topic
  "$BIN/signalctl" --json groups describe "$1" --topic "$readside" \
    | python3 -c 'import json,sys; print(sum(p["postgres_next"] or 0 for p in json.load(sys.stdin)["partitions"]))'
}
pport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SIGNALOPS_KAFKA__TOPICS__EVENTS="$readside" SIGNALOPS_HTTP__PORT="$pport" "$BIN/projector" >"$logs/projector-bench.log" 2>&1 &
projector_pid=$!
say "projector-backlog: version 1 catches up $BENCH_REBUILD_EVENTS events"
first=""
first_done=0
done_now=0
for _ in $(seq 1 1200); do
  done_now="$(projected signalops-projector 2>/dev/null || echo 0)"
  [[ -z "$first" && "$done_now" -gt 0 ]] && first="$(date +%s.%N)" && first_done="$done_now"
  (( done_now >= BENCH_REBUILD_EVENTS )) && break
  kill -0 "$projector_pid" 2>/dev/null || die "the projector died; see $logs/projector-bench.log"
  sleep 0.2
done
last="$(date +%s.%N)"
python3 - "$first" "$last" "$first_done" "$done_now" >>"$results" <<'PY'
import json, sys
first, last, first_done, done = float(sys.argv[1] or sys.argv[2]), float(sys.argv[2]), int(sys.argv[3] or 0), int(sys.argv[4])
seconds = max(last - first, 1e-3)
print(json.dumps({"scenario": "projector-backlog", "available": True, "events_per_s": (done - first_done) / seconds,
                  "requests": done - first_done, "note": f"version 1 from its first batch to {done} events in {seconds:.1f} s (group join excluded)"}))
PY
say "projector-rebuild: version 2 side by side (signalctl projections rebuild)"
rebuild="$(SIGNALOPS_KAFKA__TOPICS__EVENTS="$readside" "$BIN/signalctl" --json projections rebuild --version 2)"
python3 - "$rebuild" >>"$results" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(json.dumps({"scenario": "projector-rebuild", "available": True, "events_per_s": r["records"] / r["seconds"], "requests": r["records"],
                  "note": f"signalctl projections rebuild: {r['records']} events in {r['seconds']:.1f} s, registration, group join and "
                          f"the indexes built after the catch-up ({r.get('index_seconds', 0):.1f} s) included"}))
PY

# Live: version 2 goes (as after a promote, one version is projected), a
# second gateway on this database and topic takes ingest, and the projector
# keeps up with it (projector-live), then end-to-end latency at half of the
# gateway's maximum.
"$BIN/signalctl" projections drop 2 >/dev/null
e2e_tenant="$("$BIN/signalctl" --json tenants create --name "bench-e2e-$stamp" | json_field id)"
e2e_key="$("$BIN/signalctl" --json keys create --tenant "$e2e_tenant" --scopes events:write,events:read --label bench-e2e | json_field key)"
eport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SIGNALOPS_KAFKA__TOPICS__EVENTS="$readside" SIGNALOPS_HTTP__PORT="$eport" "$BIN/gateway" >"$logs/gateway-e2e.log" 2>&1 &
e2e_gateway_pid=$!
e2e_gateway="http://127.0.0.1:$eport"
wait_ready "$e2e_gateway" "$e2e_gateway_pid" "$logs/gateway-e2e.log"
lag_of() { # the projector group's lag summed over the read-side topic
  "$BIN/signalctl" --json groups describe signalops-projector --topic "$readside" \
    | python3 -c 'import json,sys; print(sum(p["lag"] for p in json.load(sys.stdin)["partitions"]))'
}
drain_lag() { # after an ingest: sets lag_at_end, then waits (bounded) for none left: lag_now, catch_start, catch_end
  lag_at_end="$(lag_of)"
  lag_now="$lag_at_end"
  catch_start="$(date +%s.%N)"
  for _ in $(seq 1 300); do
    (( lag_now <= 0 )) && break
    sleep 0.2
    lag_now="$(lag_of)"
  done
  catch_end="$(date +%s.%N)"
}
say "projector-live-one-tenant: the gateway ingests one tenant's batches at full speed for ${BENCH_SECONDS} s while the projector applies them"
live_before="$(projected signalops-projector)"
live_start="$(date +%s.%N)"
BENCH_API_KEY="$e2e_key" "$BIN/signalops-bench" gateway --url "$e2e_gateway" --mode batch --concurrency "$BENCH_CONCURRENCY" \
  >"$SIGNALOPS_STACK_DIR/live-ingest.json"
live_end="$(date +%s.%N)"
live_after="$(projected signalops-projector)"
drain_lag
python3 - "$SIGNALOPS_STACK_DIR/live-ingest.json" "$live_before" "$live_after" "$live_start" "$live_end" "$lag_at_end" "$lag_now" "$catch_start" "$catch_end" >>"$results" <<'PY'
import json, sys
ingest = json.load(open(sys.argv[1]))
before, after, start, end, lag_end, lag_left = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
catch_up = float(sys.argv[9]) - float(sys.argv[8])
seconds = max(end - start, 1e-3)
# Kept up: no lag left within 3 s of the ingest stopping (a few 100 ms
# batches plus the time `signalctl groups describe` itself takes).
kept_up = lag_left <= 0 and catch_up <= 3.0
print(json.dumps({"scenario": "projector-live-one-tenant", "available": True, "events_per_s": (after - before) / seconds, "requests": after - before,
                  "kept_up": kept_up, "errors": ingest.get("errors", 0),
                  "note": f"one tenant, so one partition applied batch after batch; while the gateway ingested {ingest['events_per_s']:.0f} ev/s (batches of 100, {ingest['concurrency']} in flight) "
                          f"for {seconds:.1f} s; lag {lag_end} when the ingest stopped, "
                          + (f"none left {catch_up:.1f} s later" if lag_left <= 0 else f"{lag_left} still left {catch_up:.0f} s later")}))
PY
caught_up() { # waits (bounded) until the projector has applied everything appended so far
  for _ in $(seq 1 300); do
    (( $(lag_of) <= 0 )) && return 0
    sleep 0.2
  done
  say "warning: the projector still lags after 60 s"
}
# Live under a steady ingest, as a platform sees it: batches from twelve
# tenants in turn (so several partitions), offered at 0.6 × the COPY ceiling
# of this run. Kept up (no lag within 3 s of the stop, every batch accepted
# at the offered rate) means the projector sustains that ratio live.
caught_up
live_keys=""
for i in $(seq 1 12); do
  t="$("$BIN/signalctl" --json tenants create --name "bench-live-$stamp-$i" | json_field id)"
  k="$("$BIN/signalctl" --json keys create --tenant "$t" --scopes events:write --label bench-live | json_field key)"
  live_keys="${live_keys:+$live_keys,}$k"
done
live_rate="$(python3 -c 'import json,sys; print(next(json.loads(l)["events_per_s"] for l in open(sys.argv[1]) if json.loads(l)["scenario"] == "postgres-copy-ceiling") * 0.6)' "$results")"
say "projector-live: a steady $(printf '%.0f' "$live_rate") ev/s (0.6 × COPY) from 12 tenants for ${BENCH_SECONDS} s while the projector applies them"
live_before="$(projected signalops-projector)"
live_start="$(date +%s.%N)"
BENCH_API_KEYS="$live_keys" "$BIN/signalops-bench" steady-ingest --url "$e2e_gateway" --rate "$live_rate" \
  >"$SIGNALOPS_STACK_DIR/steady-ingest.json"
live_end="$(date +%s.%N)"
live_after="$(projected signalops-projector)"
drain_lag
python3 - "$SIGNALOPS_STACK_DIR/steady-ingest.json" "$live_before" "$live_after" "$live_start" "$live_end" "$lag_at_end" "$lag_now" "$catch_start" "$catch_end" "$live_rate" >>"$results" <<'PY'
import json, sys
ingest = json.load(open(sys.argv[1]))
before, after, start, end, lag_end, lag_left = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
catch_up, offered = float(sys.argv[9]) - float(sys.argv[8]), float(sys.argv[10])
seconds = max(end - start, 1e-3)
delivered = ingest["events_per_s"] >= 0.95 * offered and ingest.get("errors", 0) == 0
kept_up = delivered and lag_left <= 0 and catch_up <= 3.0
print(json.dumps({"scenario": "projector-live", "available": True, "events_per_s": (after - before) / seconds, "requests": after - before,
                  "kept_up": kept_up, "errors": ingest.get("errors", 0), "first_error": ingest.get("first_error"),
                  "note": f"{ingest['note']}; the gateway accepted {ingest['events_per_s']:.0f} ev/s; lag {lag_end} when the ingest stopped, "
                          + (f"none left {catch_up:.1f} s later" if lag_left <= 0 else f"{lag_left} still left {catch_up:.0f} s later")}))
PY
say "end-to-end: the gateway's max for single events, then half of it, each sampled event timed until its row is visible"
BENCH_API_KEY="$e2e_key" "$BIN/signalops-bench" gateway --url "$e2e_gateway" --mode single --concurrency "$BENCH_SINGLE_CONCURRENCY" \
  >"$SIGNALOPS_STACK_DIR/e2e-max.json"
# One tenant's events share one partition: the backlog the max run left
# there must be applied first, or the latency measures that backlog.
caught_up
# The database was bulk-filled minutes ago: without statistics (autovacuum
# has not run yet) the watcher's lookups by id scan the whole table, and the
# figure would measure that instead of the projector.
psql -q "$SIGNALOPS_DATABASE_OWNER_URL" -c "ANALYZE" >/dev/null
half_rate="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events_per_s"] / 2)' "$SIGNALOPS_STACK_DIR/e2e-max.json")"
BENCH_API_KEY="$e2e_key" "$BIN/signalops-bench" end-to-end --url "$e2e_gateway" --tenant "$e2e_tenant" --rate "$half_rate" >>"$results"
projector_rss_kib="$(awk '/^VmHWM:/ {print $2}' "/proc/$projector_pid/status" 2>/dev/null || true)"
fi

# The rules group: the consumer runtime with a no-op handler over a topic
# (the ceiling), then the rules service over the same records with 12
# tenants × 80 stateless rules (about 10 % of events match one), then with
# 20 window rules more per tenant, each run a fresh group from the earliest
# offset; its peak RSS over all. BENCH_ROUNDS rounds of each, every rules run
# right after a ceiling of its own round (stateless rounds 1…n, windowed
# rounds n+1…2n), judged like the ingest rounds.
rules_topic="bench.rules.$stamp"
SIGNALOPS_KAFKA__TOPICS__EVENTS="$rules_topic" "$BIN/signalctl" topics ensure >/dev/null
say "rules: $BENCH_RULES_EVENTS events of 12 tenants into $rules_topic"
rules_tenants="$("$BIN/signalops-bench" rules-setup --topic "$rules_topic" --count "$BENCH_RULES_EVENTS")"
rules_ceiling() { # ROUND: the no-op consumer over the rules topic, tagged with ROUND
  say "rules-noop-ceiling (round $1): the consumer runtime with a no-op handler"
  "$BIN/signalops-bench" noop-ceiling --topic "$rules_topic" --count "$BENCH_RULES_EVENTS" | sed "s/^{/{\"round\":$1,/" >>"$results"
}
rules_rss_kib=0
rules_run() { # SCENARIO GROUP SHAPE ROUND: the rules service catches the topic up as GROUP
  local rport hwm status=0
  rport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  # Every run starts from no firings, staged records or states, as a replay
  # from the earliest offset does: otherwise a later run would find its
  # firings recorded and its notifications relayed already.
  psql -X -q -v ON_ERROR_STOP=1 "$SIGNALOPS_DATABASE_OWNER_URL" -c "TRUNCATE rule_firings, rule_states" >/dev/null \
    || die "cannot clear the rules tables before $1"
  SIGNALOPS_KAFKA__TOPICS__EVENTS="$rules_topic" SIGNALOPS_CONSUMER__GROUP_ID="$2" SIGNALOPS_HTTP__PORT="$rport" \
    "$BIN/rules" >"$logs/$1.log" 2>&1 &
  rules_pid=$!
  say "$1: the rules group catches up $BENCH_RULES_EVENTS events"
  # Timed by the watcher that times the ceiling (its Postgres offsets every
  # 50 ms over one connection).
  "$BIN/signalops-bench" catch-up --group "$2" --topic "$rules_topic" --count "$BENCH_RULES_EVENTS" \
    --scenario "$1" --shape "$3" | sed "s/^{/{\"round\":$4,/" >>"$results" || status=$?
  kill -0 "$rules_pid" 2>/dev/null || die "the rules service died; see $logs/$1.log"
  (( status == 0 )) || die "the rules group did not catch up; see $logs/$1.log"
  hwm="$(awk '/^VmHWM:/ {print $2}' "/proc/$rules_pid/status" 2>/dev/null || echo 0)"
  (( hwm > rules_rss_kib )) && rules_rss_kib="$hwm"
  kill -TERM "$rules_pid" 2>/dev/null || true
  wait "$rules_pid" 2>/dev/null || true
  rules_pid=""
}
for r in $(seq 1 "$BENCH_ROUNDS"); do
  rules_ceiling "$r"
  rules_run rules-stateless "signalops-rules-stateless-$stamp-$r" "12 tenants × 80 stateless rules" "$r"
done
"$BIN/signalops-bench" rules-windows --tenants "$rules_tenants"
for r in $(seq $((BENCH_ROUNDS + 1)) $((2 * BENCH_ROUNDS))); do
  rules_ceiling "$r"
  rules_run rules-windows "signalops-rules-windows-$stamp-$r" "12 tenants × 100 rules (80 stateless, 20 windows)" "$r"
done
mem_gib="$(awk '/^MemTotal:/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Other people edit the tree while a run builds: say whether it was clean.
if ! tree="$(git status --porcelain 2>/dev/null)"; then
  commit="$commit (tree state unknown)"
elif [[ -n "$tree" ]]; then
  commit="$commit (with uncommitted changes)"
fi
echo
# A partial run (BENCH_ONLY) prints its table but leaves the document alone.
doc_args=(--doc "$REPO/docs/benchmarks.md")
[[ -n "${BENCH_ONLY:-}" ]] && doc_args=()
read -r steal_after total_after < <(steal_ticks)
steal_percent="$(python3 -c 'import sys; s, t = int(sys.argv[2]) - int(sys.argv[1]), int(sys.argv[4]) - int(sys.argv[3]); print(f"{100 * s / t:.2f}" if t > 0 else "")' \
  "$steal_before" "$steal_after" "$total_before" "$total_after")"
"$BIN/signalops-bench" report --results "$results" "${doc_args[@]}" \
  ${steal_percent:+--steal-percent "$steal_percent"} \
  ${rss_kib:+--rss-kib "$rss_kib"} ${projector_rss_kib:+--projector-rss-kib "$projector_rss_kib"} \
  ${rules_rss_kib:+--rules-rss-kib "$rules_rss_kib"} \
  --date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --machine "$(nproc) cores, $mem_gib GiB RAM, $(uname -sr)" \
  --kafka "$(basename "$SIGNALOPS_KAFKA_HOME" | sed 's/^kafka[_-]//')" \
  --commit "$commit"
echo
if [[ -n "${BENCH_ONLY:-}" ]]; then
  say "partial run (BENCH_ONLY=$BENCH_ONLY): docs/benchmarks.md left alone; logs in ${logs#"$REPO"/}/"
else
  say "table written to docs/benchmarks.md; logs in ${logs#"$REPO"/}/ (gateway-bench.log, projector-bench.log)"
fi
