#!/usr/bin/env bash
# Peak resident set size of training (issue 23: WRN-28-10, 32x32x3, batch 128, bf16), `wrn train`
# against the same training step in PyTorch eager (bench/pytorch_train.py, the venv of
# `make deps`), on this machine, in this run.
#
# Data: synthetic 32x32x3 images in the CIFAR-10 binary format (bench/make_cifar.py, as
# bench/compare_pytorch.sh makes them), MEM_STEPS x BATCH training images, 2 x BATCH test images.
# Both sides: the model, batch, augmentation, normalization, memory format and precision of
# compare_pytorch.sh's WRN-28-10 case (preset wrn-cifar10; the PyTorch side's arguments come
# from `wrn train --print-config`, bench/lib.sh), THREADS intra-op threads, the same environment
# (GLIBC_TUNABLES included: with wrn's malloc thresholds freed memory stays in the heap, so
# without them the two sides do not free alike).
#
# What is measured: "Maximum resident set size" of `/usr/bin/time -v`, the whole process from
# start to exit (shared libraries' touched pages included: LibTorch on both sides, the Python
# interpreter and torch's Python modules on the PyTorch side):
#   wrn:     `wrn train --precision P` for 1 epoch of MEM_STEPS steps (data.limit_train =
#            MEM_STEPS x BATCH), then what every wrn run does after its last epoch and cannot be
#            turned off: the test pass over the 2 test batches (no_grad) and last.ckpt
#            (weights + momentum; no timed or best checkpoints).
#   PyTorch: bench/pytorch_train.py --warmup 0 --steps MEM_STEPS: the data set in memory, then
#            MEM_STEPS training steps (eager; bf16 = forward + loss under torch.autocast("cpu")).
# ratio = wrn / PyTorch (<= 1: wrn needs no more memory).
#
# Usage: WRN=build/wrn bash bench/peak_memory.sh
# Environment (defaults in brackets):
#   PRECISION [bf16]  MEM_STEPS [3]  BATCH [128]  THREADS [nproc]  MODEL [wrn-28-10]
#   WRN [build/wrn]  PYTHON [the venv of `make deps`]  JSON [/tmp/wrn-peak-memory.json]
# About 2 minutes per side on 2 cores with the defaults (a WRN-28-10 step takes ~15 s in fp32).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRN=${WRN:-$ROOT/build/wrn}
PYTHON=${PYTHON:-$(make -s -C "$ROOT" --no-print-directory python-path)}  # the venv of `make deps`
PRECISION=${PRECISION:-bf16}
MEM_STEPS=${MEM_STEPS:-3}
BATCH=${BATCH:-128}
THREADS=${THREADS:-$(nproc)}
MODEL=${MODEL:-wrn-28-10}
JSON=${JSON:-/tmp/wrn-peak-memory.json}
SEED=1
TIME=/usr/bin/time  # GNU time: -v prints "Maximum resident set size (kbytes)"

die() { echo "peak_memory: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"  # make_cifar, wrn_train_base, the PyTorch side's arguments and run
need_wrn_and_python
[[ -x $TIME ]] || die "$TIME not found (GNU time: apt-get install time)"
[[ $PRECISION == fp32 || $PRECISION == bf16 ]] || die "PRECISION: '$PRECISION' is not fp32 or bf16"
[[ $MODEL =~ ^wrn-[0-9]+-[0-9]+$ ]] || die "MODEL: '$MODEL' is not wrn-D-K"
((MEM_STEPS >= 1)) || die "MEM_STEPS must be at least 1"
wrn_has_precision train || die "$WRN has no 'train --precision' (issue 8)"

WORK=$(mktemp -d /tmp/wrn-peak-memory.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

max_rss_kb() {  # TIME_OUTPUT: the kilobytes of its "Maximum resident set size" line
  sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): *//p' "$1"
}

CPU=$(lscpu | sed -n 's/^Model name: *//p')
echo "peak RSS, wrn vs PyTorch eager training: $MODEL 32x32x3, batch $BATCH, $PRECISION, $MEM_STEPS steps," \
  "$THREADS threads; CPU: ${CPU:-unknown}, $(nproc) cores; $("$PYTHON" -c 'import torch; print("torch", torch.__version__)')"

make_cifar "$WORK/cifar" $((MEM_STEPS * BATCH)) $((2 * BATCH))
wrn_train_base wrn-cifar10 "$MODEL" "$WORK/cifar" "$THREADS" "$BATCH" "$MEM_STEPS" 1
args=("${WRN_BASE[@]}" --precision "$PRECISION")
"$WRN" "${args[@]}" --print-config >"$WORK/config.yaml" || die "wrn ${args[*]} --print-config failed"
py_args=$(pytorch_args_from_config peak_memory "$WORK/config.yaml" "$PRECISION" "")
echo "   PyTorch side: $py_args --precision $PRECISION"

t0=$SECONDS
"$TIME" -v -o "$WORK/wrn.time" "$WRN" "${args[@]}" --quiet --out "$WORK/run" >"$WORK/wrn.log" 2>&1 ||
  { cat "$WORK/wrn.log" "$WORK/wrn.time" >&2; die "wrn train ($PRECISION) failed"; }
wrn_kb=$(max_rss_kb "$WORK/wrn.time")
[[ -n $wrn_kb ]] || die "no 'Maximum resident set size' in $TIME's output for wrn"
echo "   wrn:     max RSS $wrn_kb kB ($((SECONDS - t0)) s)"

t0=$SECONDS
pytorch_train_cmd cifar10 "$WORK/cifar" "$MODEL" "$THREADS" 0 "$MEM_STEPS" $((MEM_STEPS * BATCH)) "$PRECISION" "$py_args"
"$TIME" -v -o "$WORK/pytorch.time" "${PYTORCH_CMD[@]}" \
  >"$WORK/pytorch.json" 2>"$WORK/pytorch.log" ||
  { cat "$WORK/pytorch.log" "$WORK/pytorch.time" >&2; die "bench/pytorch_train.py ($PRECISION) failed"; }
py_kb=$(max_rss_kb "$WORK/pytorch.time")
[[ -n $py_kb ]] || die "no 'Maximum resident set size' in $TIME's output for PyTorch"
echo "   pytorch: max RSS $py_kb kB ($((SECONDS - t0)) s)"

echo
"$PYTHON" - "$JSON" "$MODEL" "$BATCH" "$THREADS" "$PRECISION" "$MEM_STEPS" "$wrn_kb" "$py_kb" \
  "$WORK/run/metrics.jsonl" "$WORK/pytorch.json" "$CPU" <<'EOF'
import json, os, sys
out, model, batch, threads, precision, steps, wrn_kb, py_kb, metrics, pyjson, cpu = sys.argv[1:]
m = [json.loads(l) for l in open(metrics) if l.strip()]
if m and "precision" in m[-1] and m[-1]["precision"] != precision:  # a mislabelled row is worse than none
    sys.exit(f"peak_memory: {metrics} says precision {m[-1]['precision']}, the row is {precision}")
p = json.loads(open(pyjson).read().strip().splitlines()[-1])
t = os.environ.get("GLIBC_TUNABLES", "")
same = "glibc.malloc.mmap_threshold=67108864" in t and "glibc.malloc.trim_threshold=536870912" in t
w_mib, p_mib = int(wrn_kb) / 1024, int(py_kb) / 1024
row = {"model": model, "input": "32x32x3", "batch": int(batch), "threads": int(threads), "precision": precision,
       "steps": int(steps), "cpu": cpu, "torch": p["torch"], "glibc_tunables": t, "same_malloc": same,
       "wrn_max_rss_kb": int(wrn_kb), "pytorch_max_rss_kb": int(py_kb),
       "wrn_max_rss_mib": w_mib, "pytorch_max_rss_mib": p_mib, "ratio": w_mib / p_mib,
       "pytorch_params": p["params"], "pytorch_images_per_second": p["images_per_second"],
       "wrn_images_per_second": m[-1]["images_per_second"] if m else None}
json.dump([row], open(out, "w"), indent=1)
hdr = ("model", "input", "batch", "threads", "precision", "steps", "peak RSS MiB wrn", "PyTorch eager", "ratio")
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join("---" for _ in hdr) + "|")
print(f"| {model} | 32x32x3 | {batch} | {threads} | {precision} | {steps} | {w_mib:.0f} | {p_mib:.0f} | "
      f"{w_mib / p_mib:.2f} |")
print(f"\nratio = wrn / PyTorch eager peak RSS (/usr/bin/time -v, whole process; <= 1: wrn needs no more); "
      f"results in {out}")
print("malloc: " + (f"the same on both sides, GLIBC_TUNABLES={t}" if same else
      "NOT the same on both sides (wrn sets mmap_threshold 64 MiB and trim_threshold 512 MiB in main(); "
      "PyTorch runs with " + (f"GLIBC_TUNABLES={t}" if t else "glibc's defaults") + ")"))
EOF
