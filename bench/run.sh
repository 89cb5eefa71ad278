#!/usr/bin/env bash
# Builds tapegrad_bench with the libtorch side (Debian's libtorch-dev) and writes bench/RESULTS.md:
# every case timed in tapegrad and in libtorch in the same process, with their ratio.
#     bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
if ! dpkg-query -W -f='${Status}' libtorch-dev 2>/dev/null | grep -q "install ok installed"; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get install -y -qq --no-install-recommends libtorch-dev >/dev/null
fi
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BENCH_TORCH=ON -DTAPEGRAD_BUILD_TESTS=OFF >/dev/null
cmake --build build/bench -j "$(nproc)" --target tapegrad_bench >/dev/null
build/bench/bench/tapegrad_bench --out bench/RESULTS.md "$@"
echo "wrote bench/RESULTS.md"
