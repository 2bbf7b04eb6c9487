#!/usr/bin/env python3
"""The machine's roofline for bench/compare_pytorch.sh and bench/compare_inference.sh: fp32 and
bf16 GEMM GFLOP/s at a given thread count, and the CPU model and bf16 flags.

Two GEMMs of the same size (N x N times N x N, 2 N^3 FLOP) per precision, each timed REPS times
after one untimed call, median:
  * matmul:  torch.matmul of two N x N tensors. fp32 goes to ATen's BLAS (Debian's python3-torch
             and libtorch-dev: BLAS_INFO=generic, the reference BLAS unless an optimized
             libblas is the alternative), bf16 to oneDNN's matmul.
  * conv1x1: the same GEMM as a 1x1 convolution through oneDNN (torch.nn.functional.conv2d, input
             [1, N, 32, N/32] and weight [N, N, 1, 1], channels_last, no_grad): the kernels the
             networks' convolutions run on, in both precisions.
The roof at a precision is the larger of the two.

The fp32 FMA peak (fp32.fma_peak_gflops): bench/fma_peak.c, compiled here with $CC (default cc)
-O2 -march=native -fopenmp, runs independent vector FMA chains on registers on every thread:
what the cores' FMA units can do at all, which a convolution can approach but not pass (null,
with fp32.fma_peak_error, where it cannot be built or run). bf16 has no such probe (its dot
product instructions differ per CPU).

Prints one JSON object on stdout; --text prints a short human-readable summary on stderr as well.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F


def cpu_info():
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        model = m.group(1).strip() if m else ""
    except OSError:
        pass
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return {"model": model or "unknown",
            "avx512_bf16": "avx512_bf16" in flags,
            "amx_bf16": "amx_bf16" in flags,
            "cores": os.cpu_count()}


def fma_peak(threads, seconds=1.0):
    """(GFLOP/s, None) from bench/fma_peak.c on `threads` threads, or (None, why)."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fma_peak.c")
    cc = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory(prefix="wrn-fma-peak-") as tmp:
        exe = os.path.join(tmp, "fma_peak")
        try:
            built = subprocess.run([cc, "-O2", "-march=native", "-fopenmp", src, "-o", exe],
                                   capture_output=True, text=True, check=False)
            if built.returncode != 0:
                return None, f"{cc} could not build {src}: {built.stderr.strip().splitlines()[-1:]}"
            ran = subprocess.run([exe, str(threads), str(seconds)], capture_output=True, text=True, check=False)
        except OSError as e:
            return None, f"fma_peak: {e}"
        if ran.returncode != 0:
            return None, f"fma_peak exited {ran.returncode}: {ran.stderr.strip()}"
        try:
            return float(ran.stdout.split()[0]), None
        except (ValueError, IndexError):
            return None, f"fma_peak printed {ran.stdout!r}"


def median_seconds(fn, warmup, iters):
    """Median wall seconds of `iters` timed calls of fn after `warmup` untimed ones (oneDNN
    primitive creation, first touch of the outputs). Shared with pytorch_infer.py."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def print_summary_footer(roof, rows, flop_rule):
    """The lines after a compare_*.sh table: the roof (flop_rule says how a row's FLOP/s are
    counted), the CPU, skipped wrn rows and whether both sides ran with the same malloc settings."""
    c = roof["cpu"]
    print(f"roof = {flop_rule} / the roof at that precision: "
          + ", ".join(f"{p} {roof[p]['roof_gflops']:.0f} GFLOP/s" for p in ("fp32", "bf16"))
          + f" ({roof['size']}^3 GEMM, {roof['threads']} threads; torch.matmul fp32 {roof['fp32']['matmul_gflops']:.1f},"
          f" bf16 {roof['bf16']['matmul_gflops']:.0f}; oneDNN 1x1 conv fp32 {roof['fp32']['conv1x1_gflops']:.0f},"
          f" bf16 {roof['bf16']['conv1x1_gflops']:.0f})")
    peak = roof["fp32"].get("fma_peak_gflops")
    if peak:
        print(f"fp32 FMA peak {peak:.0f} GFLOP/s (bench/fma_peak.c: what the cores' FMA units do at all;"
              f" fp32 roof = {roof['fp32']['roof_gflops'] / peak:.0%} of it)")
    print(f"CPU: {c['model']}, avx512_bf16 {'yes' if c['avx512_bf16'] else 'no'},"
          f" amx_bf16 {'yes' if c['amx_bf16'] else 'no'}")
    for r in rows:
        if r["wrn_skipped"]:
            print(f"skipped: wrn {r['model']} {r['precision']}: {r['wrn_skipped']}")
    if rows and rows[0]["same_malloc"]:
        print(f"malloc: the same on both sides, GLIBC_TUNABLES={rows[0]['glibc_tunables']}")
    elif rows:
        print("malloc: NOT the same on both sides: wrn's allocator fix only (wrn sets mmap_threshold 64 MiB and"
              " trim_threshold 512 MiB in main(), PyTorch runs with "
              + (f"GLIBC_TUNABLES={rows[0]['glibc_tunables']}" if rows[0]["glibc_tunables"] else "glibc's defaults")
              + "); for the same settings: GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:"
              "glibc.malloc.trim_threshold=536870912 (make bench sets it)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--size", type=int, default=2048, help="N of the N^3 GEMM (a multiple of 32)")
    p.add_argument("--reps", type=int, default=3, help="timed calls per GEMM (median)")
    p.add_argument("--text", action="store_true", help="also a summary on stderr")
    a = p.parse_args()
    if a.size % 32:
        sys.exit("roofline: --size must be a multiple of 32")
    torch.set_num_threads(a.threads)
    n = a.size
    flop = 2.0 * n ** 3
    gen = torch.Generator().manual_seed(0)
    a32 = torch.randn(n, n, generator=gen)
    b32 = torch.randn(n, n, generator=gen)
    x32 = torch.randn(1, n, 32, n // 32, generator=gen)
    w32 = torch.randn(n, n, 1, 1, generator=gen)
    out = {"threads": torch.get_num_threads(), "size": n, "reps": a.reps, "torch": torch.__version__,
           "cpu": cpu_info()}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        A, B = a32.to(dtype), b32.to(dtype)
        X = x32.to(dtype).contiguous(memory_format=torch.channels_last)
        W = w32.to(dtype).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            mm = flop / median_seconds(lambda: torch.matmul(A, B), 1, a.reps) / 1e9
            conv = flop / median_seconds(lambda: F.conv2d(X, W), 1, a.reps) / 1e9
        out[name] = {"matmul_gflops": mm, "conv1x1_gflops": conv, "roof_gflops": max(mm, conv)}
    out["fp32"]["fma_peak_gflops"], out["fp32"]["fma_peak_error"] = fma_peak(out["threads"])
    if a.text:
        c = out["cpu"]
        print(f"CPU: {c['model']}, {c['cores']} cores, avx512_bf16 {'yes' if c['avx512_bf16'] else 'no'},"
              f" amx_bf16 {'yes' if c['amx_bf16'] else 'no'}", file=sys.stderr)
        for name in ("fp32", "bf16"):
            r = out[name]
            print(f"roofline {name}: {r['roof_gflops']:.0f} GFLOP/s ({n}^3 GEMM, {out['threads']} threads, "
                  f"median of {a.reps}: torch.matmul {r['matmul_gflops']:.1f}, "
                  f"oneDNN 1x1 conv {r['conv1x1_gflops']:.1f})", file=sys.stderr)
        peak = out["fp32"]["fma_peak_gflops"]
        print(f"fp32 FMA peak: {peak:.0f} GFLOP/s (bench/fma_peak.c, {out['threads']} threads)" if peak else
              f"fp32 FMA peak: not measured ({out['fp32']['fma_peak_error']})", file=sys.stderr)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
