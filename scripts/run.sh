#!/usr/bin/env bash
# Installs the dependencies, builds tapegrad (Release) and runs the main job.
# Arguments are passed to the `tapegrad` program (try: scripts/run.sh --help).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
echo "run.sh: configuring build/release"
cmake --preset release >/dev/null
# cmake's own progress ([ 42%] Building ...); a first build takes a few minutes on two cores
echo "run.sh: building build/release with $(nproc) jobs"
cmake --build --preset release -j "$(nproc)"
echo "run.sh: running build/release/tapegrad $*"
exec build/release/tapegrad "$@"
