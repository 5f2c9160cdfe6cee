#!/usr/bin/env bash
# The tracker's memory with a million peers, and after they are gone.
#
#   scripts/tracker_memory.sh          (MEM_PEERS=1000000 MEM_SWARMS=100000 MEM_INTERVAL=60)
#
# Starts tracker_server on 127.0.0.1, announces MEM_PEERS peers in MEM_SWARMS
# swarms over UDP (BEP 15), prints its RSS empty, loaded, and once a UDP scrape
# of a sample of the swarms shows them empty (two intervals later); then
# opentracker's RSS under the same load. Takes about 2.5 min with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v opentracker >/dev/null || scripts/setup.sh
[ "${MEM_NO_BUILD:-}" = 1 ] || cargo build --release --quiet
exec python3 scripts/bench/tracker_memory.py
