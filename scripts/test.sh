#!/usr/bin/env bash
# Installs the dependencies, builds tapegrad and runs every test twice: in a Release build, then
# under the address and undefined-behaviour sanitizers (the Release run includes the walkthrough
# under valgrind); then every fuzz target for FUZZ_SECONDS (default 60) each. Warnings are errors when CI
# is set.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs="$(nproc)"
werror="OFF"
if [ -n "${CI:-}" ]; then
  werror="ON"
fi

for preset in release sanitize; do
  echo "== ${preset}: configure, build, test"
  cmake --preset "$preset" -DTAPEGRAD_WERROR="$werror" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  ctest --preset "$preset" -j "$jobs"
done

echo "== fuzz: every reader and the command line, ${FUZZ_SECONDS:-60} s each"
fuzz/run.sh
