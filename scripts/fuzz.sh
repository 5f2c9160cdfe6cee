#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time, one after another, and keeps
# the new inputs it finds in fuzz/corpus/<target>/ (which tests/fuzz_corpus.rs
# replays on stable). Needs the nightly toolchain and `cargo install cargo-fuzz`.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 60, every target)
#   FUZZ_CMIN=1 scripts/fuzz.sh ...                    also minimise each corpus afterwards
#
# One fuzzing process at a time: the machine running it is usually shared.
# Debug assertions are on (-a), so an arithmetic overflow is a crash too.
# Prints the executions per target and the crashes; exits non-zero on a crash,
# whose input is saved under fuzz/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
logs=$(mktemp -d)
summary=()
crashed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    before=$(find "corpus/$t" -type f | wc -l)
    echo "== $t: fuzzing for ${secs}s (log: $logs/$t.log)"
    cargo +nightly fuzz run -a "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$logs/$t.log" 2>&1
    rc=$?
    if [ "${FUZZ_CMIN:-0}" = 1 ] && [ $rc -eq 0 ]; then
        cargo +nightly fuzz cmin -a "$t" "corpus/$t" >>"$logs/$t.log" 2>&1
    fi
    after=$(find "corpus/$t" -type f | wc -l)
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$logs/$t.log" | grep -oE '[0-9]+$' | tail -1)
    rate=$(grep -oE 'exec/s: [0-9]+' "$logs/$t.log" | tail -1 | grep -oE '[0-9]+')
    cov=$(grep -oE 'cov: [0-9]+' "$logs/$t.log" | tail -1 | grep -oE '[0-9]+')
    if [ $rc -ne 0 ]; then
        crashed=1
        artifact=$(grep -oE 'artifacts/[^ ]+' "$logs/$t.log" | head -1)
        summary+=("$t: CRASH after ${runs:-?} executions: fuzz/${artifact:-artifacts/$t} (see $logs/$t.log)")
        grep -m3 -E 'panicked at|ERROR: libFuzzer' "$logs/$t.log" | sed 's/^/    /'
    else
        summary+=("$t: ${runs:-?} executions in ${secs}s (${rate:-?} exec/s), cov ${cov:-?}, corpus ${before} -> ${after} files, no crash")
    fi
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $crashed
