#!/usr/bin/env bash
# Installs every Debian package sluice needs to build, test and benchmark.
# Idempotent: does nothing when everything is present. Needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config python3
  libboost1.81-dev librocksdb-dev libflatbuffers-dev flatbuffers-compiler
  liburing-dev libxxhash-dev libgtest-dev libgmock-dev libbenchmark-dev
  libspdlog-dev libfmt-dev libtomlplusplus-dev libcli11-dev libjemalloc-dev
  libssl-dev
)
# TLS (src/tls): OpenSSL's headers and libraries; the openssl CLI makes the
# certificates of the TLS tests (tests/support/make_test_pki.sh).
PKGS+=(libssl-dev openssl)
# The Python client (client/python) and its tests: Debian's interpreter sees
# these, another python3 ahead of it on PATH may not (tests name /usr/bin/python3).
# python3-torch (CPU) runs the torch batch worker's test.
PKGS+=(python3-flatbuffers python3-pytest python3-torch)
# The .deb and its test (tests/packaging): dpkg-shlibdeps (dpkg-dev) and file
# compute Depends for cpack -G DEB; systemd-analyze (systemd) verifies the unit.
PKGS+=(dpkg-dev file systemd)
# Peers for the comparison benchmark (bench/peers); small, so always installed.
PKGS+=(beanstalkd redis-server)
# promtool (tests/integration/http_metrics_test.cc checks a live /metrics
# scrape with `promtool check metrics`). Debian ships it in the prometheus
# package: a 19 MB download, 96 MB installed (the server comes with it).
PKGS+=(prometheus)
# The dashboard's browser test (tests/browser/dashboard_test.py) drives a
# headless Chromium through chromedriver's WebDriver protocol: both from
# Debian (no browser download at run time).
PKGS+=(chromium chromium-driver)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
