#!/usr/bin/env bash
# Runs ON the lent GPU machine, in one `run` call: everything of wrn that has never run on CUDA,
# so the first session with a GPU gets it all from one prepared command (device time is
# 15 minutes per session, all calls together). Prepare here first, then call:
#   bash scripts/device/make_sysroot.sh            # the Debian libraries, into .carry (31 MB)
#   run(command="bash scripts/device/gpu_check.sh", carry=[".carry"], timeout_s=600)
# Steps, most important first; each reports PASS/FAIL/SKIP and its seconds in $OUT/summary.txt
# at once and the script keeps going; a step that would pass DEADLINE is cut short or skipped:
#   1. the machine: GPU, driver, torch/CUDA/cuDNN/NCCL versions, the bundled fmt, gloo headers
#      (none expected), nccl.h/cudnn.h, libtorch's OpenMP library
#   2. build against the CUDA LibTorch inside its PyTorch, NCCL on, ONNX off (build_cuda.sh)
#   3. the CUDA test cases (augmentation on CUDA = on CPU, pinned batches, the NCCL allreduce
#      and broadcast on one rank) and the precision/optimizer/EMA units
#   4. per precision (bf16, fp16, fp32): wrn train on CUDA, WRN-28-10 on synthetic
#      CIFAR-10-format data, then the same training step in PyTorch (bench/pytorch_train.py
#      --device cuda); each images/s pair is written to summary.txt as soon as it is measured
#   5. resume of the bf16 run; one rank through the launcher (NCCL broadcasts; a 1-rank world
#      reduces no gradients, step 3 covers the NCCL allreduce; one GPU cannot hold two ranks)
# At most 8 files come back from $OUT: summary.txt, steps.log (every step's output, in order)
# and the three runs' metrics.jsonl.
# Environment: STEPS [60 timed steps per run], DEADLINE [560 s], SKIP_BUILD [0; 1 reuses BUILD],
#   BUILD [build-cuda], DEVICE [cuda], DEPTH/WIDTH [28/10], PRECISIONS ["bf16 fp16 fp32"]. A dry
#   run of the script's own logic on a CPU machine with the CPU build:
#   OUT=/tmp/gc SKIP_BUILD=1 BUILD=build DEVICE=cpu DEPTH=10 WIDTH=1 STEPS=5 PRECISIONS="fp32 bf16" \
#     PYTHON=/usr/bin/python3 bash scripts/device/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
STEPS=${STEPS:-60}
DEADLINE=${DEADLINE:-560}
BUILD=${BUILD:-build-cuda}
DEVICE=${DEVICE:-cuda}
DEPTH=${DEPTH:-28}
WIDTH=${WIDTH:-10}
PRECISIONS=${PRECISIONS:-bf16 fp16 fp32}
PYTHON=${PYTHON:-python3}
export PYTHON
WORK=$(mktemp -d /tmp/wrn-gpu.XXXXXX)
LOGS=$WORK/logs
mkdir -p "$LOGS"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
# wrn and its tests find the carried Debian libraries; PyTorch keeps its own environment.
SYSLIBS="LD_LIBRARY_PATH=$PWD/.carry/sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
WRN=(env "$SYSLIBS" "$PWD/$BUILD/wrn")

# step NAME LIMIT_S COMMAND...: runs COMMAND under min(LIMIT_S, the time left before DEADLINE);
# its output goes to $LOGS/NAME.log and is appended to $OUT/steps.log.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 15 ]; then
    printf '%-24s SKIP (no time left)\n' "$name" | tee -a "$SUMMARY"
    return 125
  fi
  [ "$limit" -le "$left" ] || limit=$left
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  { echo "=== $name: $*"; cat "$LOGS/$name.log"; } >>"$OUT/steps.log"
  local verdict=PASS
  [ $rc -eq 0 ] || verdict="FAIL (exit $rc$([ $rc -eq 124 ] && echo ', timed out'))"
  printf '%-24s %s  %ds\n' "$name" "$verdict" $((SECONDS - t0)) | tee -a "$SUMMARY"
  return $rc
}

machine() {
  nvidia-smi -L
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn",
torch.backends.cudnn.version(), "nccl", torch.cuda.nccl.version(), "cxx11abi", torch.compiled_with_cxx11_abi())'
  nproc
  # What the build depends on: fmt bundled with torch, no gloo headers in the wheel, nccl.h and
  # cudnn.h from the toolkit or the nvidia wheels, a bundled libgomp.
  local t
  t=$("$PYTHON" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
  grep -h -m1 'define FMT_VERSION' "$t"/include/fmt/base.h "$t"/include/fmt/core.h 2>/dev/null | head -1
  ls -d "$t"/include/gloo 2>&1 | head -1
  ls /usr/local/cuda/include/nccl.h /usr/local/cuda/include/cudnn.h /usr/local/cuda/include/cublas_v2.h 2>&1
  ldd "$t"/lib/libtorch_cpu.so | grep -i -E 'gomp|omp' || echo "libtorch_cpu: no OpenMP library"
}
export -f machine
step 1_machine 60 bash -c machine

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  export BUILD WRN_CMAKE_ARGS="-DWRN_WITH_NCCL=ON -DWRN_WITH_ONNX=OFF"
  export WRN_TARGETS="wrn test_data_augment test_data_auto_augment test_batch_loader test_dist test_optim_mixed_precision test_optim_optimizers"
  step 2_build 360 bash scripts/device/build_cuda.sh || { tail -40 "$LOGS/2_build.log"; exit 1; }
fi
step 3_version 30 "${WRN[@]}" --version
step 3_cuda_tests 120 env "$SYSLIBS" bash -c "cd $BUILD && \
  ctest --output-on-failure -R 'Cuda|CUDA|PinMemory|MixedPrecision|LossScaler|Precision|Optimizer|AdamW|WeightAverage'"

"$PYTHON" bench/make_cifar.py "$WORK/cifar" $((STEPS * 128)) 1000 >/dev/null
common=(--preset wrn-cifar10 --device "$DEVICE" --force --set data.dir="$WORK/cifar" epochs=2
        data.limit_train=$((STEPS * 128)) "model.name=wrn-$DEPTH-$WIDTH" data.workers=4)
echo "images/s, WRN-$DEPTH-$WIDTH, batch 128, 32x32x3, $DEVICE: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)" |
  tee -a "$SUMMARY"
for p in $PRECISIONS; do
  step "4_train_$p" 120 "${WRN[@]}" train "${common[@]}" --precision "$p" --out "$WORK/run-$p"
  cp "$WORK/run-$p/metrics.jsonl" "$OUT/metrics_$p.jsonl" 2>/dev/null
  step "4_pytorch_$p" 120 "$PYTHON" bench/pytorch_train.py --device "$DEVICE" --dataset cifar10 --data "$WORK/cifar" \
    --depth "$DEPTH" --width "$WIDTH" --steps "$STEPS" --limit $((STEPS * 128)) --warmup 10 --precision "$p" \
    --mean 125.3 123.0 113.9 --std 63.0 62.1 66.7
  # wrn: epoch 2 (epoch 1 warms up); PyTorch: its timed steps.
  w=$("$PYTHON" -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; \
print(round([x for x in r if x.get('epoch')==2][0]['images_per_second']))" "$OUT/metrics_$p.jsonl" 2>/dev/null)
  t=$("$PYTHON" -c "import json,sys; print(round(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['images_per_second']))" \
    "$LOGS/4_pytorch_$p.log" 2>/dev/null)
  echo "  $p  wrn ${w:-?}  pytorch ${t:-?}" | tee -a "$SUMMARY"
done
step 5_resume_bf16 90 "${WRN[@]}" resume "$WORK/run-bf16" --epochs 3
step 5_nccl_1rank 90 "${WRN[@]}" train --nproc-per-node 1 "${common[@]}" --precision bf16 --set epochs=1 \
  --out "$WORK/run-nccl"
rm -rf "$WORK"
