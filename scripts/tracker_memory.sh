#!/usr/bin/env bash
# The tracker's memory with a million peers, and after they are gone.
#
#   scripts/tracker_memory.sh
#
# Starts tracker_server on 127.0.0.1 (RUST_LOG=warn, --udp-rate-limit 0: the whole
# load comes from one address), prints its VmRSS empty, with MEM_PEERS peers in
# MEM_SWARMS swarms (random info-hashes and peer ids, a port of its own for each
# peer of a swarm) announced over UDP (BEP 15: a connect, then the announces
# pipelined on a non-blocking socket, replies counted, missing ones resent), and
# once UDP scrapes of a sample of the swarms show no peer left (polled, with a
# deadline) and RSS has settled after the expiry sweep's malloc_trim. Then
# opentracker's VmRSS empty and under the same load; it asks for announces every
# ~30 min and drops silent peers only after 45 (compiled in), so it is not waited
# for. Prints a Markdown table.
#
# Knobs: MEM_PEERS (1000000), MEM_SWARMS (100000), MEM_INTERVAL (our --interval,
# 10: a peer is dropped after two intervals of silence, so with --interval 1 the
# first peers would expire 2 s after their announce, before the load is in; the
# load takes about 6 s here, and a warning says when it outlasts two intervals),
# MEM_WINDOW (unanswered announces at a time, 1024), MEM_NO_BUILD=1 (skip
# `cargo build --release`). About a minute with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v opentracker >/dev/null || scripts/setup.sh
[ "${MEM_NO_BUILD:-}" = 1 ] || cargo build --release --quiet
exec python3 scripts/bench/tracker_memory.py
