#!/usr/bin/env bash
# Announce p99 latency of tracker_server with and without 2,000 slow connections held open.
#
#   scripts/bench_tracker_attack.sh [TRACKER_BIN]     (default: target/release/tracker_server, built first)
#
# Prints one table: no attack; 2,000 slow clients from 200 loopback addresses; 2,000 from
# 127.0.0.1 alone (most turned away by --max-conns-per-ip). Loopback only, about a minute.
# Knobs (environment): ATTACK_SLOW=N slow connections (2000), ATTACK_ANNOUNCES=N timed
# announces per case (4000), ATTACK_CLIENTS=N announcing at once (4), ATTACK_LINE_SECS=S
# between a slow client's header lines (2), ATTACK_TRACKER_ARGS="..." extra tracker flags.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-}"
if [ -z "$bin" ]; then
    cargo build --release --quiet --bin tracker_server
    bin=target/release/tracker_server
fi
exec python3 scripts/bench/tracker_attack.py "$bin"
