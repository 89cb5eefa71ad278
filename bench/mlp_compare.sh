#!/usr/bin/env bash
# One epoch-time comparison in one run: tapegrad and PyTorch (Debian's python3-torch) train the
# same 784-256-128-10 MLP with batch norm and ReLU on Fashion-MNIST, Adam 1e-3, batch 128,
# float32, one thread, one after the other. Run by hand, not in CI:
#     bench/mlp_compare.sh [EPOCHS]
# It prints both logs and the ratio of median epoch times (tapegrad / PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-10}"
scripts/install-deps.sh >/dev/null
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "mlp_compare: needs PyTorch: apt-get install python3-torch" >&2
  exit 1
fi
cmake --preset release >/dev/null && cmake --build --preset release -j "$(nproc)" >/dev/null

out="$(mktemp -d)"
echo "== tapegrad (build/release/tapegrad train --bn fused --threads 1 --epochs $epochs)"
build/release/tapegrad train --bn fused --threads 1 --epochs "$epochs" --quiet | tee "$out/tapegrad.txt"
echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') (bench/mlp_pytorch.py --threads 1 --epochs $epochs)"
/usr/bin/python3 bench/mlp_pytorch.py --threads 1 --epochs "$epochs" | tee "$out/torch.txt"

median() { grep -oE '[0-9.]+ s$' "$1" | sed 's/ s//' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
best() { grep -oE 'test acc [0-9.]+' "$1" | awk '{print $3}' | sort -n | tail -1; }
t=$(median "$out/tapegrad.txt"); p=$(median "$out/torch.txt")
echo
echo "| | median epoch (s) | best test accuracy | final test accuracy |"
echo "|---|---|---|---|"
echo "| tapegrad | $t | $(best "$out/tapegrad.txt") | $(grep -oE 'test acc [0-9.]+' "$out/tapegrad.txt" | tail -1 | awk '{print $3}') |"
echo "| PyTorch | $p | $(best "$out/torch.txt") | $(grep -oE 'test acc [0-9.]+' "$out/torch.txt" | tail -1 | awk '{print $3}') |"
echo
awk -v t="$t" -v p="$p" 'BEGIN {printf "epoch time ratio tapegrad / PyTorch = %.2f\n", t / p}'
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(date -u +%Y-%m-%d)"
