# shellcheck shell=bash
# The `make test` stack instance: its own ports and data directory, so it
# never clashes with `make dev`. Sourced by test.sh and the Makefile.
export SIGNALOPS_STACK_DIR="${SIGNALOPS_TEST_STACK_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.stack/test}"
export SIGNALOPS_KAFKA_PORT="${SIGNALOPS_TEST_KAFKA_PORT:-29092}"
export SIGNALOPS_KAFKA_CONTROLLER_PORT="${SIGNALOPS_TEST_KAFKA_CONTROLLER_PORT:-29093}"
export SIGNALOPS_PG_PORT="${SIGNALOPS_TEST_PG_PORT:-25432}"
