#!/usr/bin/env bash
# `make test`: start the test stack instance, drop the databases earlier runs'
# tests left behind, run the whole workspace's tests against it, print the
# runner's summary, exit non-zero on any failure.
#
#   KEEP_STACK=1 make test    leave the test stack running afterwards
#   CARGO_TEST_ARGS="-p signalops-platform" make test    run a subset
#   SCHEMATHESIS=0 make test  leave out the Schemathesis run of the HTTP API
#
# After cargo test, deploy/local/schemathesis.sh runs Schemathesis against a
# real gateway (ADR 0022); its operations count in the summary line.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=test-env.sh
. "$HERE/test-env.sh"
cd "$REPO"

command -v cargo >/dev/null 2>&1 || { echo "test: cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
# shellcheck source=lib/build-deps.sh
. "$HERE/lib/build-deps.sh"
ensure_build_deps

"$HERE/stack.sh" up
if [[ "${KEEP_STACK:-0}" != "1" ]]; then
  trap '"$HERE/stack.sh" down >/dev/null 2>&1 || true' EXIT
fi
set -a
# shellcheck disable=SC1091
. "$SIGNALOPS_STACK_DIR/env"
set +a

# Every test creates a database of its own and leaves it for inspection; the
# ones from earlier runs go now, so the test cluster's data dir (and its crash
# recovery after a killed machine) stays small.
stale="$(psql -X -At "$SIGNALOPS_DATABASE_OWNER_URL" -c \
  "SELECT datname FROM pg_database WHERE datname ~ '^signalops_(test|st)_[0-9a-f]+$'" 2>/dev/null || true)"
if [[ -n "$stale" ]]; then
  echo "test: dropping $(wc -l <<<"$stale") test databases left by earlier runs"
  while read -r database; do
    psql -X -q "$SIGNALOPS_DATABASE_OWNER_URL" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  done <<<"$stale"
fi

log="$SIGNALOPS_STACK_DIR/logs/cargo-test.log"
mkdir -p "$(dirname "$log")"
status=0
# shellcheck disable=SC2086 # CARGO_TEST_ARGS is a list of words
cargo test --no-fail-fast --color never ${CARGO_TEST_ARGS:---workspace} 2>&1 | tee "$log" || status=$?

# Schemathesis on every operation of the gateway's OpenAPI document.
st_passed=0 st_failed=0 st_skipped=0 st_status=0
if [[ "${SCHEMATHESIS:-1}" != "0" ]]; then
  st_log="$SIGNALOPS_STACK_DIR/logs/schemathesis.log"
  "$HERE/schemathesis.sh" 2>&1 | tee "$st_log" || st_status=$?
  st_line="$(grep -E '^schemathesis: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$st_log" | tail -n1 || true)"
  if [[ "$st_line" =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped ]]; then
    st_passed="${BASH_REMATCH[1]}" st_failed="${BASH_REMATCH[2]}" st_skipped="${BASH_REMATCH[3]}"
  fi
  if (( st_status != 0 )) && (( st_failed == 0 )); then
    st_failed=1
  fi
fi

# One closing line over every test binary, for people and CI alike.
passed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
ignored=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ ignored' | awk '{s+=$1} END {print s+0}')
echo
if (( status != 0 )) && (( failed == 0 )); then
  echo "test: cargo test failed before running every test (see above); log: ${log#"$REPO"/}"
  failed=1
fi
if (( st_failed > 0 )); then
  echo "test: Schemathesis found failures; log: ${st_log#"$REPO"/}, details under ${SIGNALOPS_STACK_DIR#"$REPO"/}/logs/schemathesis/"
fi
echo "summary: $((passed + st_passed)) passed, $((failed + st_failed)) failed, $((ignored + st_skipped)) skipped"
(( status != 0 )) || status=$st_status
exit "$status"
