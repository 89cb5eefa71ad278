#!/usr/bin/env bash
# Installs the dependencies, builds tapegrad and runs every test: in a Release build; the main job
# under valgrind in a build of its own (no -march=native: valgrind cannot decode AVX-512); every
# test again under the address and undefined-behaviour sanitizers (clang, with libFuzzer's
# coverage); then every fuzz target, built from that same sanitizer build, for FUZZ_SECONDS
# (default 30 here, to keep the whole run under 30 minutes on two cores; fuzz/run.sh alone defaults
# to 60) each. Warnings are errors when CI is set.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
stage() { echo "== $1 (at $((SECONDS - start)) s)"; }

scripts/install-deps.sh
jobs="$(nproc)"
werror="OFF"
if [ -n "${CI:-}" ]; then
  werror="ON"
fi

for preset in release memcheck sanitize; do
  stage "${preset}: configure, build, test"
  cmake --preset "$preset" -DTAPEGRAD_WERROR="$werror" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  ctest --preset "$preset" -j "$jobs"
done

export FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
stage "fuzz: every reader and the command line, ${FUZZ_SECONDS} s each"
FUZZ_BUILD=build/sanitize fuzz/run.sh
stage "all passed"
