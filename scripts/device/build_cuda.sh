#!/usr/bin/env bash
# Runs ON the lent GPU machine: builds wrn against the CUDA LibTorch inside its PyTorch 2.x,
# with the Debian libraries packed by make_sysroot.sh (carried as .carry). Environment:
# BUILD [build-cuda], WRN_TARGETS [all], WRN_CMAKE_ARGS (e.g. -DWRN_WITH_NCCL=ON -DWRN_WITH_ONNX=OFF).
# scripts/device/gpu_check.sh calls it, then runs the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD/.carry/sysroot/usr
build=${BUILD:-build-cuda}
export LD_LIBRARY_PATH=$root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# cuDNN and NCCL: the nvidia-* wheels torch was installed with first (nccl.h must be the NCCL
# torch was built against: wrn allocates ProcessGroupNCCL's options itself), then the toolkit.
find_in_nvidia() {
  python3 -c 'import sys, pathlib
try:
    import nvidia
    roots = list(nvidia.__path__)
except ImportError:
    roots = []
for p in roots + ["/usr/local/cuda"]:
    hit = sorted(pathlib.Path(p).rglob(sys.argv[1]))
    if hit:
        print(hit[0]); break' "$1"
}
cudnn_h=$(find_in_nvidia cudnn.h)
cudnn_so=$(find_in_nvidia 'libcudnn.so*')
nccl_h=$(find_in_nvidia nccl.h)
echo "cudnn.h: ${cudnn_h:-none}  libcudnn: ${cudnn_so:-none}  nccl.h: ${nccl_h:-none}"
if [ -n "$nccl_h" ]; then
  echo "nccl.h version $(grep -h -m3 -E '#define NCCL_(MAJOR|MINOR|PATCH)' "$nccl_h" | awk '{printf "%s.", $3}')" \
    "torch's NCCL $(python3 -c 'import torch; print(torch.cuda.nccl.version())')"
fi
generator=Ninja
command -v ninja >/dev/null || generator="Unix Makefiles"
# The same CMake as every build (cmake/WrnTorch.cmake): LibTorch from this machine's python3.
cmake -S . -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
  -DWRN_PYTHON="$(command -v python3)" -DCMAKE_PREFIX_PATH="$root" -DTORCH_CUDA_ARCH_LIST=9.0 \
  -DCMAKE_LIBRARY_PATH="$root/lib/x86_64-linux-gnu" -DCMAKE_INCLUDE_PATH="$root/include" \
  -DCAFFE2_USE_CUDNN=ON ${cudnn_h:+-DCUDNN_INCLUDE_PATH="$(dirname "$cudnn_h")"} \
  ${cudnn_so:+-DCUDNN_LIBRARY_PATH="$cudnn_so"} ${nccl_h:+-DWRN_NCCL_ROOT="$(dirname "$(dirname "$nccl_h")")"} \
  ${WRN_CMAKE_ARGS:-}
# -k 0: every target that can build does, so one run shows every compile error.
if [ "$generator" = Ninja ]; then keep=(-- -k 0); else keep=(-- -k); fi
cmake --build "$build" -j "$(nproc)" --target ${WRN_TARGETS:-all} "${keep[@]}"
