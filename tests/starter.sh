#!/usr/bin/env bash
# The exercise's C++ starter, built as a learner builds it, against this build tree with nothing
# installed: by the CMakeLists.txt that `tapegrad exercise bn` writes beside it (find_package on the
# build tree, no tapegrad source compiled again), and by the README's one g++ line with the build
# tree's pkg-config file. Each program runs on the exercise and `tapegrad check` grades what it wrote.
# Usage: tests/starter.sh TAPEGRAD BUILD_DIR WORK_DIR
set -euo pipefail
tapegrad="$1" build="$2" work="$3"
rm -rf "$work"
mkdir -p "$work"
"$tapegrad" exercise bn --out "$work/ex" >/dev/null

# 1. cmake, as the starter's own comment says
cmake -S "$work/ex/cpp" -B "$work/ex/cpp/build" >/dev/null
cmake --build "$work/ex/cpp/build" >/dev/null
compiled="$(find "$work/ex/cpp/build" -name '*.o' | wc -l)"
if [ "$compiled" -ne 1 ]; then
  echo "starter.sh: the starter's build compiled $compiled files; expected 1 (bn_backward.cpp alone)" >&2
  exit 1
fi
"$work/ex/cpp/build/bn_backward" "$work/ex" >/dev/null
"$tapegrad" check --mine "$work/ex" | grep -q "6 of 17 given"

# 2. one g++ line (the README's), with the build tree's pkg-config file
pc_include="$(PKG_CONFIG_PATH="$build" pkg-config --variable=includedir tapegrad)"
test -f "$pc_include/tapegrad.hpp"
rm "$work/ex"/{mu,xc,sigma2,std,xhat,y}.npy  # what the first build's program wrote
# shellcheck disable=SC2046  # the flags are words
g++ -std=c++17 -O1 "$work/ex/cpp/bn_backward.cpp" -o "$work/bn_backward" $(PKG_CONFIG_PATH="$build" pkg-config --cflags --libs tapegrad)
"$work/bn_backward" "$work/ex" >/dev/null
"$tapegrad" check --mine "$work/ex" | grep -q "6 of 17 given"
echo "starter.sh: the C++ starter built against $build by cmake (1 file compiled) and by g++ with pkg-config; both checked"
