#!/usr/bin/env bash
# Installs the dependencies, builds tapegrad (Release) and runs the main job.
# Arguments are passed to the `tapegrad` program (try: scripts/run.sh --help).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" >/dev/null
exec build/release/tapegrad "$@"
