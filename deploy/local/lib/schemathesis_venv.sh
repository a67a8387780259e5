# shellcheck shell=bash
# The pinned Schemathesis in a virtualenv of its own (sourced, never run).

# schemathesis_venv REQUIREMENTS CACHE_DIR: sets ST_VENV to a virtualenv under
# CACHE_DIR holding exactly REQUIREMENTS. Reused while REQUIREMENTS is
# unchanged: its digest is written into the venv last, so a venv without it
# (an interrupted install, older pins) is rebuilt from scratch. Built in place:
# a virtualenv's scripts name its path and do not survive a move.
schemathesis_venv() {
  local requirements="$1" cache="$2" version digest venv
  version="$(sed -n 's/^schemathesis==//p' "$requirements")"
  [[ -n "$version" ]] || { echo "no schemathesis==<version> line in $requirements" >&2; return 1; }
  digest="$(sha256sum "$requirements" | cut -d' ' -f1)"
  venv="$cache/schemathesis-$version"
  ST_VENV="$venv"
  if [[ "$(cat "$venv/.complete" 2>/dev/null)" == "$digest" ]]; then
    return 0
  fi
  mkdir -p "$cache"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    # Debian splits venv support out of python3.
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "[schemathesis] installing python3-venv" >&2
      { apt-get update -qq && apt-get install -y -qq python3-venv; } >/dev/null || { echo "apt-get install python3-venv failed" >&2; return 1; }
      python3 -m venv "$venv" || return 1
    else
      echo "python3 -m venv failed: install python3-venv (apt-get install -y python3-venv)" >&2
      return 1
    fi
  fi
  echo "[schemathesis] installing Schemathesis $version into $venv (once)" >&2
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$requirements" >&2; then
    rm -rf "$venv"
    echo "pip could not install $requirements" >&2
    return 1
  fi
  printf '%s\n' "$digest" >"$venv/.complete"
}
