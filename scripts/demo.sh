#!/usr/bin/env bash
# The one-command demo: a tracker, two seeders and a downloader on 127.0.0.1.
# It searches, downloads with progress, kills the downloader with SIGKILL half
# way, restarts it, shows the resume, and checks the file byte for byte.
# Every process it starts is stopped on exit, even on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${DEMO_SIZE_MB:-8}
RATE=${DEMO_RATE:-256K}   # per seeder; two seeders make the download last ~16 s

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building (cargo build --release)"
cargo build --release --quiet
BIN=$PWD/target/release

WORK=$(mktemp -d -t swarmshare-demo.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to $1 seconds for a command to succeed.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        [ $SECONDS -lt $deadline ] || { echo "demo: timed out waiting for: $*" >&2; exit 1; }
        sleep 0.2
    done
}

# Reads "... listening on ADDR:PORT" from a log file.
port_of() { sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$1" | head -n1; }

say "starting tracker_server on 127.0.0.1 (data in $WORK/tracker)"
"$BIN/tracker_server" --ip 127.0.0.1 --port 0 --data-dir "$WORK/tracker" --interval 5 >"$WORK/tracker.log" 2>&1 &
PIDS+=($!)
wait_for 10 grep -q "listening on" "$WORK/tracker.log"
TPORT=$(port_of "$WORK/tracker.log")
echo "tracker at 127.0.0.1:$TPORT"

say "two seeders share the same ${SIZE_MB} MiB file, each limited to $RATE/s upload"
mkdir -p "$WORK/seeder1/upload/movies" "$WORK/seeder2/upload" "$WORK/downloader"
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$WORK/seeder1/upload/movies/got5.mp4"
cp "$WORK/seeder1/upload/movies/got5.mp4" "$WORK/seeder2/upload/got5.mp4"
cp -r upload/docs "$WORK/seeder1/upload/"
touch -d '-5 seconds' "$WORK"/seeder*/upload/got5.mp4 "$WORK"/seeder1/upload/movies/got5.mp4
for s in seeder1 seeder2; do
    "$BIN/peer" 127.0.0.1 "$TPORT" --no-dht --home "$WORK/$s" --upload-rate "$RATE" serve >"$WORK/$s.log" 2>&1 &
    PIDS+=($!)
done
listed() { "$BIN/peer" 127.0.0.1 "$TPORT" --no-dht search got5 --json 2>/dev/null | grep -c '"127.0.0.1:' | grep -q '^2$'; }
wait_for 30 listed

say "peer 127.0.0.1 $TPORT search got5"
"$BIN/peer" 127.0.0.1 "$TPORT" --no-dht search got5
echo
echo "search_content.txt on the tracker:"
sed 's/^/  /' "$WORK/tracker/search_content.txt"

say "downloading; it will be killed with SIGKILL half way"
"$BIN/peer" 127.0.0.1 "$TPORT" --no-dht --home "$WORK/downloader" download got5.mp4 &
DL=$!
PIDS+=($DL)
KEY=$("$BIN/peer" 127.0.0.1 "$TPORT" --no-dht search got5 --json | sed -n 's/.*"key": "\([0-9a-f]*\)".*/\1/p' | head -n1)
RESUME="$WORK/downloader/.swarmshare/resume/$KEY.json"
half() {
    [ -f "$RESUME" ] || return 1
    local hex have=0 total
    hex=$(sed -n 's/.*"have":"\([0-9a-f]*\)".*/\1/p' "$RESUME")
    total=$(sed -n 's/.*"pieces":\([0-9]*\).*/\1/p' "$RESUME")
    for ((i = 0; i < ${#hex}; i += 2)); do
        local b=$((16#${hex:i:2}))
        while ((b)); do have=$((have + (b & 1))); b=$((b >> 1)); done
    done
    [ "$have" -ge $((total / 2)) ]
}
wait_for 120 half
kill -9 "$DL"
wait "$DL" 2>/dev/null || true
echo
echo "*** downloader killed with SIGKILL ***"

say "restarting the same command: it keeps every verified part"
"$BIN/peer" 127.0.0.1 "$TPORT" --no-dht --home "$WORK/downloader" download got5.mp4

say "checking the result against the original"
if cmp "$WORK/seeder1/upload/movies/got5.mp4" "$WORK/downloader/downloads/got5.mp4"; then
    echo "resumed download verified: byte-identical to the original ($(sha1sum <"$WORK/downloader/downloads/got5.mp4" | cut -c1-40))"
else
    echo "demo: the downloaded file differs from the original" >&2
    exit 1
fi
