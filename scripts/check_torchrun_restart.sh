#!/usr/bin/env bash
# PyTorch's own torchrun with --max-restarts 1 (issue 25): 2 ranks of `wrn train`, one worker
# SIGKILLed after the run's first checkpoint. torchrun restarts every worker with the same
# command line (TORCHELASTIC_RESTART_COUNT=1); wrn must continue the run from its last
# checkpoint, say so, and finish with every epoch once in metrics.jsonl.
# Usage: check_torchrun_restart.sh PYTHON WRN
set -euo pipefail
python=$1 wrn=$2
d=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$d"' EXIT
"$python" -m torch.distributed.run --nproc-per-node 2 --standalone --max-restarts 1 --no-python "$wrn" train \
  --preset demo --model wrn-10-1 --set data.limit_train=4096 --set data.limit_test=128 --batch-size 64 \
  --epochs 2 --threads 1 --set checkpoint.every_steps=4 --set checkpoint.every_seconds=0 --quiet \
  --out "$d/run" > "$d/log" 2>&1 &
agent=$!
for _ in $(seq 1 1200); do
  [ -f "$d/run/checkpoints/last.ckpt" ] && break
  kill -0 "$agent" 2>/dev/null || break
  sleep 0.1
done
[ -f "$d/run/checkpoints/last.ckpt" ] || { echo "no checkpoint appeared"; cat "$d/log"; exit 1; }
# The newest `wrn train` of this run: one of the two workers (torchrun's agent is python).
pkill -KILL -n -f -- "--out $d/run" || { echo "no worker to kill"; cat "$d/log"; exit 1; }
wait "$agent" || { echo "torchrun failed"; cat "$d/log"; exit 1; }
grep -q "restart 1: continuing the run in $d/run" "$d/log" || { echo "no restart said"; cat "$d/log"; exit 1; }
[ "$(wc -l < "$d/run/metrics.jsonl")" = 2 ] || { echo "metrics.jsonl:"; cat "$d/run/metrics.jsonl"; exit 1; }
grep -q "2 ranks" "$d/run/report.md"
echo "torchrun --max-restarts 1: the killed world restarted and finished the run"
