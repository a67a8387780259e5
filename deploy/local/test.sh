#!/usr/bin/env bash
# `make test`: start the test stack instance, run the whole workspace's tests
# against it, print the runner's summary, exit non-zero on any failure.
#
#   KEEP_STACK=1 make test    leave the test stack running afterwards
#   CARGO_TEST_ARGS="-p signalops-platform" make test    run a subset
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=test-env.sh
. "$HERE/test-env.sh"
cd "$REPO"

command -v cargo >/dev/null 2>&1 || { echo "test: cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }

"$HERE/stack.sh" up
if [[ "${KEEP_STACK:-0}" != "1" ]]; then
  trap '"$HERE/stack.sh" down >/dev/null 2>&1 || true' EXIT
fi
set -a
# shellcheck disable=SC1091
. "$SIGNALOPS_STACK_DIR/env"
set +a

log="$SIGNALOPS_STACK_DIR/logs/cargo-test.log"
mkdir -p "$(dirname "$log")"
status=0
# shellcheck disable=SC2086 # CARGO_TEST_ARGS is a list of words
cargo test --no-fail-fast --color never ${CARGO_TEST_ARGS:---workspace} 2>&1 | tee "$log" || status=$?

# One closing line over every test binary, for people and CI alike.
passed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
ignored=$(grep -E '^test result:' "$log" | grep -Eo '[0-9]+ ignored' | awk '{s+=$1} END {print s+0}')
echo
if (( status != 0 )) && (( failed == 0 )); then
  echo "test: cargo test failed before running every test (see above); log: ${log#"$REPO"/}"
  failed=1
fi
echo "summary: $passed passed, $failed failed, $ignored skipped"
exit "$status"
