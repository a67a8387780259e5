# shellcheck shell=bash
# What compiling the workspace needs besides Rust: librdkafka is built from
# source with TLS (OpenSSL headers, pkg-config and a C toolchain).
# Installed with apt-get when running as root and missing; otherwise a
# clear message says what to install.

ensure_build_deps() {
  local missing=()
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  command -v cc >/dev/null 2>&1 || missing+=(build-essential)
  pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
  if (( ${#missing[@]} == 0 )); then
    return 0
  fi
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "build: missing ${missing[*]}: install them with 'sudo apt-get install -y ${missing[*]}'" >&2
    exit 1
  fi
  echo "build: installing ${missing[*]} with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null \
    || { echo "build: apt-get install ${missing[*]} failed" >&2; exit 1; }
}
