#!/usr/bin/env bash
# Installs what the tests and benchmarks need beyond the Rust toolchain:
# the stock BitTorrent clients used as interop oracles, opentracker (a stock
# UDP tracker, for tests/udp_tracker.rs), and tmux, the terminal the
# full-screen view is tested in, from Debian packages.
set -euo pipefail
PKGS=(aria2 mktorrent transmission-cli python3-libtorrent opentracker tmux)
missing=()
for p in "${PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "setup: ${PKGS[*]} installed"
