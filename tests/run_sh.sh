#!/usr/bin/env bash
# scripts/run.sh as a user runs it on a built tree, from another folder: the main job runs, and the
# walkthrough's drawings land in build/walkthrough/, not in the source tree or the caller's folder.
# Usage: tests/run_sh.sh WORK_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$1"
rm -rf "$work" "$root/build/walkthrough"
mkdir -p "$work"
cd "$work"
"$root/scripts/run.sh" >"$work/out.txt"
grep -q "^Batch norm, step by step" "$work/out.txt"
grep -q "Graph written to $root/build/walkthrough/bn_composite.dot" "$work/out.txt"
test -f "$root/build/walkthrough/bn_composite.dot"
for folder in "$root" "$work"; do
  if compgen -G "$folder/bn_composite.*" >/dev/null; then
    echo "run_sh.sh: the walkthrough wrote into $folder" >&2
    exit 1
  fi
done
echo "run_sh.sh: the main job wrote its drawings to build/walkthrough/ only"
