#!/usr/bin/env bash
# `make lint`'s link check: every link in README.md, docs/ and
# deploy/*/README.md must resolve inside the repository (files and #anchors),
# checked offline; links out of the repository fail (policy in lychee.toml).
# lychee is pinned (LYCHEE_VERSION below) and built once from crates.io into
# <cache>/tools; later runs reuse it.
#
#   SIGNALOPS_CACHE_DIR   where the cache is (<repo>/.cache)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"

LYCHEE_VERSION="0.24.2"
CACHE_DIR="${SIGNALOPS_CACHE_DIR:-$REPO/.cache}"
TOOLS="$CACHE_DIR/tools"
LYCHEE="$TOOLS/bin/lychee"

installed_version() { "$LYCHEE" --version 2>/dev/null | awk '{print $2}'; }

if [[ "$(installed_version)" != "$LYCHEE_VERSION" ]]; then
  echo "[lint] installing lychee $LYCHEE_VERSION into $TOOLS (once; a large build)" >&2
  # nice: the build is long and should not starve the editor or other builds.
  nice -n 19 cargo install --locked --version "$LYCHEE_VERSION" --root "$TOOLS" lychee >&2 \
    || { echo "[lint] error: cargo install lychee $LYCHEE_VERSION failed (needs crates.io, libssl-dev and pkg-config)" >&2; exit 1; }
fi

mapfile -t files < <(ls README.md deploy/*/README.md; find docs -name '*.md' | sort)

# Links to the reader's own local stack (the gateway's /docs/, say): allowed,
# never fetched.
LOOPBACK='^https?://(127\.0\.0\.1|localhost)([:/ ]|$)'

# 1. Outward links. Offline, lychee skips them silently (and it always skips
#    example domains), so list every link it extracts, without any request,
#    and refuse what is neither a file of the repository nor loopback.
outward="$("$LYCHEE" --config lychee.toml --offline=false --dump --verbose -- "${files[@]}" \
  | grep -v '^file://' | grep -Ev "$LOOPBACK" || true)"
if [[ -n "$outward" ]]; then
  echo "[lint] error: links out of the repository are refused (the docs must stand alone):" >&2
  printf '  %s\n' "$outward" >&2
  echo "[lint] write the reference as plain text, or link a file of this repository" >&2
  exit 1
fi

# 2. Files and #anchors inside the repository.
exec "$LYCHEE" --config lychee.toml --offline --no-progress -- "${files[@]}"
