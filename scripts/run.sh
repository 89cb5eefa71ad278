#!/usr/bin/env bash
# Installs the dependencies, builds tapegrad (Release) and runs the main job: the batch-norm
# walkthrough. Arguments are passed to the `tapegrad` program (try: scripts/run.sh --help), which
# runs in the folder run.sh was started from, so relative paths are read and written there. The
# walkthrough's drawings go to build/walkthrough/ (not into the source tree) unless --out names
# another folder. On a tree that is already built, the same job is
#   build/release/tapegrad walkthrough --out build/walkthrough
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

(
  cd "$root"
  scripts/install-deps.sh
  echo "run.sh: configuring build/release"
  cmake --preset release >/dev/null
  # cmake's own progress ([ 42%] Building ...); a first build takes a few minutes on two cores
  echo "run.sh: building build/release with $(nproc) jobs"
  cmake --build --preset release -j "$(nproc)"
)

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(walkthrough)
if [ "${args[0]}" = walkthrough ] && [[ ! " ${args[*]} " =~ \ --out[\ =] ]]; then
  args+=(--out "$root/build/walkthrough")
fi
echo "run.sh: running build/release/tapegrad ${args[*]}"
exec "$root/build/release/tapegrad" "${args[@]}"
