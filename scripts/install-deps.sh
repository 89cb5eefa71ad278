#!/usr/bin/env bash
# Installs what tapegrad needs to build, test and run, from Debian's packages only.
# Idempotent: installs only what is missing, and runs `apt-get update` only then.
set -euo pipefail

packages=(
  g++ cmake make                      # toolchain
  libxtensor-dev xtl-dev libxsimd-dev # arrays
  libxtensor-blas-dev libopenblas-dev # matmul through BLAS
  libfmt-dev                          # formatting
  pkgconf                             # the installed copy found through pkg-config (a test)
  doctest-dev                         # tests
  python3-numpy                       # the exercises' NumPy starters, run by the tests
  chromium chromium-driver python3-selenium  # the step-through page, tested in a real browser
  libcli11-dev                        # command line
  nlohmann-json3-dev                  # JSON traces and reports
  zlib1g-dev                          # gzip-compressed data sets
  graphviz                            # rendering graph drawings
  gnuplot-nox                         # training curves
  dataset-fashion-mnist               # the real data set for MLP experiments
  clang libclang-rt-dev libomp-dev    # fuzzing: clang's libFuzzer and sanitizers, OpenMP for clang
  valgrind                            # the memory check of the walkthrough
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
