# SignalOps developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := deploy/local/stack.sh
TEST_ENV := . deploy/local/test-env.sh

.PHONY: help dev test stack-up stack-down stack-status test-stack-up test-stack-down migrate topics build check lint linkcheck fmt proto clean-stack bench

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

dev: ## Start the real stack, migrations, topics, a demo tenant and every service (Ctrl-C stops the services)
	@deploy/local/dev.sh

test: ## Start the test stack and run the whole test suite against it
	@deploy/local/test.sh

stack-up: ## Start Kafka + PostgreSQL for development (idempotent)
	@$(STACK) up

stack-down: ## Stop the development stack (data kept)
	@$(STACK) down

stack-status: ## Show what the development stack runs
	@$(STACK) status

bench: ## Benchmarks on their own stack: ingest and read side against ceilings measured in the same run; writes docs/benchmarks.md
	@deploy/local/bench.sh

test-stack-up: ## Start the test stack instance (own ports and data dir)
	@$(TEST_ENV) && $(STACK) up

test-stack-down: ## Stop the test stack instance
	@$(TEST_ENV) && $(STACK) down

migrate: ## Apply schema migrations to the development database
	@set -a && . .stack/dev/env && set +a && cargo run -q -p signalops-signalctl -- migrate

topics: ## Create the configured Kafka topics on the development broker
	@set -a && . .stack/dev/env && set +a && cargo run -q -p signalops-signalctl -- topics ensure

build: ## Build every binary (debug)
	cargo build --workspace --bins

check: ## Type-check everything, tests included
	cargo check --workspace --all-targets

lint: ## Clippy with warnings as errors, formatting check, and the docs' link check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --all -- --check
	@deploy/local/linkcheck.sh

linkcheck: ## Offline check of every link in README.md, docs/ and deploy/*/README.md (builds the pinned lychee once)
	@deploy/local/linkcheck.sh

fmt: ## Format the code
	cargo fmt --all

proto: ## Regenerate protobuf types (done by build.rs with protox; no protoc needed)
	cargo build -p signalops-proto

clean-stack: ## Stop and delete both local stack instances (jar cache kept)
	@$(STACK) destroy
	@$(TEST_ENV) && $(STACK) destroy
