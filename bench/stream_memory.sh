#!/usr/bin/env bash
# Peak memory of streamed training does not grow with the data set: one epoch of `wrn train`
# with data.storage=stream over SMALL and LARGE generated JPEG images (same model, batch and
# workers), peak RSS from /usr/bin/time -v, and the same two runs with data.storage=memory for
# contrast (the decoded set is held there). Issue 9's bar: the two streamed peaks differ by less
# than 10%.
#
# Usage: bash bench/stream_memory.sh      Environment (defaults in brackets):
#   SMALL [5000]  LARGE [20000]  SIZE [64] (image side; files are SIZE x 3/4 SIZE JPEGs)
#   WORKERS [2]  MODEL [wrn-10-1]  WRN [build/wrn]  PYTHON [the venv of `make deps`]  DIR [temporary]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRN=${WRN:-$ROOT/build/wrn}
PYTHON=${PYTHON:-$(make -s -C "$ROOT" --no-print-directory python-path)}  # the venv of `make deps`
SMALL=${SMALL:-5000}
LARGE=${LARGE:-20000}
SIZE=${SIZE:-64}
WORKERS=${WORKERS:-2}
MODEL=${MODEL:-wrn-10-1}

die() { echo "stream_memory: $*" >&2; exit 1; }
[[ -x $WRN ]] || die "$WRN not found: build it first (make)"
"$PYTHON" -c 'import PIL, numpy' 2>/dev/null || die "$PYTHON cannot import PIL/numpy (apt-get install python3-pil)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"

KEEP=1
if [[ -z ${DIR:-} ]]; then DIR=$(mktemp -d /tmp/wrn-stream-memory.XXXXXX); KEEP=0; fi
trap '[[ $KEEP == 1 ]] || rm -rf "$DIR"' EXIT

# LARGE images in train/ (10 classes), 500 in val/: noise over a per-class colour, JPEG q90.
"$PYTHON" - "$DIR" "$LARGE" "$SIZE" <<'EOF'
import os, sys
import numpy as np
from PIL import Image
root, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
for split, n in (("train", count), ("val", 500)):
    if os.path.isdir(os.path.join(root, split)) and sum(len(f) for _, _, f in os.walk(os.path.join(root, split))) == n:
        continue
    for i in range(n):
        c = i % 10
        base = np.array([25 * c, 255 - 25 * c, (70 * c) % 256], np.float32)
        img = base + rng.normal(0, 40, size=(size * 3 // 4, size, 3))
        d = os.path.join(root, split, f"class{c}")
        os.makedirs(d, exist_ok=True)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(os.path.join(d, f"{i:06d}.jpg"), quality=90)
EOF

peak_mb() {  # storage limit -> peak RSS in MB of one epoch
  local out="$DIR/run-$1-$2" log="$DIR/time-$1-$2.txt"
  rm -rf "$out"
  /usr/bin/time -v "$WRN" train --set data.kind=folder --data "$DIR" --model "$MODEL" --epochs 1 \
    --set data.storage="$1" --set data.limit_train="$2" --set data.workers="$WORKERS" --set data.image_size=32 \
    --set data.channels=3 --set schedule.type=constant --batch-size 128 --threads 2 --quiet --out "$out" \
    >/dev/null 2>"$log" || { cat "$log" >&2; die "wrn train failed"; }
  awk '/Maximum resident set size/ {printf "%.1f", $NF / 1024}' "$log"
}

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
s_small=$(peak_mb stream "$SMALL"); s_large=$(peak_mb stream "$LARGE")
m_small=$(peak_mb memory "$SMALL"); m_large=$(peak_mb memory "$LARGE")
printf "%-8s %10s %10s %8s\n" storage "$SMALL img" "$LARGE img" change
printf "%-8s %8s MB %8s MB %7s\n" stream "$s_small" "$s_large" \
  "$(awk -v a="$s_small" -v b="$s_large" 'BEGIN {printf "%+.1f%%", 100 * (b - a) / a}')"
printf "%-8s %8s MB %8s MB %7s\n" memory "$m_small" "$m_large" \
  "$(awk -v a="$m_small" -v b="$m_large" 'BEGIN {printf "%+.1f%%", 100 * (b - a) / a}')"
awk -v a="$s_small" -v b="$s_large" 'BEGIN {d = (b - a) / a; if (d < 0) d = -d;
  printf "streamed peak RSS differs by %.1f%% (bar: < 10%%): %s\n", 100 * d, d < 0.10 ? "met" : "NOT met"}'
