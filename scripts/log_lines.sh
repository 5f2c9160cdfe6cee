#!/bin/bash
# What a default-level `peer ... download` prints for a 200 MB file, per build:
#   scripts/log_lines.sh target/release [OTHER_BIN_DIR ...]
# Each BIN_DIR holds `peer` and `tracker_server`; everything runs on 127.0.0.1
# in a temporary folder that is removed afterwards.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR [BIN_DIR ...]" >&2; exit 2; }
for B in "$@"; do
  D=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$D"' EXIT
  mkdir -p "$D/tr" "$D/x/upload" "$D/y"
  head -c 200000000 /dev/urandom > "$D/x/upload/big.bin"
  "$B/tracker_server" --port 0 --data-dir "$D/tr" > "$D/tr.log" 2>&1 &
  for _ in $(seq 1 50); do grep -q 'listening on' "$D/tr.log" && break; sleep 0.1; done
  PORT=$(grep -o 'listening on [^ ]*' "$D/tr.log" | head -1 | sed 's/.*://')
  "$B/peer" 127.0.0.1 "$PORT" --no-dht --home "$D/x" serve > "$D/x.log" 2>&1 &
  for _ in $(seq 1 150); do grep -q big "$D/tr/search_content.txt" 2>/dev/null && break; sleep 0.2; done
  env -u RUST_LOG "$B/peer" 127.0.0.1 "$PORT" --no-dht --home "$D/y" download big.bin > "$D/y.out" 2> "$D/y.err"
  cmp -s "$D/x/upload/big.bin" "$D/y/downloads/big.bin" || { echo "$B: download differs" >&2; exit 1; }
  echo "$B: stderr lines $(wc -l < "$D/y.err"), 'verified' lines $(grep -c verified "$D/y.err" || true)"
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$D"
  trap - EXIT
done
