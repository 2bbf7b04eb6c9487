#!/usr/bin/env bash
# Training throughput of `wrn train` against the same training step written in PyTorch
# (bench/pytorch_train.py, Debian's python3-torch), on this machine, in this run:
#
#   WRN-16-4 on 32x32x3 (synthetic data in the real CIFAR-10 binary format, preset
#            wrn-cifar10: reflect-pad-4 random crop + flip, per-channel mean/std)
#   WRN-16-1 on Fashion-MNIST 28x28x1 (the real data set, preset demo: flip only,
#            channels_last)
#
# Both sides: the same model (WRN authors' structure, same parameter count), batch 128, the
# augmentation/normalization/memory format of the wrn preset (read from `wrn train
# --print-config`, so the two cannot drift apart), SGD momentum 0.9 Nesterov, weight decay
# 5e-4, cross-entropy, the same number of intra-op threads, the same LibTorch 1.13.1 shared
# libraries (python3-torch links the same libtorch_cpu.so / oneDNN as libtorch-dev), the
# same first N training images, and the same per-step work inside the timed region
# (gather the batch, augment, normalize, forward, loss, backward, SGD step, running loss
# and accuracy).
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
#   WARMUP [5: PyTorch untimed steps]  BATCH [128]
#   LARGE_CHANNELS_LAST [the preset's: false]  SMALL_CHANNELS_LAST [the preset's: true]
#   ONLY [both | large | small]
#   WRN [build/wrn]  PYTHON [/usr/bin/python3]  FASHION_DIR [/usr/share/datasets/fashion-mnist]
#   JSON [/tmp/wrn-compare-pytorch.json: the results]  KEEP [0; 1 keeps the work directory]
# About 8 minutes on 2 cores with the defaults (WRN-16-4: ~1 s a step, 3 x 100 steps).
# Both sides inherit the environment, so e.g.
#   GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=536870912
# compares them without glibc malloc's munmap/trim page-fault churn (LibTorch's CPU allocator
# is posix_memalign/free; large activations are otherwise mmap'd and faulted in every step).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRN=${WRN:-$ROOT/build/wrn}
PYTHON=${PYTHON:-/usr/bin/python3}
THREADS=${THREADS:-$(nproc)}
BATCH=${BATCH:-128}
STEPS=${STEPS:-100}
STEPS_SMALL=${STEPS_SMALL:-400}
WARMUP=${WARMUP:-5}
ONLY=${ONLY:-both}
FASHION_DIR=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
JSON=${JSON:-/tmp/wrn-compare-pytorch.json}
KEEP=${KEEP:-0}
SEED=1

die() { echo "compare_pytorch: $*" >&2; exit 1; }
[[ -x $WRN ]] || die "$WRN not found: build it first (make)"
"$PYTHON" -c 'import torch, numpy, yaml' 2>/dev/null ||
  die "$PYTHON cannot import torch/numpy/yaml: apt-get install -y python3-torch python3-yaml"
[[ -f $FASHION_DIR/train-images-idx3-ubyte.gz ]] || die "no Fashion-MNIST in $FASHION_DIR (apt-get install dataset-fashion-mnist)"

(( STEPS_SMALL * BATCH <= 60000 )) || die "STEPS_SMALL x BATCH must fit in Fashion-MNIST's 60000 training images"

WORK=$(mktemp -d /tmp/wrn-compare-pytorch.XXXXXX)
if [[ $KEEP == 1 ]]; then echo "work directory: $WORK (kept)"; else trap 'rm -rf "$WORK"' EXIT; fi
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

echo "wrn vs PyTorch training throughput: $THREADS threads, batch $BATCH, $(nproc) cores," \
  "$("$PYTHON" -c 'import torch; print("torch", torch.__version__)')"

# Synthetic 32x32x3 data in the CIFAR-10 binary format: data_batch_1..5.bin (all five must
# exist) and test_batch.bin, records of 1 label byte + 3072 pixel bytes (R, G, B planes).
make_cifar() {  # DIR TRAIN_IMAGES TEST_IMAGES
  "$PYTHON" - "$@" <<'EOF'
import os, sys
import numpy as np
out, n_train, n_test = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
def records(n):
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    # class-dependent colour + noise: learnable, so the loss behaves like a real run's
    base = (labels[:, None].astype(np.int16) * 23) % 256
    pixels = np.clip(base + rng.integers(-60, 61, (n, 3072)), 0, 255).astype(np.uint8)
    return np.concatenate([labels[:, None], pixels], axis=1)
per_file = -(-n_train // 5)
for i in range(1, 6):
    records(per_file).tofile(os.path.join(out, f"data_batch_{i}.bin"))
records(n_test).tofile(os.path.join(out, "test_batch.bin"))
EOF
}

# bench_case LABEL INPUT PRESET MODEL DATASET DATA_DIR STEPS CHANNELS_LAST
bench_case() {
  local label=$1 input=$2 preset=$3 model=$4 dataset=$5 data=$6 steps=$7 cl=$8
  local depth width run=$WORK/run-$label
  IFS=- read -r _ depth width <<<"$model"
  local limit=$((steps * BATCH))
  local args=(train --preset "$preset" --model "$model" --data "$data" --threads "$THREADS" --seed "$SEED"
    --batch-size "$BATCH" --epochs 2
    --set "data.limit_train=$limit" --set "data.limit_test=$((2 * BATCH))" --set eval_every=2
    --set checkpoint.every_seconds=0 --set checkpoint.keep_best=false)
  if [[ -n $cl ]]; then args+=(--set "channels_last=$cl"); fi

  # The wrn run's resolved config -> the PyTorch side's arguments.
  "$WRN" "${args[@]}" --print-config >"$WORK/$label.yaml"
  local py_args
  py_args=$("$PYTHON" - "$WORK/$label.yaml" <<'EOF'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
d, a, n, o = c["data"], c["data"]["augment"], c["data"]["normalize"], c["optimizer"]
if not n.get("mean") or not n.get("std") or n.get("zca"):
    sys.exit("compare_pytorch: the preset must give normalize.mean/std (no fitting, no ZCA)")
if (o["momentum"], o["nesterov"], o["weight_decay"], o["dampening"]) != (0.9, True, 0.0005, 0):
    print("compare_pytorch: note: wrn optimizer", o, "- PyTorch side uses momentum 0.9 Nesterov wd 5e-4",
          file=sys.stderr)
print(" ".join(["--batch", str(d["batch_size"]), "--pad", str(a["pad"]), "--pad-mode", a["pad_mode"],
                "--flip", str(int(a["flip"])), "--channels-last", str(int(c["channels_last"])),
                "--lr", str(o["lr"]), "--mean", *map(str, n["mean"]), "--std", *map(str, n["std"])]))
EOF
)
  echo
  echo "== $model on $input ($dataset, preset $preset): $steps timed steps of $BATCH"
  echo "   PyTorch side: $py_args"

  local t0=$SECONDS
  "$WRN" "${args[@]}" --quiet --out "$run" >"$WORK/$label.wrn.log" 2>&1 ||
    { cat "$WORK/$label.wrn.log" >&2; die "wrn train failed"; }
  local wrn_json
  wrn_json=$("$PYTHON" - "$run/metrics.jsonl" <<'EOF'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(m) == 2, f"expected 2 epochs in {sys.argv[1]}, got {len(m)}"
print(json.dumps({"images_per_second": m[1]["images_per_second"],
                  "first_epoch_images_per_second": m[0]["images_per_second"],
                  "train_loss": m[1]["train_loss"]}))
EOF
)
  echo "   wrn:     $wrn_json ($((SECONDS - t0)) s)"

  t0=$SECONDS
  local py_json
  # shellcheck disable=SC2086  # py_args is a list of plain words
  py_json=$("$PYTHON" "$ROOT/bench/pytorch_train.py" --dataset "$dataset" --data "$data" --depth "$depth" \
    --width "$width" --threads "$THREADS" --warmup "$WARMUP" --steps "$steps" --limit "$limit" \
    --seed "$SEED" $py_args)
  echo "   pytorch: $py_json ($((SECONDS - t0)) s)"

  "$PYTHON" - "$label" "$model" "$input" "$THREADS" "$wrn_json" "$py_json" >>"$RESULTS" <<'EOF'
import json, os, sys
label, model, inp, threads, w, p = sys.argv[1:]
w, p = json.loads(w), json.loads(p)
print(json.dumps({"case": label, "model": model, "input": inp, "batch": p["batch"], "threads": int(threads),
                  "channels_last": p["channels_last"], "steps": p["steps"],
                  "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
                  "wrn_images_per_second": w["images_per_second"],
                  "pytorch_images_per_second": p["images_per_second"],
                  "ratio": w["images_per_second"] / p["images_per_second"],
                  "wrn": w, "pytorch": p}))
EOF
}

if [[ $ONLY == both || $ONLY == large ]]; then
  make_cifar "$WORK/cifar" $((STEPS * BATCH)) $((2 * BATCH))
  bench_case large 32x32x3 wrn-cifar10 wrn-16-4 cifar10 "$WORK/cifar" "$STEPS" "${LARGE_CHANNELS_LAST:-}"
fi
if [[ $ONLY == both || $ONLY == small ]]; then
  bench_case small 28x28x1 demo wrn-16-1 fashion-mnist "$FASHION_DIR" "$STEPS_SMALL" "${SMALL_CHANNELS_LAST:-}"
fi

echo
"$PYTHON" - "$RESULTS" "$JSON" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
json.dump(rows, open(sys.argv[2], "w"), indent=1)
hdr = ("model", "input", "batch", "threads", "layout", "wrn img/s", "pytorch img/s", "ratio")
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join("---" for _ in hdr) + "|")
for r in rows:
    print(f"| {r['model']} | {r['input']} | {r['batch']} | {r['threads']} | "
          f"{'channels_last' if r['channels_last'] else 'NCHW'} | {r['wrn_images_per_second']:.1f} | "
          f"{r['pytorch_images_per_second']:.1f} | {r['ratio']:.2f} |")
print(f"\nratio = wrn / PyTorch (> 1: wrn is faster); results in {sys.argv[2]}")
if rows and rows[0]["glibc_tunables"]:
    print(f"GLIBC_TUNABLES={rows[0]['glibc_tunables']} (both sides)")
EOF
