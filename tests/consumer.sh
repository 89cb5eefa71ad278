#!/usr/bin/env bash
# Installs this build into a fresh prefix and builds examples/consumer against it, the way a
# program of its own would: `cmake` (find_package(tapegrad)) or `pkg-config` (tapegrad.pc).
# Usage: tests/consumer.sh cmake|pkg-config BUILD_DIR WORK_DIR
set -euo pipefail
mode="$1" build="$2" work="$3"
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -x "$work/prefix/bin/tapegrad"
"$work/prefix/bin/tapegrad" --version

case "$mode" in
  cmake)
    cmake -S "$source_dir/examples/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
    cmake --build "$work/build" >/dev/null
    program="$work/build/consumer"
    ;;
  pkg-config)
    libdir="$(find "$work/prefix" -name tapegrad.pc -printf '%h')"
    flags="$(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs tapegrad)"
    # shellcheck disable=SC2086  # the flags are words
    g++ -std=c++17 -O2 "$source_dir/examples/consumer/main.cpp" -o "$work/consumer" $flags
    program="$work/consumer"
    ;;
  *)
    echo "consumer.sh: mode must be cmake or pkg-config, got '$mode'" >&2
    exit 2
    ;;
esac

output="$("$program")"
echo "$output"
grep -q "^composite nodes" <<<"$output"
grep -q "^fused     nodes" <<<"$output"
grep -q ": they agree$" <<<"$output"
