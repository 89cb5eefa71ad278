#!/usr/bin/env bash
# Fuzzes every reader and the command line with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer: builds the targets with clang in build/fuzz, then runs each for
# FUZZ_SECONDS (default 60), two at a time, from the seed corpus (fuzz/corpus) and the kept
# regressions (fuzz/regressions). Exits non-zero, naming the input, if any target fails.
#   fuzz/run.sh                      all targets, a minute each
#   FUZZ_SECONDS=600 fuzz/run.sh npy one target, ten minutes
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy idx csv checkpoint cli)
# FUZZ_BUILD names a build already configured with TAPEGRAD_FUZZ (scripts/test.sh passes the
# sanitize preset's, which has everything but the targets' own files compiled); otherwise
# build/fuzz is configured here.
build=${FUZZ_BUILD:-build/fuzz}

if [ -z "${FUZZ_BUILD:-}" ]; then
  werror=OFF
  [ -n "${CI:-}" ] && werror=ON
  CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_FUZZ=ON -DTAPEGRAD_BUILD_TESTS=OFF \
      -DTAPEGRAD_BUILD_BENCH=OFF -DTAPEGRAD_WERROR="$werror" >/dev/null
fi
cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}" >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scratch=$work
if [ -d /dev/shm ] && [ -w /dev/shm ]; then scratch=$(mktemp -d /dev/shm/tapegrad-fuzz.XXXXXX); trap 'rm -rf "$work" "$scratch"' EXIT; fi

fuzz_one() {
    local t=$1
    mkdir -p "$work/corpus_$t"
    cp fuzz/corpus/"$t"/* "$work/corpus_$t/"
    local dirs=("$work/corpus_$t")
    [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
    if TMPDIR=$scratch "$build/fuzz/fuzz_$t" "${dirs[@]}" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
        -close_fd_mask=3 -artifact_prefix="$work/$t-" >"$work/$t.log" 2>&1; then
        echo "fuzz_$t: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$work/$t.log" | tail -1), nothing found"
    else
        echo "fuzz_$t FAILED; the sanitizer's report:"
        grep -E 'ERROR|SUMMARY|#[0-9]+ 0x|deadly|uncaught|out-of-memory|timeout' "$work/$t.log" | head -40
        for f in "$work/$t"-*; do
            [ -e "$f" ] || continue
            mkdir -p build/fuzz/findings && cp "$f" build/fuzz/findings/
            echo "input: build/fuzz/findings/$(basename "$f")"
            echo "reproduce: $build/fuzz/fuzz_$t build/fuzz/findings/$(basename "$f")"
            echo "after the fix, keep it as a test: cp build/fuzz/findings/$(basename "$f") fuzz/regressions/$t/<what-it-broke>"
        done
        return 1
    fi
}

status=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
    pids=()
    for t in "${targets[@]:i:2}"; do
        fuzz_one "$t" & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || status=1; done
done
exit $status
