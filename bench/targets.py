#!/usr/bin/env python3
"""Issue 23's target table from the JSON rows the benchmark scripts wrote (the last step of
`make bench`): measure | anchor | target | measured | status, with status "met", "NOT met" or
"not measured (why)". It runs nothing itself; each number is the ratio a script computed from
its own run, both sides in that run on this machine:

  bench/compare_pytorch.sh   /tmp/wrn-compare-pytorch.json    training img/s vs PyTorch eager and
                                                               torch.compile; wrn's roof share
  bench/compare_inference.sh /tmp/wrn-compare-inference.json  inference vs torch.compile with
                                                               freezing and ONNX Runtime
  bench/data_parallel.sh     /tmp/wrn-data-parallel.json      2 ranks x 1 thread vs PyTorch DDP (Gloo)
  bench/peak_memory.sh       /tmp/wrn-peak-memory.json        peak RSS vs PyTorch eager
  bench/scaling.sh           /tmp/wrn-scaling.json            images/s over batch and threads (shown,
                                                               no target)

Ratios are wrn / anchor (peak RSS: wrn / PyTorch, lower is better). A bf16 row on a CPU without
bf16 instructions (no avx512_bf16 / amx_bf16) is marked so: both sides emulate bf16 there.
Prints the CPU model, the torch / LibTorch / ONNX Runtime versions and the thread counts first.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

FILES = {
    "compare-pytorch": ("/tmp/wrn-compare-pytorch.json", "bench/compare_pytorch.sh"),
    "compare-inference": ("/tmp/wrn-compare-inference.json", "bench/compare_inference.sh"),
    "data-parallel": ("/tmp/wrn-data-parallel.json", "bench/data_parallel.sh"),
    "peak-memory": ("/tmp/wrn-peak-memory.json", "bench/peak_memory.sh"),
    "scaling": ("/tmp/wrn-scaling.json", "bench/scaling.sh"),
}
MODEL_NAMES = {"wrn-16-4": "WRN-16-4", "wrn-28-10": "WRN-28-10", "resnet50": "ResNet-50"}


def load(path):
    try:
        with open(path) as f:
            return json.load(f), None
    except FileNotFoundError:
        return None, f"{path} missing"
    except (OSError, ValueError) as e:
        return None, f"{path} unreadable: {e}"


class Table:
    def __init__(self, bf16_hw):
        self.rows = []
        self.bf16_hw = bf16_hw

    def add(self, measure, anchor, target, value, op, threshold, missing=None, fmt="{:.2f}x", notes=()):
        """value: the measured ratio or None (then missing says why)."""
        notes = [n for n in notes if n]
        if value is None:
            status = f"not measured ({missing})"
            shown = "-"
        else:
            ok = value >= threshold if op == ">=" else value <= threshold
            status = "met" if ok else "NOT met"
            shown = fmt.format(value)
        if notes:
            status += " [" + "; ".join(notes) + "]"
        self.rows.append((measure, anchor, target, shown, status))

    def print(self):
        hdr = ("measure", "anchor", "target", "measured", "status")
        print("| " + " | ".join(hdr) + " |")
        print("|" + "|".join("---" for _ in hdr) + "|")
        for r in self.rows:
            print("| " + " | ".join(r) + " |")


def bf16_note(precision, bf16_hw):
    if precision == "bf16" and bf16_hw is False:
        return "no bf16 instructions on this CPU: bf16 emulated on both sides"
    return None


def row_notes(r, precision, bf16_hw, steps_note=True):
    if r is None:
        return []
    notes = [bf16_note(precision, bf16_hw)]
    if r.get("same_malloc") is False:
        notes.append("malloc settings not the same on both sides")
    if steps_note and r.get("steps") is not None and r["steps"] < 10:
        notes.append(f"only {r['steps']} timed steps")
    return notes


def peak_note(r, precision, flop_per_image, sides):
    """fp32 rows: each side's FLOP/s as a share of the cores' fp32 FMA peak (bench/fma_peak.c via
    the roofline), which no convolution passes: how much room a target leaves."""
    peak = r and precision == "fp32" and (r.get("roofline") or {}).get("fp32", {}).get("fma_peak_gflops")
    if not peak or not r.get("macs_per_image"):
        return None
    flop = flop_per_image * r["macs_per_image"]
    parts = [f"{name} {flop * ips / (peak * 1e9):.0%}" for name, ips in sides if ips]
    return f"of the fp32 FMA peak ({peak:.0f} GFLOP/s): " + ", ".join(parts)


def find(rows, **want):
    for r in rows or []:
        if all(r.get(k) == v for k, v in want.items()):
            return r
    return None


def absent(file_err, rows, precision, bf16_hw, what, knob):
    """Why a row is missing: the file, the CPU, or the run's selection."""
    if file_err:
        return file_err
    if precision == "bf16" and bf16_hw is False and not any(r.get("precision") == "bf16" for r in rows or []):
        return f"no bf16 on this CPU: no bf16 instructions, and no bf16 rows ({knob})"
    return f"no {what} row ({knob})"


def pick(rows, file_err, bf16_hw, model, precision, knob, batch=None):
    """(row, why): one script's row of `model` at `precision` (and `batch`, when given), or None
    and why there is none; a row whose wrn side was skipped comes with why too."""
    r = find(rows, model=model, precision=precision)
    if r is not None and batch is not None and r.get("batch") != batch:
        return None, f"ran batch {r.get('batch')}"
    if r is None:
        return None, absent(file_err, rows, precision, bf16_hw, f"{model} {precision}", knob)
    return r, f"wrn: {r['wrn_skipped']}" if r.get("wrn_skipped") else None


def wrn_version(wrn):
    if not wrn or not os.access(wrn, os.X_OK):
        return None
    try:
        out = subprocess.run([wrn, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"^LibTorch (\S+)", out, re.M)
    return m.group(1) if m else None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for key, (path, script) in FILES.items():
        p.add_argument("--" + key, default=path, help=f"{script}'s JSON (default {path})")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--wrn", default=os.environ.get("WRN", os.path.join(root, "build", "wrn")),
                   help="the wrn binary, for its LibTorch version (default $WRN, else build/wrn)")
    a = p.parse_args()

    data, errs = {}, {}
    for key in FILES:
        data[key], errs[key] = load(getattr(a, key.replace("-", "_")))

    # The machine: from the roofline the compare scripts recorded, else lscpu.
    cpu, bf16_hw = None, None
    for key in ("compare-pytorch", "compare-inference"):
        for r in data[key] or []:
            c = r.get("roofline", {}).get("cpu")
            if c:
                cpu, bf16_hw = c["model"], bool(c["avx512_bf16"] or c["amx_bf16"])
                break
        if cpu:
            break
    if cpu is None:
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
            m = re.search(r"^Model name:\s*(.+)$", out, re.M)
            cpu = m.group(1).strip() if m else "unknown"
            flags = open("/proc/cpuinfo").read()
            bf16_hw = "avx512_bf16" in flags or "amx_bf16" in flags
        except OSError:
            cpu = "unknown"
    torch_v, ort_v, threads = set(), set(), set()
    for key, rows in data.items():
        for r in rows or []:
            for side in ("pytorch", "pytorch_compile"):
                if isinstance(r.get(side), dict) and r[side].get("torch"):
                    torch_v.add(r[side]["torch"])
            if r.get("torch"):
                torch_v.add(r["torch"])
            if isinstance(r.get("onnxruntime"), dict):
                ort_v.add(r["onnxruntime"]["onnxruntime"])
            if "threads" in r:
                threads.add(f"{key} {r['threads']}")
            elif "ranks" in r:
                threads.add(f"{key} {r['ranks']}x{r['threads_per_rank']}")
    libtorch = wrn_version(a.wrn)
    print(f"issue 23 targets: CPU {cpu} ({os.cpu_count()} cores here), bf16 instructions "
          f"{'yes' if bf16_hw else 'no' if bf16_hw is False else 'unknown'}")
    print(f"PyTorch {', '.join(sorted(torch_v)) or 'unknown'}; LibTorch (wrn) {libtorch or 'unknown'};"
          f" ONNX Runtime {', '.join(sorted(ort_v)) or 'not run'}")
    print("threads: " + (", ".join(sorted(set(threads))) if threads else "unknown"))
    print()

    t = Table(bf16_hw)

    # Training: wrn / PyTorch eager and wrn / torch.compile, per precision and model.
    train, terr = data["compare-pytorch"], errs["compare-pytorch"]
    goals = {"bf16": (1.15, 1.05), "fp32": (1.10, 1.0)}
    for precision in ("bf16", "fp32"):
        for model in ("wrn-16-4", "wrn-28-10"):
            r, why = pick(train, terr, bf16_hw, model, precision, "ONLY/PRECISIONS of compare_pytorch.sh", 128)
            name = f"{precision} training img/s, {MODEL_NAMES[model]} 32x32 b128"
            eager_goal, compile_goal = goals[precision]
            notes = row_notes(r, precision, bf16_hw)
            notes.append(peak_note(r, precision, 6, [  # forward and two backward convolutions
                ("wrn", r and r.get("wrn_images_per_second")), ("eager", r and r.get("pytorch_images_per_second")),
                ("compile", r and r.get("pytorch_compile_images_per_second"))]))
            eager = r and r.get("ratio")
            t.add(name, "PyTorch eager" + (" (autocast)" if precision == "bf16" else ""), f">= {eager_goal:.2f}x",
                  eager, ">=", eager_goal, why if r is None or eager is None else None, notes=notes)
            comp = r and r.get("ratio_compile")
            cwhy = why if r is None or r.get("wrn_skipped") else "COMPILE=0"
            t.add(name, "torch.compile", f">= {compile_goal:.2f}x", comp, ">=", compile_goal,
                  cwhy if comp is None else None, notes=notes)

    # Inference: wrn optimized / torch.compile with freezing, and / ONNX Runtime.
    inf, ierr = data["compare-inference"], errs["compare-inference"]
    for precision in ("fp32", "bf16"):
        for model, batch in (("wrn-16-4", 64), ("resnet50", 16)):
            r, why = pick(inf, ierr, bf16_hw, model, precision, "ONLY/PRECISIONS of compare_inference.sh", batch)
            name = f"{precision} inference img/s, {MODEL_NAMES[model]} b{batch}"
            notes = row_notes(r, precision, bf16_hw)
            wi = r and r.get("wrn_optimized_images_per_second")
            cf = r and r.get("pytorch_compile_freezing_images_per_second")
            notes.append(peak_note(r, precision, 2, [
                ("wrn", wi), ("freezing", cf), ("ORT", r and r.get("onnxruntime_images_per_second"))]))
            t.add(name, "torch.compile, inductor freezing", ">= 1.20x", wi / cf if wi and cf else None, ">=", 1.2,
                  why if r is None or not wi else "COMPILE=0", notes=notes)
            o = r and r.get("ratio_onnxruntime")
            if r is None or not wi:
                owhy = why
            elif r.get("onnxruntime_skipped"):
                owhy = r["onnxruntime_skipped"]
                fp32 = find(inf, model=model, precision="fp32")
                if fp32 and fp32.get("onnxruntime_images_per_second"):
                    owhy += f"; wrn {precision} / ORT fp32 = {wi / fp32['onnxruntime_images_per_second']:.2f}x"
            else:
                owhy = "no ONNX Runtime number"
            t.add(name, "ONNX Runtime (CPU EP, ORT_ENABLE_ALL), wrn's ONNX", ">= 1.20x", o, ">=", 1.2,
                  owhy if o is None else None, notes=notes)

    # The roof share of bf16 training.
    for model in ("wrn-16-4", "wrn-28-10"):
        r, why = pick(train, terr, bf16_hw, model, "bf16", "ONLY/PRECISIONS of compare_pytorch.sh")
        f = r and r.get("wrn_roofline_fraction")
        notes = row_notes(r, "bf16", bf16_hw)
        if f is not None:
            notes.insert(0, f"roof {r['roof_gflops']:.0f} GFLOP/s")
        t.add(f"share of the measured GEMM roof, bf16 training, {MODEL_NAMES[model]}", "bench/roofline.py",
              ">= 85%", f, ">=", 0.85, why, fmt="{:.0%}", notes=notes)

    # Data parallel: 2 ranks x 1 thread, bf16, vs PyTorch DDP (Gloo).
    dp, derr = data["data-parallel"], errs["data-parallel"]
    r = find(dp, precision="bf16", ranks=2, threads_per_rank=1, overlap=True)
    why = None
    if r is None:
        other = [f"{x['ranks']}x{x['threads_per_rank']}" for x in dp or [] if x.get("precision") == "bf16" and x["ranks"] > 1]
        why = derr or (f"ran {', '.join(other)} (ranks x threads): RANKS=2 THREADS=2" if other else
                       absent(None, dp, "bf16", bf16_hw, "bf16 2 x 1", "PRECISIONS of data_parallel.sh"))
    notes = row_notes(r, "bf16", bf16_hw)
    if r is not None:
        off = find(dp, precision="bf16", ranks=2, threads_per_rank=1, overlap=False)
        notes.append(f"allreduce overlapped with the backward: {r.get('wrn_allreduce') or '-'}"
                     + (f"; all after it (distributed.overlap=false): {off['ratio']:.2f}x" if off else ""))
    t.add("2 ranks x 1 thread, bf16 training img/s", "PyTorch DDP (Gloo)", ">= 1.15x", r and r["ratio"], ">=", 1.15,
          why, notes=notes)

    # Peak RSS.
    mem, merr = data["peak-memory"], errs["peak-memory"]
    r = find(mem, model="wrn-28-10", precision="bf16", batch=128)
    why = None
    if r is None:
        other = [f"{x['model']} {x['precision']} b{x['batch']}" for x in mem or []]
        why = merr or f"ran {', '.join(other)}: MODEL=wrn-28-10 PRECISION=bf16 BATCH=128"
    notes = row_notes(r, "bf16", bf16_hw, steps_note=False)  # memory: a few steps are enough
    if r is not None:
        notes.insert(0, f"{r['wrn_max_rss_mib']:.0f} vs {r['pytorch_max_rss_mib']:.0f} MiB")
    t.add("peak RSS, WRN-28-10 bf16 training b128", "PyTorch eager, same batch", "<= 1.00x", r and r["ratio"], "<=", 1.0,
          why, notes=notes)

    t.print()

    # Cost growth: shown, no target.
    sc, serr = data["scaling"], errs["scaling"]
    print()
    if sc:
        print("Cost growth (bench/scaling.sh; ratio = wrn / PyTorch eager):")
        for r in sc:
            print(f"  {r['model']} {r['precision']} batch {r['batch']:>3}, {r['threads']} thread(s):"
                  f" wrn {r['wrn_images_per_second']:.1f}, PyTorch {r['pytorch_images_per_second']:.1f} img/s,"
                  f" ratio {r['ratio']:.2f}")
    else:
        print(f"Cost growth over batch and threads: not measured ({serr})")

    print()
    for key, (path, script) in FILES.items():
        path = getattr(a, key.replace("-", "_"))
        if data[key] is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(path)))
            print(f"source: {path} ({script}, {stamp}, {len(data[key])} row{'s' if len(data[key]) != 1 else ''})")
        else:
            print(f"source: {errs[key]} (run {script})")


if __name__ == "__main__":
    sys.exit(main())
