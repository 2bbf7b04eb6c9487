#!/usr/bin/env bash
# Inference throughput of `wrn bench infer` against PyTorch 2.x (bench/pytorch_infer.py, from the
# venv of `make deps`: eager/TorchScript, and torch.compile with and without inductor's freezing
# unless COMPILE=0) and against ONNX Runtime on wrn's own ONNX export (bench/onnxruntime_infer.py,
# unless ORT=0) on this machine, in this run, per precision:
#
#   WRN-16-4  on 3x32x32,   batch 64 (the WRN authors' structure, bench/pytorch_train.py)
#   ResNet-50 on 3x224x224, batch 16 (torchvision.models.resnet50)
#
# The same model structure and parameter count on both sides (checked against `wrn info`),
# random weights and a random input batch, THREADS intra-op threads, WARMUP untimed forwards
# and the median of ITERS timed forwards on both sides.
#   wrn:     `wrn bench infer --model M --input CxHxW --batch B --threads T --precision P`: the
#            plain eval forward (no_grad) and the optimized path (BN folded into the convs,
#            in-place ReLU, no autograd) in each layout it prints. "wrn optimized" is the
#            fastest layout of that run, named in the table. A binary without --precision
#            (before issue 8) runs fp32 only (without the flag); its bf16 rows are skipped.
#   PyTorch: fp32: `torch.jit.optimize_for_inference(torch.jit.script(model.eval()))` under
#            no_grad, dense NCHW input (the eager model.eval() forward is in the JSON too);
#            bf16: the pure bf16 eval a PyTorch user writes, `model.bfloat16().eval()`,
#            channels_last, a bfloat16 channels_last input, eager, under no_grad.
#   ONNX Runtime (fp32 rows only): the seed-0 weights of the PyTorch side's model written as a
#            state_dict, made a wrn checkpoint (`wrn import`) and exported by wrn
#            (`wrn export --format onnx --input CxHxW`, its defaults: opset 13, BN folded where
#            it can be); onnxruntime's default CPUExecutionProvider, ORT_ENABLE_ALL graph
#            optimizations, intra_op_num_threads = THREADS, inter_op 1; the same fp32 NCHW input,
#            WARMUP untimed runs, the median of ITERS timed session.run calls. Its logits are
#            checked against the PyTorch eval forward of the same weights (first 2 images), and
#            the graph's input against [batch, C, H, W]. bf16 rows say "-": ORT's CPU execution
#            provider has no bf16 convolutions (the export is fp32; wrn bf16 / ORT fp32 is in
#            bench/targets.py's reasons).
# ratio = wrn optimized / PyTorch at the same precision; wrn / ORT = wrn optimized / ONNX Runtime.
#
# Roofline: bench/roofline.py (once per run, THREADS threads) measures the fp32 and bf16 GEMM
# GFLOP/s (2048^3 as torch.matmul and as a oneDNN 1x1 convolution; the roof is the larger) and
# prints the CPU model and its avx512_bf16 / amx_bf16 flags. "roof" = inference FLOP/s / the
# roof at that precision, with inference FLOP/s = images/s x 2 x forward MACs per image
# (`wrn info M --input CxHxW --json`: conv and linear multiply-accumulates; BN, ReLU, pooling
# and additions are not counted).
#
# Usage (it needs the cores to itself; on the shared machine hold the build lock):
#   flock /tmp/wrn-build.lock bash bench/compare_inference.sh
# Environment (defaults in brackets):
#   THREADS [2]  ITERS [10]  WARMUP [2]  PRECISIONS ["fp32 bf16"]
#   ONLY [both | wrn-16-4 | resnet50]  LAYOUT [all: every layout wrn bench infer has]  COMPILE [1]
#   ORT [1: the ONNX Runtime column; 0 skips it]
#   ROOFLINE_SIZE [2048]  ROOFLINE_REPS [3]
#   WRN [build/wrn]  PYTHON [the venv of `make deps`]  JSON [/tmp/wrn-compare-inference.json]
# About 4 minutes on 2 cores with the defaults. Both sides inherit the environment
# (GLIBC_TUNABLES included; the summary says whether both sides had wrn's malloc thresholds,
# as in bench/compare_pytorch.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRN=${WRN:-$ROOT/build/wrn}
PYTHON=${PYTHON:-$(make -s -C "$ROOT" --no-print-directory python-path)}  # the venv of `make deps`
THREADS=${THREADS:-2}
ITERS=${ITERS:-10}
WARMUP=${WARMUP:-2}
PRECISIONS=${PRECISIONS:-fp32 bf16}
ONLY=${ONLY:-both}
COMPILE=${COMPILE:-1}
ORT=${ORT:-1}
LAYOUT=${LAYOUT:-all}
ROOFLINE_SIZE=${ROOFLINE_SIZE:-2048}
ROOFLINE_REPS=${ROOFLINE_REPS:-3}
JSON=${JSON:-/tmp/wrn-compare-inference.json}

die() { echo "compare_inference: $*" >&2; exit 1; }
[[ -x $WRN ]] || die "$WRN not found: build it first (make)"
"$PYTHON" -c 'import torch, numpy' 2>/dev/null ||
  die "$PYTHON cannot import torch/numpy: run 'make deps' (the venv)"
[[ $ONLY == both || $ONLY == wrn-16-4 || $ONLY == resnet50 ]] || die "ONLY: '$ONLY' is not both, wrn-16-4 or resnet50"
if [[ $ONLY != wrn-16-4 ]]; then
  "$PYTHON" -c 'import torchvision' 2>/dev/null ||
    die "$PYTHON cannot import torchvision (ResNet-50): run 'make deps' (the venv), or ONLY=wrn-16-4"
fi
if [[ $ORT == 1 ]]; then
  "$PYTHON" -c 'import onnxruntime' 2>/dev/null ||
    die "$PYTHON cannot import onnxruntime: run 'make deps' (the venv), or ORT=0"
fi
for p in $PRECISIONS; do
  [[ $p == fp32 || $p == bf16 ]] || die "PRECISIONS: '$p' is not fp32 or bf16 (fp16 is CUDA-only; auto is not a comparison)"
done
[[ -n ${PRECISIONS// /} ]] || die "PRECISIONS is empty (expected e.g. \"fp32 bf16\")"

WORK=$(mktemp -d /tmp/wrn-compare-inference.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

echo "wrn vs PyTorch inference throughput: $THREADS threads, $(nproc) cores," \
  "$("$PYTHON" -c 'import torch; print("torch", torch.__version__)'), precisions: $PRECISIONS," \
  "median of $ITERS after $WARMUP warm-up"

WRN_PRECISION=0
# (the help text is read whole first: grep -q in a pipe would SIGPIPE the tool under pipefail)
help_text=$("$WRN" bench infer --help 2>/dev/null || true)
if [[ $help_text == *--precision* ]]; then
  WRN_PRECISION=1
else
  echo "note: $WRN has no 'bench infer --precision': its fp32 rows run without the flag, its bf16 rows are skipped"
fi

ROOFLINE=$WORK/roofline.json
{ "$PYTHON" "$ROOT/bench/roofline.py" --threads "$THREADS" --size "$ROOFLINE_SIZE" --reps "$ROOFLINE_REPS" \
  --text >"$ROOFLINE"; } 2>&1 || die "bench/roofline.py failed"  # its summary on stdout, its JSON in the file

# infer_case MODEL CxHxW BATCH CLASSES
infer_case() {
  local model=$1 chw=$2 batch=$3 classes=$4
  local info
  info=$("$WRN" info "$model" --input "$chw" --classes "$classes" --json) || die "wrn info $model failed"

  # wrn's own ONNX export of the PyTorch side's weights, for ONNX Runtime (fp32 rows only).
  local onnx=$WORK/$model.onnx
  if [[ $ORT == 1 && " $PRECISIONS " == *" fp32 "* ]]; then
    "$PYTHON" "$ROOT/bench/onnxruntime_infer.py" --write-state-dict "$WORK/$model.pt" --model "$model" \
      --input "$chw" --classes "$classes" || die "writing $model's state_dict failed"
    # (the mean/std are metadata only: wrn's ONNX graph takes the normalized input, which the
    # logits check in onnxruntime_infer.py confirms)
    "$WRN" import --from "$WORK/$model.pt" --model "$model" --classes "$classes" --input "$chw" \
      --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 --out "$WORK/$model.ckpt" >"$WORK/$model.import.log" 2>&1 ||
      { cat "$WORK/$model.import.log" >&2; die "wrn import of $model failed"; }
    "$WRN" export --checkpoint "$WORK/$model.ckpt" --format onnx --input "$chw" --threads "$THREADS" \
      --out "$onnx" >"$WORK/$model.export.log" 2>&1 ||
      { cat "$WORK/$model.export.log" >&2; die "wrn export --format onnx of $model failed"; }
    rm -f "$WORK/$model.pt" "$WORK/$model.ckpt"
  fi
  local precision
  for precision in $PRECISIONS; do
    local tag=$model-$precision wrn_skip="" wrn_json=null
    local args=(bench infer --model "$model" --input "$chw" --classes "$classes" --batch "$batch"
      --threads "$THREADS" --iters "$ITERS" --warmup "$WARMUP" --layout "$LAYOUT")
    if ((WRN_PRECISION)); then
      args+=(--precision "$precision")
    elif [[ $precision != fp32 ]]; then
      wrn_skip="$WRN has no --precision"
    fi
    echo
    echo "== $model $chw batch $batch, $precision"
    local t0=$SECONDS
    if [[ -n $wrn_skip ]]; then
      echo "   wrn:     SKIPPED ($wrn_skip: build the binary with issue 8's mixed precision)"
    else
      "$WRN" "${args[@]}" >"$WORK/$tag.wrn.log" 2>&1 ||
        { cat "$WORK/$tag.wrn.log" >&2; die "wrn ${args[*]} failed"; }
      sed 's/^/   | /' "$WORK/$tag.wrn.log"
      wrn_json=$("$PYTHON" - "$WORK/$tag.wrn.log" "$precision" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
# `wrn bench infer` prints (tools/wrn/cmd_bench.cpp):
#   plain eval forward (no_grad)   368.0 images/s  173.9 ms/batch
#   optimized (mkldnn)             493.0 images/s  129.8 ms/batch  speed-up 1.34x
plain = re.findall(r"^plain\b.*?\s([0-9.]+) images/s", text, re.M)
opt = re.findall(r"^optimized \((.+?)\)\s+([0-9.]+) images/s", text, re.M)
if len(plain) != 1 or not opt:
    sys.exit("compare_inference: cannot read `wrn bench infer` output (expected one 'plain ... images/s' "
             "line and 'optimized (LAYOUT) ... images/s' lines):\n" + text)
layouts = {name: float(ips) for name, ips in opt}
best = max(layouts, key=layouts.get)
out = {"plain_images_per_second": float(plain[0]), "optimized": layouts,
       "best_layout": best, "images_per_second": layouts[best]}
# the header line names the resolved precision (issue 8's binary): "... threads 2 precision bf16 ..."
m = re.search(r"^model .*? precision (\w+)", text, re.M)
if m:
    out["precision"] = m.group(1)
    if m.group(1) != sys.argv[2]:  # a row under the wrong precision label is worse than none
        sys.exit(f"compare_inference: wrn bench infer ran in {m.group(1)}, the row is {sys.argv[2]}:\n" + text)
print(json.dumps(out))
EOF
) || exit 1
      echo "   wrn:     $wrn_json ($((SECONDS - t0)) s)"
    fi

    t0=$SECONDS
    local py_json
    py_json=$("$PYTHON" "$ROOT/bench/pytorch_infer.py" --model "$model" --input "$chw" --classes "$classes" \
      --batch "$batch" --threads "$THREADS" --warmup "$WARMUP" --iters "$ITERS" --precision "$precision" \
      --compile "$COMPILE")
    echo "   pytorch: $py_json ($((SECONDS - t0)) s)"

    local ort_json=null ort_skip=""
    if [[ $ORT != 1 ]]; then
      ort_skip="ORT=0"
    elif [[ $precision != fp32 ]]; then
      ort_skip="ORT's CPU execution provider has no $precision convolutions"
    else
      t0=$SECONDS
      ort_json=$("$PYTHON" "$ROOT/bench/onnxruntime_infer.py" --onnx "$onnx" --model "$model" --input "$chw" \
        --classes "$classes" --batch "$batch" --threads "$THREADS" --warmup "$WARMUP" --iters "$ITERS") ||
        die "bench/onnxruntime_infer.py ($model) failed"
      echo "   onnxruntime: $ort_json ($((SECONDS - t0)) s)"
    fi

    "$PYTHON" - "$model" "$chw" "$batch" "$THREADS" "$precision" "$wrn_skip" "$info" "$ROOFLINE" \
      "$wrn_json" "$py_json" "$ort_json" "$ort_skip" >>"$RESULTS" <<'EOF'
import json, os, sys
def same_malloc():  # wrn's main() sets these two itself (core/memory.cpp tune_allocator)
    t = os.environ.get("GLIBC_TUNABLES", "")
    return "glibc.malloc.mmap_threshold=67108864" in t and "glibc.malloc.trim_threshold=536870912" in t
model, chw, batch, threads, precision, skipped, info, roofline, w, p, o, o_skip = sys.argv[1:]
info, w, p, o = json.loads(info), json.loads(w), json.loads(p), json.loads(o)
roof = json.load(open(roofline))
if info["params"] != p["params"]:
    sys.exit(f"compare_inference: {model} has {info['params']} parameters in wrn, {p['params']} in PyTorch:"
             " not the same model")
macs = info["macs"]
frac = lambda ips: 2 * macs * ips / (roof[precision]["roof_gflops"] * 1e9)
wi = w["images_per_second"] if w else None
pi = p["images_per_second"]
print(json.dumps({"model": model, "input": chw, "batch": int(batch), "threads": int(threads),
                  "precision": precision, "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
                  "same_malloc": same_malloc(),
                  "wrn_plain_images_per_second": w["plain_images_per_second"] if w else None,
                  "wrn_optimized_images_per_second": wi,
                  "wrn_optimized_layout": w["best_layout"] if w else None,
                  "pytorch_images_per_second": pi, "pytorch_method": p["method"],
                  "ratio": wi / pi if wi else None, "wrn_skipped": skipped or None,
                  "pytorch_compile_images_per_second": p.get("compile", {}).get("images_per_second"),
                  "pytorch_compile_freezing_images_per_second": p.get("compile_freezing", {}).get("images_per_second"),
                  "onnxruntime_images_per_second": o["images_per_second"] if o else None,
                  "ratio_onnxruntime": wi / o["images_per_second"] if wi and o else None,
                  "onnxruntime_skipped": o_skip or None,
                  "macs_per_image": macs, "params": info["params"],
                  "roof_gflops": roof[precision]["roof_gflops"],
                  "wrn_roofline_fraction": frac(wi) if wi else None,
                  "pytorch_roofline_fraction": frac(pi),
                  "wrn": w, "pytorch": p, "onnxruntime": o, "roofline": roof}))
EOF
  done
}

if [[ $ONLY == both || $ONLY == wrn-16-4 ]]; then infer_case wrn-16-4 3x32x32 64 10; fi
if [[ $ONLY == both || $ONLY == resnet50 ]]; then infer_case resnet50 3x224x224 16 1000; fi

echo
PYTHONPATH="$ROOT/bench" "$PYTHON" - "$RESULTS" "$JSON" "$ROOFLINE" <<'EOF'
import json, sys
from roofline import print_summary_footer
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
roof = json.load(open(sys.argv[3]))
json.dump(rows, open(sys.argv[2], "w"), indent=1)
hdr = ("model", "input", "batch", "threads", "precision", "wrn plain img/s", "wrn optimized img/s",
       "PyTorch img/s", "ratio optimized/PyTorch", "PyTorch compile", "compile + freezing",
       "ratio / best compile", "ONNX Runtime img/s", "wrn / ORT", "wrn roof", "PyTorch roof")
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join("---" for _ in hdr) + "|")
pct = lambda f: f"{100 * f:.1f}%"
for r in rows:
    if r["wrn_optimized_images_per_second"] is None:
        wrn = ("skipped", "skipped", "-", "-")
    else:
        wrn = (f"{r['wrn_plain_images_per_second']:.1f}",
               f"{r['wrn_optimized_images_per_second']:.1f} ({r['wrn_optimized_layout']})",
               f"{r['ratio']:.2f}", pct(r["wrn_roofline_fraction"]))
    c, cf = r.get("pytorch_compile_images_per_second"), r.get("pytorch_compile_freezing_images_per_second")
    best_c = max([v for v in (c, cf) if v] or [0])
    vs_c = f"{r['wrn_optimized_images_per_second'] / best_c:.2f}" if best_c and r["wrn_optimized_images_per_second"] else "-"
    o, o_ratio = r.get("onnxruntime_images_per_second"), r.get("ratio_onnxruntime")
    print(f"| {r['model']} | {r['input']} | {r['batch']} | {r['threads']} | {r['precision']} | {wrn[0]} | "
          f"{wrn[1]} | {r['pytorch_images_per_second']:.1f} | {wrn[2]} | "
          f"{'-' if c is None else format(c, '.1f')} | {'-' if cf is None else format(cf, '.1f')} | {vs_c} | "
          f"{'-' if o is None else format(o, '.1f')} | {'-' if o_ratio is None else format(o_ratio, '.2f')} | {wrn[3]} | "
          f"{pct(r['pytorch_roofline_fraction'])} |")
print(f"\nratio = wrn optimized (fastest layout) / PyTorch at the same precision (> 1: wrn is faster);"
      f" results in {sys.argv[2]}")
methods = {}
for r in rows:
    methods.setdefault(r["precision"], r["pytorch_method"])
for p, m in methods.items():
    print(f"PyTorch {p}: {m}")
ort = next((r["onnxruntime"] for r in rows if r.get("onnxruntime")), None)
if ort:
    print(f"ONNX Runtime {ort['onnxruntime']} fp32: {ort['method']}")
for p in sorted({r["precision"] for r in rows if r.get("onnxruntime_skipped")}):
    print(f"ONNX Runtime {p}: - ({next(r['onnxruntime_skipped'] for r in rows if r['precision'] == p and r.get('onnxruntime_skipped'))})")
print_summary_footer(roof, rows, "inference FLOP/s (images/s x 2 x forward MACs)")
EOF
