#!/usr/bin/env bash
# Runs ON the lent GPU machine: builds wrn against the CUDA LibTorch inside its PyTorch 2.x,
# with the Debian libraries packed by make_sysroot.sh (carried as .carry), then runs the
# tests given as arguments (a ctest -R/-L expression, default: the gpu label and the golden tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD/.carry/sysroot/usr
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH=$root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$root" -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_LIBRARY_PATH="$root/lib/x86_64-linux-gnu" -DCMAKE_INCLUDE_PATH="$root/include" \
  -DCAFFE2_USE_CUDNN=ON ${WRN_CMAKE_ARGS:-}
cmake --build build-cuda -j "$(nproc)" --target ${WRN_TARGETS:-all}
