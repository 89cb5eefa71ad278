#!/usr/bin/env bash
# Installs the dependencies, builds tapegrad and runs every test twice: in a Release build, then
# under the address and undefined-behaviour sanitizers. Warnings are errors when CI is set.
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
