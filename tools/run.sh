#!/usr/bin/env bash
# Installs what is missing, builds, and starts sluiced with config/sluiced.toml.
# Extra arguments go to sluiced (e.g. --listen 127.0.0.1:7400 --data-dir /tmp/sluice).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
# Same build dir as tools/test.sh; only the programs are built here.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)" --target sluiced sluicectl
exec build/broker/sluiced --config config/sluiced.toml "$@"
