# Shell functions shared by the training benchmarks (bench/compare_pytorch.sh, bench/scaling.sh,
# bench/peak_memory.sh): the `wrn train` command of a case, the PyTorch side's arguments read from
# wrn's resolved config, epoch 2's images/s from metrics.jsonl, and the PyTorch side's run.
# Sourced, not run: the caller sets ROOT, WRN, PYTHON and SEED and defines die() first.
# shellcheck shell=bash

# need_wrn_and_python: dies unless $WRN is built and $PYTHON (the venv of `make deps`) imports
# torch, numpy and yaml.
need_wrn_and_python() {
  [[ -x $WRN ]] || die "$WRN not found: build it first (make)"
  "$PYTHON" -c 'import torch, numpy, yaml' 2>/dev/null ||
    die "$PYTHON cannot import torch/numpy/yaml: run 'make deps' (the venv)"
}

# Synthetic 32x32x3 data in the CIFAR-10 binary format: data_batch_1..5.bin (all five must
# exist) and test_batch.bin, records of 1 label byte + 3072 pixel bytes (R, G, B planes).
make_cifar() {  # DIR TRAIN_IMAGES TEST_IMAGES
  "$PYTHON" "$ROOT/bench/make_cifar.py" "$@"
}

# wrn_has_precision [SUBCOMMAND...]: 0 when `wrn SUBCOMMAND --help` names --precision (issue 8).
wrn_has_precision() {
  # (the help text is read whole first: grep -q in a pipe would SIGPIPE the tool under pipefail)
  local help_text
  help_text=$("$WRN" "$@" --help 2>/dev/null || true)
  [[ $help_text == *--precision* ]]
}

# wrn_train_base PRESET MODEL DATA THREADS BATCH STEPS EPOCHS [CHANNELS_LAST]
# Sets the array WRN_BASE to the `wrn train` arguments of a timing run: EPOCHS epochs of STEPS
# steps of BATCH images (data.limit_train = STEPS x BATCH), 2 test batches, the test only after
# the last epoch, no timed or best checkpoints; CHANNELS_LAST (true/false) overrides the preset's.
wrn_train_base() {
  local preset=$1 model=$2 data=$3 threads=$4 batch=$5 steps=$6 epochs=$7 cl=${8:-}
  WRN_BASE=(train --preset "$preset" --model "$model" --data "$data" --threads "$threads" --seed "$SEED"
    --batch-size "$batch" --epochs "$epochs"
    --set "data.limit_train=$((steps * batch))" --set "data.limit_test=$((2 * batch))" --set "eval_every=$epochs"
    --set checkpoint.every_seconds=0 --set checkpoint.keep_best=false)
  if [[ -n $cl ]]; then WRN_BASE+=(--set "channels_last=$cl"); fi
}

# pytorch_args_from_config NAME CONFIG.yaml PRECISION SKIPPED: prints bench/pytorch_train.py's
# arguments (batch, augmentation, normalization, layout, lr) from `wrn train --print-config`'s
# output, so that the two sides cannot drift apart. NAME prefixes the messages.
pytorch_args_from_config() {
  "$PYTHON" - "$@" <<'EOF'
import sys, yaml
name, config, precision, skipped = sys.argv[1:]
c = yaml.safe_load(open(config))
d, a, n, o = c["data"], c["data"]["augment"], c["data"]["normalize"], c["optimizer"]
if not n.get("mean") or not n.get("std") or n.get("zca"):
    sys.exit(f"{name}: the preset must give normalize.mean/std (no fitting, no ZCA)")
if (o["momentum"], o["nesterov"], o["weight_decay"], o["dampening"]) != (0.9, True, 0.0005, 0):
    print(f"{name}: note: wrn optimizer", o, "- PyTorch side uses momentum 0.9 Nesterov wd 5e-4",
          file=sys.stderr)
if not skipped and "precision" in c and str(c["precision"]) != precision:
    print(f"{name}: note: wrn's resolved config says precision {c['precision']!r}, asked {precision}",
          file=sys.stderr)
print(" ".join(["--batch", str(d["batch_size"]), "--pad", str(a["pad"]), "--pad-mode", a["pad_mode"],
                "--flip", str(int(a["flip"])), "--channels-last", str(int(c["channels_last"])),
                "--lr", str(o["lr"]), "--mean", *map(str, n["mean"]), "--std", *map(str, n["std"])]))
EOF
}

# wrn_epoch2_json NAME METRICS.jsonl PRECISION: prints {"images_per_second" (epoch 2's),
# "first_epoch_images_per_second", "train_loss", "precision"} of a 2-epoch run; stops when the
# run says it trained in another precision than PRECISION.
wrn_epoch2_json() {
  "$PYTHON" - "$@" <<'EOF'
import json, sys
name, metrics, precision = sys.argv[1:]
m = [json.loads(l) for l in open(metrics) if l.strip()]
assert len(m) == 2, f"expected 2 epochs in {metrics}, got {len(m)}"
out = {"images_per_second": m[1]["images_per_second"],
       "first_epoch_images_per_second": m[0]["images_per_second"],
       "train_loss": m[1]["train_loss"]}
if "precision" in m[1]:
    out["precision"] = m[1]["precision"]
    if m[1]["precision"] != precision:  # a row under the wrong precision label is worse than none
        sys.exit(f"{name}: {metrics} says precision {m[1]['precision']}, the row is {precision}")
print(json.dumps(out))
EOF
}

# pytorch_train_cmd DATASET DATA MODEL THREADS WARMUP STEPS LIMIT PRECISION PY_ARGS [EXTRA...]:
# sets the array PYTORCH_CMD to the PyTorch side (bench/pytorch_train.py) of a case. MODEL is
# wrn-D-K, PY_ARGS the words pytorch_args_from_config printed.
pytorch_train_cmd() {
  local dataset=$1 data=$2 model=$3 threads=$4 warmup=$5 steps=$6 limit=$7 precision=$8 py_args=$9
  shift 9
  local depth width
  IFS=- read -r _ depth width <<<"$model"
  # shellcheck disable=SC2206  # py_args is a list of plain words
  PYTORCH_CMD=("$PYTHON" "$ROOT/bench/pytorch_train.py" --dataset "$dataset" --data "$data" --depth "$depth"
    --width "$width" --threads "$threads" --warmup "$warmup" --steps "$steps" --limit "$limit"
    --seed "$SEED" --precision "$precision" $py_args "$@")
}

# pytorch_train_json (pytorch_train_cmd's arguments): runs it; prints its JSON line.
pytorch_train_json() {
  pytorch_train_cmd "$@"
  "${PYTORCH_CMD[@]}"
}
