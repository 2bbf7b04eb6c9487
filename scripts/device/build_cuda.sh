#!/usr/bin/env bash
# Runs ON the lent GPU machine: builds wrn against the CUDA LibTorch inside its PyTorch 2.x,
# with the Debian libraries packed by make_sysroot.sh (carried as .carry), then runs the
# tests given as arguments (a ctest -R/-L expression, default: the gpu label and the golden tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD/.carry/sysroot/usr
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH=$root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# cuDNN and NCCL headers: the CUDA toolkit folder, else the nvidia-* wheels beside torch.
find_in_nvidia() {
  python3 -c 'import sys, pathlib
try:
    import nvidia
    roots = list(nvidia.__path__)
except ImportError:
    roots = []
for p in ["/usr/local/cuda"] + roots:
    hit = sorted(pathlib.Path(p).rglob(sys.argv[1]))
    if hit:
        print(hit[0]); break' "$1"
}
cudnn_h=$(find_in_nvidia cudnn.h)
cudnn_so=$(find_in_nvidia 'libcudnn.so*')
nccl_h=$(find_in_nvidia nccl.h)
echo "cudnn.h: ${cudnn_h:-none}  libcudnn: ${cudnn_so:-none}  nccl.h: ${nccl_h:-none}"
generator=Ninja
command -v ninja >/dev/null || generator="Unix Makefiles"
cmake -S . -B build-cuda -G "$generator" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$root" -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_LIBRARY_PATH="$root/lib/x86_64-linux-gnu" -DCMAKE_INCLUDE_PATH="$root/include" \
  -DCAFFE2_USE_CUDNN=ON ${cudnn_h:+-DCUDNN_INCLUDE_PATH="$(dirname "$cudnn_h")"} \
  ${cudnn_so:+-DCUDNN_LIBRARY_PATH="$cudnn_so"} ${nccl_h:+-DWRN_NCCL_ROOT="$(dirname "$(dirname "$nccl_h")")"} \
  ${WRN_CMAKE_ARGS:-}
cmake --build build-cuda -j "$(nproc)" --target ${WRN_TARGETS:-all}
