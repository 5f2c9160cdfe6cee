#!/usr/bin/env bash
# swarmshare beside stock software, measured in one invocation on this machine.
#
#   scripts/bench.sh [throughput|swarm|tracker|hash|magnet|all]...     (default: all)
#
# Prints each case's table (medians, each figure beside its reference, with ratios) and
# replaces that case's section of BENCHMARKS.md. It never fails on a slow figure: it
# measures and records. Processes it starts live in a temp folder under /tmp, listen on
# 127.0.0.1 only, and are stopped on exit, even on Ctrl-C.
#
# References, installed from Debian when missing: python3-libtorrent (driven by
# /usr/bin/python3), opentracker, wrk; mktorrent makes the flash-crowd torrent.
#
# Knobs (environment):
#   BENCH_QUICK=1          small sizes, one run each, no BENCHMARKS.md (a check of the harness, ~2 min)
#   BENCH_RUNS=N           runs per throughput/tracker/hash measurement (3)
#   BENCH_SWARM_RUNS=N     runs per swarm size (2; each is 35-70 s per client)
#   BENCH_SIZE_MB=M        throughput and hash file, MiB (1024)
#   BENCH_SWARM_MB=M       flash-crowd file, MiB (64)     BENCH_SWARM_N="10 20"   leecher counts
#   BENCH_SWARM_RATE=BPS   upload limit of every swarm peer, bytes/s (2000000)
#   BENCH_LT_SUPERSEED=1   also run libtorrent with BEP 16 super-seeding in the swarm case
#   BENCH_SWARM_CLIENTS=ours   only these swarm clients (ours, lt, lt-ss): quicker iterations on ours
#   BENCH_LT_PRESET=default  libtorrent's default settings in the throughput case (else high_performance_seed)
#   BENCH_WRK_SECS=S       seconds per wrk run (5)        BENCH_TORRENTS=N        search index size (100000)
#   BENCH_NO_BUILD=1       skip `cargo build --release`   BENCH_BIN=DIR           binaries (target/release)
#   BENCH_OUT=FILE         where the tables go (BENCHMARKS.md; quick runs write nothing unless set)
#   BENCH_KEEP=1           keep the temp folder and its logs
set -euo pipefail
cd "$(dirname "$0")/.."

for arg in "$@"; do
    case "$arg" in
        throughput | swarm | tracker | hash | magnet | all) ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "usage: scripts/bench.sh [throughput|swarm|tracker|hash|magnet|all]..." >&2
            exit 2
            ;;
    esac
done

# The reference software, from Debian packages, only when something is missing.
need=()
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || need+=(python3-libtorrent)
command -v opentracker >/dev/null || need+=(opentracker)
command -v wrk >/dev/null || need+=(wrk)
command -v mktorrent >/dev/null || need+=(mktorrent)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "bench: installing ${need[*]}"
    $SUDO apt-get update -qq
    # (On a machine with systemd, Debian also starts an opentracker service on 6969; we use our own ports.)
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
    echo "bench: cargo build --release"
    cargo build --release --quiet
fi

export BENCH_COMMAND="scripts/bench.sh${*:+ $*}"
exec /usr/bin/python3 scripts/bench/bench.py "$@"
