#!/usr/bin/env bash
# Training input pipeline throughput: `wrn bench data` (data::BatchLoader worker threads running
# data::load_train_sample: libjpeg-turbo decode of the crop's rows and iMCU columns, at 1/2 - 1/8
# scale when the crop allows, antialiased resize, flip) against torchvision's DataLoader over
# ImageFolder with RandomResizedCrop(SIZE) + RandomHorizontalFlip() + PILToTensor() (PIL decode
# and resize in WORKERS worker processes, bench/torchvision_data.py), on COUNT generated JPEGs
# (bench/make_jpeg_folder.py: around 500x375, quality 90, ImageFolder layout of 10 classes).
#
# Both produce uint8 batches of BATCH images of 3xSIZExSIZE, in order, WORKERS workers (threads
# for wrn, processes for torchvision, persistent between epochs); both time whole epochs after
# WARMUP warm-up epochs (files in the page cache) and report the median of EPOCHS.
# ratio = wrn / torchvision, of images/s and of images per CPU second (user + system CPU time of
# the timed epochs: wrn's process, every thread; torchvision's main process and its workers,
# from /proc): a second view on a busy machine (contention raises the CPU time too, less so).
#
# Usage (it needs the cores to itself; on the shared machine hold the build lock):
#   flock /tmp/wrn-build.lock bash bench/compare_data.sh
# Environment (defaults in brackets):
#   WORKERS [2]  COUNT [2000]  SIZE [224]  BATCH [64]  EPOCHS [3]  WARMUP [1]
#   DIR [a new temporary folder, removed at the end; a given DIR is kept and reused]
#   WRN [build/wrn]  PYTHON [the venv of `make deps`]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRN=${WRN:-$ROOT/build/wrn}
PYTHON=${PYTHON:-$(make -s -C "$ROOT" --no-print-directory python-path)}  # the venv of `make deps`
WORKERS=${WORKERS:-2}
COUNT=${COUNT:-2000}
SIZE=${SIZE:-224}
BATCH=${BATCH:-64}
EPOCHS=${EPOCHS:-3}
WARMUP=${WARMUP:-1}

die() { echo "compare_data: $*" >&2; exit 1; }
[[ -x $WRN ]] || die "$WRN not found: build it first (make)"
"$PYTHON" -c 'import torch, torchvision, PIL, numpy' 2>/dev/null ||
  die "$PYTHON cannot import torch/torchvision/PIL/numpy: run 'make deps' (the venv)"

if [[ -z ${DIR:-} ]]; then
  DIR=$(mktemp -d /tmp/wrn-compare-data.XXXXXX)
  trap 'rm -rf "$DIR"' EXIT
fi
if [[ ! -d $DIR/class00 ]]; then
  echo "writing $COUNT JPEGs to $DIR ..."
  "$PYTHON" "$ROOT/bench/make_jpeg_folder.py" "$DIR" --count "$COUNT"
fi

load_before=$(cut -d" " -f1-3 /proc/loadavg)
common=(--workers "$WORKERS" --size "$SIZE" --batch "$BATCH" --images "$COUNT" --epochs "$EPOCHS" --warmup "$WARMUP")
tv_out=$("$PYTHON" "$ROOT/bench/torchvision_data.py" "$DIR" "${common[@]}")
echo "$tv_out"
wrn_out=$("$WRN" bench data --dir "$DIR" "${common[@]}")
echo "$wrn_out"

tv=$(sed -n 's/^images\/s //p' <<<"$tv_out")
wrn=$(sed -n 's/^images\/s //p' <<<"$wrn_out")
tv_cpu=$(sed -n 's/^images\/cpu-s //p' <<<"$tv_out")
wrn_cpu=$(sed -n 's/^images\/cpu-s //p' <<<"$wrn_out")
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo
printf '%-34s %10s %14s\n' "pipeline ($WORKERS workers)" "images/s" "images/CPU-s"
printf '%-34s %10s %14s\n' "torchvision DataLoader (PIL)" "$tv" "${tv_cpu:-?}"
printf '%-34s %10s %14s\n' "wrn bench data" "$wrn" "${wrn_cpu:-?}"
awk -v a="$wrn" -v b="$tv" 'BEGIN { printf "ratio wrn / torchvision: %.2fx images/s", a / b }'
awk -v a="${wrn_cpu:-0}" -v b="${tv_cpu:-0}" 'BEGIN { if (b > 0) printf ", %.2fx images per CPU second", a / b; print "" }'
echo "CPU: $cpu ($(nproc) cores visible); load average before: $load_before"
