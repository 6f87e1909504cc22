#!/usr/bin/env bash
# Installs the sluice Python client, offline, for Debian's interpreter.
#
#   client/python/install.sh            # into a venv: $SLUICE_VENV, default ~/.local/share/sluice/venv
#   client/python/install.sh --user     # into ~/.local for /usr/bin/python3 itself
#
# The interpreter is /usr/bin/python3 (override: PYTHON=...), not whatever
# python3 comes first on PATH: another one (pyenv, conda) does not see
# Debian's python3-flatbuffers. The venv is made with --system-site-packages
# for the same reason. python3-flatbuffers is apt-installed when missing
# (root or sudo). Nothing is downloaded from a package index: the build
# backend is in the tree (_build/sluice_build.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-/usr/bin/python3}

if ! "$py" -c 'import flatbuffers' 2>/dev/null; then
  echo "install: $py cannot import flatbuffers; installing python3-flatbuffers"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-flatbuffers
fi

if [[ "${1:-}" == "--user" ]]; then
  # Debian marks its interpreter externally managed (PEP 668); a --user
  # install beside it is the sanctioned exception.
  "$py" -m pip install --user --break-system-packages --no-index "$here"
  echo "install: done; use it with $py"
  exit 0
fi

venv=${SLUICE_VENV:-$HOME/.local/share/sluice/venv}
if [[ ! -x "$venv/bin/python" ]]; then
  "$py" -m venv --system-site-packages "$venv"
fi
"$venv/bin/python" -m pip install --no-index --upgrade "$here"
echo "install: done; use it with $venv/bin/python (e.g. $venv/bin/python -c 'import sluice')"
