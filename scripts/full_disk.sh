#!/usr/bin/env bash
# A 16 MiB download onto a 6 MiB tmpfs (a really full disk), for SECONDS at most:
# prints how the downloader ended, how many error lines it wrote, and how many
# bytes the seeder sent. Needs root (mount). Usage:
#   scripts/full_disk.sh [PEER_BINARY] [SECONDS]
# PEER_BINARY defaults to target/release/peer; give an older build to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release
PEER=${1:-$BIN/peer}
SECS=${2:-20}

WORK=$(mktemp -d -t swarmshare-fulldisk.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    umount -l "$WORK/c/downloads" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/a/upload" "$WORK/c/downloads"
head -c $((16 << 20)) /dev/urandom >"$WORK/a/upload/full.bin"
touch -d '-1 min' "$WORK/a/upload/full.bin"

"$BIN/tracker_server" --ip 127.0.0.1 --port 0 --interval 5 --data-dir "$WORK/tr" >"$WORK/tr.out" 2>&1 &
PIDS+=($!)
until grep -qs 'listening on' "$WORK/tr.out"; do sleep 0.1; done
PORT=$(grep -o 'listening on [^ ]*:[0-9]*' "$WORK/tr.out" | head -n1 | grep -o '[0-9]*$')
RUST_LOG=warn "$BIN/peer" 127.0.0.1 "$PORT" --no-dht --home "$WORK/a" serve >"$WORK/a.out" 2>&1 &
SEEDER=$!
PIDS+=($SEEDER)
until curl -s "http://127.0.0.1:$PORT/search?q=full" | grep -q '"peers":\["'; do sleep 0.2; done

mount -t tmpfs -o size=6m tmpfs "$WORK/c/downloads"
start=$(date +%s%N)
rc=0
RUST_LOG=warn timeout "$SECS" "$PEER" 127.0.0.1 "$PORT" --home "$WORK/c" download full.bin \
    >"$WORK/c.out" 2>"$WORK/c.err" || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
kill -TERM "$SEEDER"
wait "$SEEDER" || true
echo "downloader: exit $rc after $ms ms ($([ "$rc" = 124 ] && echo 'still running, stopped by timeout' || echo 'ended by itself'))"
echo "error lines: $(grep -c 'cannot write' "$WORK/c.err" || true) of $(wc -l <"$WORK/c.err") stderr lines; last: $(tail -c 300 "$WORK/c.err" | tail -n 1)"
sent=$("$BIN/peer" 127.0.0.1 "$PORT" --no-dht --home "$WORK/a" peers --json |
    python3 -c 'import json,sys; print(sum(r["uploaded"] for r in json.load(sys.stdin)))')
echo "seeder sent $sent bytes for a $((16 << 20))-byte file"
