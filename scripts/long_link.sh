#!/usr/bin/env bash
# One download over a long link: our seeder behind a proxy that delays each direction by
# DELAY seconds (default 0.3, so a 600 ms round trip), 16 MiB, our leecher dialling it.
# Prints the download's seconds; the request pipeline must grow to cover the round trip.
#
#   scripts/long_link.sh [DELAY]        (uses target/release; run `cargo build --release` first)
set -euo pipefail
cd "$(dirname "$0")/.."
DELAY=${1:-0.3}
BIN=${BENCH_BIN:-target/release}
W=$(mktemp -d /tmp/swarmshare-long-link.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
wait_line() { # FILE REGEX -> first capture group
    for _ in $(seq 100); do
        if m=$(grep -oP "$2" "$1" 2>/dev/null | head -1) && [ -n "$m" ]; then echo "$m"; return; fi
        sleep 0.1
    done
    echo "long_link: timed out waiting for '$2' in $1" >&2
    exit 1
}
mkdir -p "$W/tracker" "$W/seed/upload" "$W/leech"
head -c $((16 * 1024 * 1024)) /dev/urandom > "$W/seed/upload/f.bin"
"$BIN/tracker_server" --ip 127.0.0.1 --port 0 --data-dir "$W/tracker" > "$W/tracker.log" 2>&1 & pids+=($!)
tport=$(wait_line "$W/tracker.log" 'listening on [0-9.]+:\K\d+')
"$BIN/peer" --no-dht --home "$W/seed" 127.0.0.1 "$tport" serve > "$W/seed.log" 2>&1 & pids+=($!)
sport=$(wait_line "$W/seed.log" 'peer listening on [0-9.]+:\K\d+')
wait_line "$W/seed.log" 'published f\.bin' > /dev/null
pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 scripts/bench/delay_proxy.py "$pport" "$sport" "$DELAY" & pids+=($!)
sleep 0.3
# The leecher gets no tracker (a closed port), so its one peer is the seeder behind the proxy.
timeout 300 "$BIN/peer" --no-dht --home "$W/leech" 127.0.0.1 1 --connect "127.0.0.1:$pport" \
    download --torrent "$W/seed/torrents/f.bin.torrent" --json > "$W/out.json" 2> "$W/leech.log" || {
    echo "long_link: the download did not finish; see the leecher's last lines:" >&2
    tail -3 "$W/leech.log" >&2
    exit 1
}
cmp -s "$W/seed/upload/f.bin" "$W/leech/downloads/f.bin"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("16 MiB over a %.0f ms round trip: %.1f s, %.2f MB/s" % (2000*float(sys.argv[2]), d["seconds"], 16*1048576/d["seconds"]/1e6))' "$W/out.json" "$DELAY"
