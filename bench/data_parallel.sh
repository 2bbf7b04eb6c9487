#!/usr/bin/env bash
# Data-parallel throughput on this machine (issue 10): WRN-16-4 on synthetic CIFAR-10-format
# files (bench/make_cifar.py), global batch 128, one run per row:
#   wrn      1 rank  x T threads      wrn train --threads T
#   wrn      R ranks x T/R threads    wrn train --nproc-per-node R --threads T/R (allreduce overlapped
#                                     with the backward pass, the default; then again with
#                                     distributed.overlap=false: all buckets after the backward)
#   PyTorch  the same two shapes      bench/pytorch_train.py, alone and under torchrun with DDP (Gloo)
# wrn: epoch 2's images/s (epoch 1 is the warm-up) and its "allreduce X ms/step (...)": the
# wait for the gradient reduction per step, with the bytes it reduced per second, or when
# overlapped the wait the backward pass did not hide and how many buckets started inside it.
# PyTorch: --steps timed steps after 5 warm-up steps (pytorch_train.py's header).
# Also checks `torchrun --no_python wrn train` (the pinned torch's torchrun, unpatched).
# Usage: WRN=build/wrn bash bench/data_parallel.sh   (env: RANKS=2 THREADS=nproc STEPS=20 PRECISIONS="fp32 bf16"
#        JSON=/tmp/wrn-data-parallel.json: the table's rows, read by bench/targets.py)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRN=${WRN:-$ROOT/build/wrn}
PYTHON=${PYTHON:-$(make -s -C "$ROOT" --no-print-directory python-path)}  # the venv of `make deps`
THREADS=${THREADS:-$(nproc)}
RANKS=${RANKS:-2}
STEPS=${STEPS:-20}
BATCH=128
PRECISIONS=${PRECISIONS:-fp32 bf16}
JSON=${JSON:-/tmp/wrn-data-parallel.json}
WORK=$(mktemp -d /tmp/wrn-dp-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
MEAN="[125,123,114]"; STD="[63,62,66]"

"$PYTHON" "$ROOT/bench/make_cifar.py" "$WORK/cifar" $((STEPS * BATCH)) 256
PER=$((THREADS / RANKS)); [ "$PER" -ge 1 ] || PER=1

wrn_run() {  # OUT PRECISION EXTRA...: prints "images/s allreduce-text"
  local out=$1 precision=$2; shift 2
  "$WRN" train "$@" --preset wrn-cifar10 --model wrn-16-4 --data "$WORK/cifar" --precision "$precision" \
    --set data.limit_train=$((STEPS * BATCH)) --set data.limit_test=256 --batch-size $BATCH --epochs 2 \
    --set checkpoint.every_seconds=0 --set checkpoint.keep_best=false \
    --set "data.normalize.mean=$MEAN" --set "data.normalize.std=$STD" --out "$out" >"$out.log" 2>&1 ||
    { cat "$out.log" >&2; exit 1; }
  local ips ar
  ips=$("$PYTHON" -c 'import json,sys; print("%.1f" % [json.loads(l) for l in open(sys.argv[1])][-1]["images_per_second"])' "$out/metrics.jsonl")
  ar=$(grep -o 'epoch 2/2 .*' "$out.log" | grep -o 'allreduce [0-9.]* ms/step ([^)]*)' || true)
  echo "$ips|${ar:--}"
}

torch_run() {  # PRECISION RANKS THREADS
  local precision=$1 ranks=$2 threads=$3
  local args=(--dataset cifar10 --data "$WORK/cifar" --depth 16 --width 4 --batch "$BATCH" --threads "$threads"
              --steps "$STEPS" --limit $((STEPS * BATCH)) --mean 125 123 114 --std 63 62 66 --precision "$precision")
  if [ "$ranks" = 1 ]; then
    "$PYTHON" "$ROOT/bench/pytorch_train.py" "${args[@]}"
  else
    "$PYTHON" -m torch.distributed.run --nproc_per_node "$ranks" --master_port "$((20000 + RANDOM % 20000))" \
      "$ROOT/bench/pytorch_train.py" "${args[@]}" 2>/dev/null
  fi | "$PYTHON" -c 'import json,sys; print("%.1f" % json.loads(sys.stdin.read().strip().splitlines()[-1])["images_per_second"])'
}

ROWS=$WORK/rows.jsonl
: >"$ROWS"
row_json() {  # PRECISION RANKS THREADS_PER_RANK WRN_IPS WRN_ALLREDUCE PYTORCH_IPS OVERLAP >> ROWS
  "$PYTHON" -c 'import json, os, sys
p, r, t, w, ar, pt, ov = sys.argv[1:]
print(json.dumps({"precision": p, "ranks": int(r), "threads_per_rank": int(t), "batch": 128, "model": "wrn-16-4",
                  "overlap": ov == "true",
                  "input": "32x32x3", "steps": int(os.environ["STEPS"]), "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
                  "same_malloc": all(k in os.environ.get("GLIBC_TUNABLES", "") for k in
                                     ("glibc.malloc.mmap_threshold=67108864", "glibc.malloc.trim_threshold=536870912")),
                  "wrn_images_per_second": float(w), "wrn_allreduce": None if ar == "-" else ar,
                  "pytorch_images_per_second": float(pt), "ratio": float(w) / float(pt),
                  "pytorch": "bench/pytorch_train.py" + (" under torchrun, DistributedDataParallel (Gloo)" if int(r) > 1 else "")}))' \
    "$@" >>"$ROWS"
}

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(lscpu | grep -o 'amx_bf16\|avx512_bf16' | sort -u | tr '\n' ' ')"
echo
echo "| precision | shape | wrn img/s | wrn allreduce | PyTorch img/s | wrn / PyTorch |"
echo "|---|---|---:|---|---:|---:|"
for p in $PRECISIONS; do
  IFS='|' read -r w1 _ <<<"$(wrn_run "$WORK/w1-$p" "$p" --threads "$THREADS")"
  IFS='|' read -r w2 ar <<<"$(wrn_run "$WORK/w2-$p" "$p" --threads "$PER" --nproc-per-node "$RANKS")"
  IFS='|' read -r w3 ar3 <<<"$(wrn_run "$WORK/w3-$p" "$p" --threads "$PER" --nproc-per-node "$RANKS" \
                                --set distributed.overlap=false)"
  t1=$(torch_run "$p" 1 "$THREADS")
  t2=$(torch_run "$p" "$RANKS" "$PER")
  echo "| $p | 1 rank x $THREADS threads | $w1 | - | $t1 | $("$PYTHON" -c "print('%.2f' % ($w1/$t1))") |"
  echo "| $p | $RANKS ranks x $PER thread(s) | $w2 | $ar | $t2 | $("$PYTHON" -c "print('%.2f' % ($w2/$t2))") |"
  echo "| $p | $RANKS ranks x $PER thread(s), distributed.overlap=false | $w3 | $ar3 | $t2 | $("$PYTHON" -c "print('%.2f' % ($w3/$t2))") |"
  STEPS=$STEPS row_json "$p" 1 "$THREADS" "$w1" - "$t1" false
  STEPS=$STEPS row_json "$p" "$RANKS" "$PER" "$w2" "$ar" "$t2" true
  STEPS=$STEPS row_json "$p" "$RANKS" "$PER" "$w3" "$ar3" "$t2" false
done
"$PYTHON" -c 'import json, sys; json.dump([json.loads(l) for l in open(sys.argv[1])], open(sys.argv[2], "w"), indent=1)' \
  "$ROWS" "$JSON"
echo "rows in $JSON"
echo
# torchrun --no-python: wrn as the worker program, the agent's store (TORCHELASTIC_USE_AGENT_STORE).
if "$PYTHON" -m torch.distributed.run --nproc_per_node 2 --master_port "$((20000 + RANDOM % 20000))" --no_python \
    "$WRN" train --preset demo --model wrn-10-1 --set data.limit_train=512 --set data.limit_test=128 --epochs 1 \
    --threads 1 --quiet --out "$WORK/torchrun" >"$WORK/torchrun.log" 2>&1 && [ -f "$WORK/torchrun/checkpoints/last.ckpt" ]; then
  echo "torchrun --no-python --nproc-per-node 2 wrn train: ok ($(grep -c . "$WORK/torchrun/metrics.jsonl") epoch, world_size in the checkpoint)"
else
  echo "torchrun --no-python wrn train: FAILED"; tail -5 "$WORK/torchrun.log"
fi
