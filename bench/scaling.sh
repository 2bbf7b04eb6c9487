#!/usr/bin/env bash
# How training cost grows (issue 23): images/s of `wrn train` and of the same training step in
# PyTorch eager (bench/pytorch_train.py, the venv of `make deps`) for one model, WRN-16-4 on
# 32x32x3 in fp32 by default, at each batch of BATCHES (with BATCH_THREADS threads) and at each
# thread count of THREAD_COUNTS (at batch THREADS_BATCH), on this machine, in this run. A
# configuration in both sweeps (batch 128, 2 threads) runs once and is shown in both.
#
# Each row is bench/compare_pytorch.sh's WRN-16-4 case at that batch and thread count, through
# the same functions (bench/lib.sh): synthetic data in the CIFAR-10 binary format
# (bench/make_cifar.py), preset wrn-cifar10, the PyTorch side's batch/augmentation/normalization/
# layout read from `wrn train --print-config`, SGD momentum 0.9 Nesterov wd 5e-4, the same
# intra-op threads and environment (GLIBC_TUNABLES included) on both sides, PyTorch eager only.
#
# What is timed (as in compare_pytorch.sh):
#   wrn:     `wrn train --precision P` for 2 epochs of STEPS steps of B images (data.limit_train
#            = STEPS x B); epoch 2's images_per_second from metrics.jsonl (training steps with
#            the data pipeline; evaluation and checkpoints excluded). Epoch 1 is the warm-up.
#   PyTorch: WARMUP untimed steps, then STEPS timed steps over the same STEPS x B images;
#            images / the summed step time.
# ratio = wrn / PyTorch eager; "x first" = images/s over the sweep's first row's, per side.
#
# Usage: WRN=build/wrn bash bench/scaling.sh
# Environment (defaults in brackets):
#   BATCHES ["32 64 128 256"]  BATCH_THREADS [2]  THREAD_COUNTS ["1 2"]  THREADS_BATCH [128]
#   STEPS [20]  WARMUP [5]  PRECISION [fp32]  MODEL [wrn-16-4]
#   WRN [build/wrn]  PYTHON [the venv of `make deps`]  JSON [/tmp/wrn-scaling.json]
# About 12 minutes on 2 cores with the defaults (WRN-16-4 fp32: ~1 s a step at batch 128).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRN=${WRN:-$ROOT/build/wrn}
PYTHON=${PYTHON:-$(make -s -C "$ROOT" --no-print-directory python-path)}  # the venv of `make deps`
BATCHES=${BATCHES:-32 64 128 256}
BATCH_THREADS=${BATCH_THREADS:-2}
THREAD_COUNTS=${THREAD_COUNTS:-1 2}
THREADS_BATCH=${THREADS_BATCH:-128}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-5}
PRECISION=${PRECISION:-fp32}
MODEL=${MODEL:-wrn-16-4}
JSON=${JSON:-/tmp/wrn-scaling.json}
SEED=1

die() { echo "scaling: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"  # make_cifar, wrn_train_base, the PyTorch side's arguments and run
need_wrn_and_python
[[ $PRECISION == fp32 || $PRECISION == bf16 ]] || die "PRECISION: '$PRECISION' is not fp32 or bf16"
[[ $MODEL =~ ^wrn-[0-9]+-[0-9]+$ ]] || die "MODEL: '$MODEL' is not wrn-D-K"
for v in $BATCHES $BATCH_THREADS $THREAD_COUNTS $THREADS_BATCH $STEPS; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || die "'$v' in BATCHES/BATCH_THREADS/THREAD_COUNTS/THREADS_BATCH/STEPS is not a positive integer"
done
[[ -n ${BATCHES// /}${THREAD_COUNTS// /} ]] || die "BATCHES and THREAD_COUNTS are both empty"
WRN_PRECISION=0
if wrn_has_precision train; then
  WRN_PRECISION=1
elif [[ $PRECISION != fp32 ]]; then
  die "$WRN has no 'train --precision' (issue 8): only PRECISION=fp32"
fi

WORK=$(mktemp -d /tmp/wrn-scaling.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

CPU=$(lscpu | sed -n 's/^Model name: *//p')
echo "training cost growth, wrn vs PyTorch eager: $MODEL 32x32x3, $PRECISION, $STEPS timed steps per row," \
  "batches $BATCHES at $BATCH_THREADS threads, threads $THREAD_COUNTS at batch $THREADS_BATCH;" \
  "CPU: ${CPU:-unknown}, $(nproc) cores; $("$PYTHON" -c 'import torch; print("torch", torch.__version__)')"

# The data: enough images for the largest batch (each row takes the first STEPS x B).
max_batch=$THREADS_BATCH
for b in $BATCHES; do if ((b > max_batch)); then max_batch=$b; fi; done
make_cifar "$WORK/cifar" $((STEPS * max_batch)) $((2 * max_batch))

# run_row BATCH THREADS: both sides; appends {"batch", "threads", "wrn", "pytorch"} to RESULTS
# unless the pair ran already.
declare -A SEEN=()
run_row() {
  local batch=$1 threads=$2 tag=b$1-t$2
  [[ -z ${SEEN[$tag]:-} ]] || return 0
  SEEN[$tag]=1
  wrn_train_base wrn-cifar10 "$MODEL" "$WORK/cifar" "$threads" "$batch" "$STEPS" 2
  local args=("${WRN_BASE[@]}")
  if ((WRN_PRECISION)); then args+=(--precision "$PRECISION"); fi
  "$WRN" "${args[@]}" --print-config >"$WORK/$tag.yaml" || die "wrn ${args[*]} --print-config failed"
  local py_args wrn_json py_json t0=$SECONDS
  py_args=$(pytorch_args_from_config scaling "$WORK/$tag.yaml" "$PRECISION" "")
  echo
  echo "== batch $batch, $threads thread(s): $STEPS timed steps"
  "$WRN" "${args[@]}" --quiet --out "$WORK/run-$tag" >"$WORK/$tag.wrn.log" 2>&1 ||
    { cat "$WORK/$tag.wrn.log" >&2; die "wrn train (batch $batch, $threads threads) failed"; }
  wrn_json=$(wrn_epoch2_json scaling "$WORK/run-$tag/metrics.jsonl" "$PRECISION")
  echo "   wrn:     $wrn_json ($((SECONDS - t0)) s)"
  t0=$SECONDS
  py_json=$(pytorch_train_json cifar10 "$WORK/cifar" "$MODEL" "$threads" "$WARMUP" "$STEPS" $((STEPS * batch)) \
    "$PRECISION" "$py_args")
  echo "   pytorch: images_per_second $("$PYTHON" -c 'import json, sys; print("%.1f" % json.loads(sys.argv[1])["images_per_second"])' "$py_json") ($((SECONDS - t0)) s)"
  "$PYTHON" -c 'import json, sys; print(json.dumps({"batch": int(sys.argv[1]), "threads": int(sys.argv[2]),
    "wrn": json.loads(sys.argv[3]), "pytorch": json.loads(sys.argv[4])}))' "$batch" "$threads" "$wrn_json" "$py_json" \
    >>"$RESULTS"
}

for b in $BATCHES; do run_row "$b" "$BATCH_THREADS"; done
for t in $THREAD_COUNTS; do run_row "$THREADS_BATCH" "$t"; done

echo
"$PYTHON" - "$RESULTS" "$JSON" "$MODEL" "$PRECISION" "$STEPS" "$CPU" "$BATCHES" "$BATCH_THREADS" \
  "$THREAD_COUNTS" "$THREADS_BATCH" <<'EOF'
import json, os, sys
results, out, model, precision, steps, cpu, batches, batch_threads, thread_counts, threads_batch = sys.argv[1:]
runs = {(r["batch"], r["threads"]): r for r in (json.loads(l) for l in open(results) if l.strip())}
t = os.environ.get("GLIBC_TUNABLES", "")
same = "glibc.malloc.mmap_threshold=67108864" in t and "glibc.malloc.trim_threshold=536870912" in t
sweeps = [("batch", [(int(b), int(batch_threads)) for b in batches.split()]),
          ("threads", [(int(threads_batch), int(n)) for n in thread_counts.split()])]
rows = []
for sweep, keys in sweeps:
    first = None
    for key in keys:
        r = runs[key]
        wi, pi = r["wrn"]["images_per_second"], r["pytorch"]["images_per_second"]
        first = first or (wi, pi)
        rows.append({"sweep": sweep, "model": model, "input": "32x32x3", "batch": key[0], "threads": key[1],
                     "precision": precision, "steps": int(steps), "cpu": cpu, "torch": r["pytorch"]["torch"],
                     "glibc_tunables": t, "same_malloc": same,
                     "wrn_images_per_second": wi, "pytorch_images_per_second": pi, "ratio": wi / pi,
                     "wrn_vs_first": wi / first[0], "pytorch_vs_first": pi / first[1],
                     "wrn": r["wrn"], "pytorch": r["pytorch"]})
json.dump(rows, open(out, "w"), indent=1)
hdr = ("sweep", "model", "batch", "threads", "precision", "wrn img/s", "PyTorch eager img/s", "ratio",
       "wrn x first", "PyTorch x first")
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join("---" for _ in hdr) + "|")
for r in rows:
    print(f"| {r['sweep']} | {model} | {r['batch']} | {r['threads']} | {precision} | {r['wrn_images_per_second']:.1f} | "
          f"{r['pytorch_images_per_second']:.1f} | {r['ratio']:.2f} | {r['wrn_vs_first']:.2f} | {r['pytorch_vs_first']:.2f} |")
print(f"\nratio = wrn / PyTorch eager; x first = images/s / the sweep's first row's, per side; results in {out}")
print(f"CPU: {cpu or 'unknown'}")
print("malloc: " + (f"the same on both sides, GLIBC_TUNABLES={t}" if same else
      "NOT the same on both sides (wrn sets mmap_threshold 64 MiB and trim_threshold 512 MiB in main(); "
      "PyTorch runs with " + (f"GLIBC_TUNABLES={t}" if t else "glibc's defaults") + ")"))
EOF
