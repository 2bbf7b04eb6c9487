#!/usr/bin/env bash
# Training throughput of `wrn train` against the same training step written in PyTorch
# (bench/pytorch_train.py, eager and under torch.compile, from the venv of `make deps`), on this
# machine, in this run:
#
#   WRN-16-4 on 32x32x3 (synthetic data in the real CIFAR-10 binary format, preset
#            wrn-cifar10: reflect-pad-4 random crop + flip, per-channel mean/std)
#   WRN-28-10 on 32x32x3 (the same kind of data and preset; issue 23's second training
#            model; ~15 s a step in fp32 on 2 cores, so STEPS_XL is small)
#   WRN-16-1 on Fashion-MNIST 28x28x1 (the real data set, preset demo: flip only,
#            channels_last)
#
# Both sides: the same model (WRN authors' structure, same parameter count), batch 128, the
# augmentation/normalization/memory format of the wrn preset (read from `wrn train
# --print-config`, so the two cannot drift apart), SGD momentum 0.9 Nesterov, weight decay
# 5e-4, cross-entropy, the same number of intra-op threads, the same LibTorch shared libraries
# (wrn is built against the venv's torch wheel: one libtorch_cpu.so, one oneDNN), the
# same first N training images, and the same per-step work inside the timed region
# (gather the batch, augment, normalize, forward, loss, backward, SGD step, running loss
# and accuracy).
#
# Precision (PRECISIONS, default "fp32 bf16"): every case runs at every precision on both
# sides, and ratio = wrn / PyTorch at the same precision.
#   wrn:     `wrn train --precision P`. A binary without --precision (before issue 8) runs
#            only fp32 (without the flag); its bf16 rows say "no --precision" and are skipped.
#   PyTorch: fp32 as is; bf16 = forward + loss under torch.autocast("cpu", dtype=
#            torch.bfloat16), the standard PyTorch user's one line (bench/pytorch_train.py);
#            each twice: eager, and with torch.compile(model) (inductor defaults; COMPILE=0
#            skips it). ratio = wrn / eager, "vs compile" = wrn / torch.compile.
#
# Roofline: once per run, bench/roofline.py measures the machine's fp32 and bf16 GEMM GFLOP/s
# (2048^3, THREADS threads, median of 3) as torch.matmul and as the same GEMM in a oneDNN 1x1
# convolution; the roof at a precision is the larger (Debian's fp32 torch.matmul is the
# reference BLAS, ~5 GFLOP/s, while the convolutions run on oneDNN). It prints them with the
# CPU model and its avx512_bf16 / amx_bf16 flags. Each row's "roof" column is the fraction of
# the roof at its precision reached, with training FLOP/s = images/s x 3 x 2 x forward MACs
# per image (`wrn info MODEL --input CxHxW --json`: conv and linear multiply-accumulates).
# The 3 assumes each conv/linear costs its forward once more for the input gradient and once
# for the weight gradient (the stem's input gradient is not needed, so this slightly
# overstates the work); BatchNorm, ReLU, pooling, the loss and SGD are not counted.
#
# What is timed:
#   wrn:     `wrn train` for 2 epochs of STEPS steps each (data.limit_train = STEPS x 128);
#            the number is epoch 2's images_per_second from metrics.jsonl, i.e. images /
#            the summed time of the training steps (data pipeline included; evaluation,
#            checkpoints, logs excluded). Epoch 1 is the warm-up.
#   PyTorch: WARMUP untimed steps, then STEPS timed steps over one fresh permutation of the
#            same STEPS x 128 images; images / the summed step time.
#
# Usage (it needs the 2 cores to itself; on the shared machine hold the build lock):
#   flock /tmp/wrn-build.lock bash bench/compare_pytorch.sh
# Environment (defaults in brackets):
#   THREADS [nproc]  STEPS [100: timed steps for WRN-16-4]  STEPS_SMALL [400: for WRN-16-1]
#   STEPS_XL [5: for WRN-28-10; wrn's warm-up epoch is as long, PyTorch's WARMUP stays]
#   WARMUP [5: PyTorch untimed steps]  BATCH [128]
#   LARGE_CHANNELS_LAST [the preset's: false]  SMALL_CHANNELS_LAST [the preset's: true]
#   ONLY [all | both (WRN-16-4 + WRN-16-1) | large (WRN-16-4) | small (WRN-16-1) | xl (WRN-28-10)]
#   PRECISIONS ["fp32 bf16"]  COMPILE [1]
#   ROOFLINE_SIZE [2048]  ROOFLINE_REPS [3]
#   WRN [build/wrn]  PYTHON [the venv of `make deps`]  FASHION_DIR [/usr/share/datasets/fashion-mnist]
#   JSON [/tmp/wrn-compare-pytorch.json: the results]  KEEP [0; 1 keeps the work directory]
# About 8 minutes per precision on 2 cores with the defaults in fp32 (WRN-16-4: ~1 s a step,
# 3 x 100 steps per side), plus ~20 s for the roofline; WRN-28-10 adds about 8 minutes per
# precision (~15 s a step: wrn 2 x 5 steps, PyTorch 5 + 5 eager and 5 + 5 compiled, compilation).
# Both sides inherit the environment, so e.g.
#   GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=536870912
# compares them without glibc malloc's munmap/trim page-fault churn (LibTorch's CPU allocator
# is posix_memalign/free; large activations are otherwise mmap'd and faulted in every step).
# These are the thresholds wrn's main() sets for itself (core/memory.cpp), so only with them
# do both sides run the same allocator settings; `make bench` sets them. Without them the
# summary labels the rows "wrn's allocator fix only" (and "same_malloc": false in the JSON).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRN=${WRN:-$ROOT/build/wrn}
PYTHON=${PYTHON:-$(make -s -C "$ROOT" --no-print-directory python-path)}  # the venv of `make deps`
THREADS=${THREADS:-$(nproc)}
BATCH=${BATCH:-128}
STEPS=${STEPS:-100}
STEPS_SMALL=${STEPS_SMALL:-400}
STEPS_XL=${STEPS_XL:-5}
WARMUP=${WARMUP:-5}
ONLY=${ONLY:-all}
FASHION_DIR=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
JSON=${JSON:-/tmp/wrn-compare-pytorch.json}
KEEP=${KEEP:-0}
PRECISIONS=${PRECISIONS:-fp32 bf16}
COMPILE=${COMPILE:-1}
ROOFLINE_SIZE=${ROOFLINE_SIZE:-2048}
ROOFLINE_REPS=${ROOFLINE_REPS:-3}
SEED=1

die() { echo "compare_pytorch: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"  # make_cifar, wrn_train_base, the PyTorch side's arguments and run
need_wrn_and_python
case $ONLY in all | both | large | small | xl) ;; *) die "ONLY: '$ONLY' is not all, both, large, small or xl" ;; esac
[[ $ONLY == large || $ONLY == xl ]] || [[ -f $FASHION_DIR/train-images-idx3-ubyte.gz ]] || die "no Fashion-MNIST in $FASHION_DIR (apt-get install dataset-fashion-mnist)"

for p in $PRECISIONS; do
  [[ $p == fp32 || $p == bf16 ]] || die "PRECISIONS: '$p' is not fp32 or bf16 (fp16 is CUDA-only; auto is not a comparison)"
done
[[ -n ${PRECISIONS// /} ]] || die "PRECISIONS is empty (expected e.g. \"fp32 bf16\")"
(( STEPS_SMALL * BATCH <= 60000 )) || die "STEPS_SMALL x BATCH must fit in Fashion-MNIST's 60000 training images"

WORK=$(mktemp -d /tmp/wrn-compare-pytorch.XXXXXX)
if [[ $KEEP == 1 ]]; then echo "work directory: $WORK (kept)"; else trap 'rm -rf "$WORK"' EXIT; fi
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

echo "wrn vs PyTorch training throughput: $THREADS threads, batch $BATCH, $(nproc) cores," \
  "$("$PYTHON" -c 'import torch; print("torch", torch.__version__)'), precisions: $PRECISIONS"

# Does this wrn binary know --precision (issue 8)? Without it, it trains in fp32 only.
WRN_PRECISION=0
if wrn_has_precision train; then
  WRN_PRECISION=1
else
  echo "note: $WRN has no 'train --precision': its fp32 rows run without the flag, its bf16 rows are skipped"
fi

ROOFLINE=$WORK/roofline.json
{ "$PYTHON" "$ROOT/bench/roofline.py" --threads "$THREADS" --size "$ROOFLINE_SIZE" --reps "$ROOFLINE_REPS" \
  --text >"$ROOFLINE"; } 2>&1 || die "bench/roofline.py failed"  # its summary on stdout, its JSON in the file

# bench_case LABEL INPUT CHW PRESET MODEL DATASET DATA_DIR STEPS CHANNELS_LAST
# (INPUT as the table writes it, HxWxC; CHW as `wrn info --input` takes it)
bench_case() {
  local label=$1 input=$2 chw=$3 preset=$4 model=$5 dataset=$6 data=$7 steps=$8 cl=$9
  local limit=$((steps * BATCH))
  wrn_train_base "$preset" "$model" "$data" "$THREADS" "$BATCH" "$steps" 2 "$cl"
  local base=("${WRN_BASE[@]}")

  # Forward MACs and parameters per image of the model wrn builds (the roofline's work).
  local info
  info=$("$WRN" info "$model" --input "$chw" --classes 10 --json) || die "wrn info $model failed"

  local precision
  for precision in $PRECISIONS; do
    local tag=$label-$precision run=$WORK/run-$label-$precision args=("${base[@]}") wrn_skip=""
    if ((WRN_PRECISION)); then
      args+=(--precision "$precision")
    elif [[ $precision != fp32 ]]; then
      wrn_skip="$WRN has no --precision"
    fi

    # The wrn run's resolved config -> the PyTorch side's arguments (without --precision when
    # the binary has none: the rest of the config is the same).
    local cfg_args=("${base[@]}")
    if [[ -z $wrn_skip ]]; then cfg_args=("${args[@]}"); fi
    "$WRN" "${cfg_args[@]}" --print-config >"$WORK/$tag.yaml" ||
      die "wrn ${cfg_args[*]} --print-config failed"
    local py_args
    py_args=$(pytorch_args_from_config compare_pytorch "$WORK/$tag.yaml" "$precision" "$wrn_skip")
    echo
    echo "== $model on $input ($dataset, preset $preset), $precision: $steps timed steps of $BATCH"
    echo "   PyTorch side: $py_args --precision $precision"

    local t0=$SECONDS wrn_json=null
    if [[ -n $wrn_skip ]]; then
      echo "   wrn:     SKIPPED ($wrn_skip: build the binary with issue 8's mixed precision)"
    else
      "$WRN" "${args[@]}" --quiet --out "$run" >"$WORK/$tag.wrn.log" 2>&1 ||
        { cat "$WORK/$tag.wrn.log" >&2; die "wrn train (${precision}) failed"; }
      wrn_json=$(wrn_epoch2_json compare_pytorch "$run/metrics.jsonl" "$precision")
      echo "   wrn:     $wrn_json ($((SECONDS - t0)) s)"
    fi

    py_side() {  # EXTRA...: the PyTorch side's JSON line
      pytorch_train_json "$dataset" "$data" "$model" "$THREADS" "$WARMUP" "$steps" "$limit" "$precision" \
        "$py_args" "$@"
    }
    t0=$SECONDS
    local py_json pc_json=null
    py_json=$(py_side)
    echo "   pytorch: $py_json ($((SECONDS - t0)) s)"
    if [[ $COMPILE == 1 ]]; then
      t0=$SECONDS
      pc_json=$(py_side --compile 1)
      echo "   pytorch (torch.compile): $pc_json ($((SECONDS - t0)) s)"
    fi

    "$PYTHON" - "$label" "$model" "$input" "$THREADS" "$precision" "$wrn_skip" "$info" "$ROOFLINE" \
      "$wrn_json" "$py_json" "$pc_json" >>"$RESULTS" <<'EOF'
import json, os, sys
def same_malloc():  # wrn's main() sets these two itself (core/memory.cpp tune_allocator)
    t = os.environ.get("GLIBC_TUNABLES", "")
    return "glibc.malloc.mmap_threshold=67108864" in t and "glibc.malloc.trim_threshold=536870912" in t
label, model, inp, threads, precision, skipped, info, roofline, w, p, pc = sys.argv[1:]
info, w, p, pc = json.loads(info), json.loads(w), json.loads(p), json.loads(pc)
roof = json.load(open(roofline))
if info["params"] != p["params"]:
    print(f"compare_pytorch: WARNING: {model} has {info['params']} parameters in wrn, {p['params']} in PyTorch",
          file=sys.stderr)
macs = info["macs"]
roof_flops = roof[precision]["roof_gflops"] * 1e9
frac = lambda ips: 3 * 2 * macs * ips / roof_flops  # training: forward + two backward convs
wi = w["images_per_second"] if w else None
pi = p["images_per_second"]
print(json.dumps({"case": label, "model": model, "input": inp, "batch": p["batch"], "threads": int(threads),
                  "channels_last": p["channels_last"], "precision": precision, "steps": p["steps"],
                  "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
                  "same_malloc": same_malloc(),
                  "wrn_images_per_second": wi,
                  "pytorch_images_per_second": pi,
                  "ratio": wi / pi if wi else None,
                  "pytorch_compile_images_per_second": pc["images_per_second"] if pc else None,
                  "ratio_compile": wi / pc["images_per_second"] if wi and pc else None,
                  "wrn_skipped": skipped or None,
                  "macs_per_image": macs, "params": info["params"],
                  "training_flop_per_image": 3 * 2 * macs,
                  "roof_gflops": roof[precision]["roof_gflops"],
                  "wrn_roofline_fraction": frac(wi) if wi else None,
                  "pytorch_roofline_fraction": frac(pi),
                  "wrn": w, "pytorch": p, "pytorch_compile": pc, "roofline": roof}))
EOF
  done
}

if [[ $ONLY == all || $ONLY == both || $ONLY == large ]]; then
  make_cifar "$WORK/cifar" $((STEPS * BATCH)) $((2 * BATCH))
  bench_case large 32x32x3 3x32x32 wrn-cifar10 wrn-16-4 cifar10 "$WORK/cifar" "$STEPS" "${LARGE_CHANNELS_LAST:-}"
fi
if [[ $ONLY == all || $ONLY == both || $ONLY == small ]]; then
  bench_case small 28x28x1 1x28x28 demo wrn-16-1 fashion-mnist "$FASHION_DIR" "$STEPS_SMALL" "${SMALL_CHANNELS_LAST:-}"
fi
if [[ $ONLY == all || $ONLY == xl ]]; then
  make_cifar "$WORK/cifar-xl" $((STEPS_XL * BATCH)) $((2 * BATCH))
  bench_case xl 32x32x3 3x32x32 wrn-cifar10 wrn-28-10 cifar10 "$WORK/cifar-xl" "$STEPS_XL" "${LARGE_CHANNELS_LAST:-}"
fi

echo
PYTHONPATH="$ROOT/bench" "$PYTHON" - "$RESULTS" "$JSON" "$ROOFLINE" <<'EOF'
import json, sys
from roofline import print_summary_footer
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
roof = json.load(open(sys.argv[3]))
json.dump(rows, open(sys.argv[2], "w"), indent=1)
hdr = ("model", "input", "batch", "threads", "layout", "precision", "wrn img/s", "PyTorch eager img/s", "ratio",
       "PyTorch compile img/s", "vs compile", "wrn roof", "pytorch roof")
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join("---" for _ in hdr) + "|")
pct = lambda f: f"{100 * f:.1f}%"
for r in rows:
    skipped = r["wrn_images_per_second"] is None
    print(f"| {r['model']} | {r['input']} | {r['batch']} | {r['threads']} | "
          f"{'channels_last' if r['channels_last'] else 'NCHW'} | {r['precision']} | "
          f"{'skipped' if skipped else format(r['wrn_images_per_second'], '.1f')} | "
          f"{r['pytorch_images_per_second']:.1f} | {'-' if skipped else format(r['ratio'], '.2f')} | "
          f"{'-' if r['pytorch_compile_images_per_second'] is None else format(r['pytorch_compile_images_per_second'], '.1f')} | "
          f"{'-' if r['ratio_compile'] is None else format(r['ratio_compile'], '.2f')} | "
          f"{'-' if skipped else pct(r['wrn_roofline_fraction'])} | {pct(r['pytorch_roofline_fraction'])} |")
print(f"\nratio = wrn / PyTorch eager, vs compile = wrn / torch.compile, at the same precision (> 1: wrn is "
      f"faster); results in {sys.argv[2]}")
print_summary_footer(roof, rows, "training FLOP/s (images/s x 3 x 2 x forward MACs)")
EOF
