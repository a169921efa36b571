#!/usr/bin/env bash
# Install promtool and prometheus (Debian's `prometheus` package) when either is missing.
#
# Used by CI before the tests (tests/test_prometheus_rules.py, tests/test_dashboards.py need
# promtool; the end-to-end test needs the prometheus server binary). Idempotent: does nothing
# when both are on PATH. Does not depend on systemd and leaves no service running: during the
# install a policy-rc.d forbids the package's maintainer scripts to start the daemon.
#
# Usage: scripts/install-prometheus.sh        (as root, or with sudo available)
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  promtool --version 2>&1 | head -n 1
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-prometheus.sh: need root (or sudo) to apt-get install prometheus" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-prometheus.sh: apt-get not found; install promtool/prometheus (>= 2.42) by other means" >&2
  exit 1
fi

# Keep the package's postinst from starting a prometheus daemon (no init system here, or a CI
# machine that must not keep a listener on :9090). Only add the policy if there is none.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 0755 "$POLICY"
  ADDED_POLICY=1
fi
cleanup() {
  if [ "$ADDED_POLICY" = 1 ]; then $SUDO rm -f "$POLICY"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null

command -v promtool >/dev/null 2>&1 || { echo "install-prometheus.sh: promtool still missing" >&2; exit 1; }
command -v prometheus >/dev/null 2>&1 || { echo "install-prometheus.sh: prometheus still missing" >&2; exit 1; }
promtool --version 2>&1 | head -n 1
