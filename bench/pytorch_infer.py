#!/usr/bin/env python3
"""PyTorch reference for `bench/compare_inference.sh`: images/s of a classifier's inference forward.

What this side does (keep it in step with the wrn side, `wrn bench infer`):
  * Model: wrn-D-K is the WRN authors' structure from bench/pytorch_train.py (the same
    parameter count as wrn's registry); resnet50 is torchvision.models.resnet50() (no
    weights: random init, which does not change the speed). Random input of --batch images
    of --input CxHxW, torch.manual_seed(0), as `wrn bench infer` does.
  * --precision fp32: the PyTorch user's optimized fp32 inference, `model.eval()` then
    `torch.jit.optimize_for_inference(torch.jit.script(model))` (freezing, conv+BN folding,
    oneDNN layouts), called under torch.no_grad() with a dense fp32 NCHW batch (at least 3
    warm-up calls: the TorchScript profiling executor optimizes on the first ones). The plain
    eager `model.eval()` forward under torch.no_grad() is timed as well (`eager` in the JSON).
  * --precision bf16: the PyTorch user's pure bf16 eval, `model.bfloat16().eval()` in
    channels_last, a bfloat16 channels_last input, eager, under torch.no_grad().
  * --compile 1 (default): also `torch.compile(model)` with inductor's defaults and with
    `torch._inductor.config.freezing = True` (BN folded, conv + ReLU/add fused, weights
    prepacked), under torch.no_grad(), the same input; `compile` and `compile_freezing` in the JSON.
  * Threads: torch.set_num_threads(--threads).
  * Timing: --warmup untimed forwards, then the median of --iters timed forwards (the same as
    `wrn bench infer`); images/s = batch / median seconds.

Prints one JSON object on stdout.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_train import WideResNet  # noqa: E402  (the same structure as the training bench)
from roofline import median_seconds  # noqa: E402


def build(name, classes, in_channels):
    if name == "resnet50":
        try:
            import torchvision
        except ImportError:
            sys.exit("pytorch_infer: resnet50 needs torchvision: run `make deps` (the venv)")
        return torchvision.models.resnet50(num_classes=classes)
    parts = name.split("-")
    if len(parts) != 3 or parts[0] != "wrn":
        sys.exit(f"pytorch_infer: --model {name!r}: expected resnet50 or wrn-D-K")
    return WideResNet(int(parts[1]), int(parts[2]), classes, in_channels)


def build_eval(a, c):
    """A fresh fp32 eval model with the same weights as the timed one (seed 0), for compiling."""
    torch.manual_seed(0)
    return build(a.model, a.classes, c).eval()


def compiled_rows(model, x, a):
    """torch.compile(model) (inductor defaults), then with inductor's freezing (weights as
    constants: BN folded into the convolutions, weights prepacked for oneDNN), under no_grad;
    compilation happens in the untimed warm-up calls."""
    import torch._dynamo
    import torch._inductor.config as inductor_config
    rows = {}
    for key, freezing in (("compile", False), ("compile_freezing", True)):
        torch._dynamo.reset()
        inductor_config.freezing = freezing
        compiled = torch.compile(model)
        with torch.no_grad():
            t0 = time.perf_counter()
            compiled(x)
            first = time.perf_counter() - t0
            t = median_seconds(lambda: compiled(x), max(a.warmup, 2), a.iters)
        rows[key] = {"method": "torch.compile(model)" + (", inductor freezing" if freezing else "") + ", no_grad",
                     "images_per_second": a.batch / t, "ms_per_batch": 1e3 * t, "compile_seconds": first}
    inductor_config.freezing = False
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="resnet50 or wrn-D-K")
    p.add_argument("--input", required=True, help="CxHxW, e.g. 3x32x32")
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--compile", type=int, default=1,
                   help="1: also time torch.compile(model), with inductor's defaults and with freezing")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    c, h, w = (int(v) for v in a.input.split("x"))
    torch.manual_seed(0)
    model = build(a.model, a.classes, c).eval()
    params = sum(t.numel() for t in model.parameters())
    x = torch.randn(a.batch, c, h, w)
    out = {"side": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
           "model": a.model, "params": params, "input": a.input, "batch": a.batch,
           "precision": a.precision, "warmup": a.warmup, "iters": a.iters}

    with torch.no_grad():
        if a.precision == "fp32":
            eager = median_seconds(lambda: model(x), a.warmup, a.iters)
            t0 = time.perf_counter()
            opt = torch.jit.optimize_for_inference(torch.jit.script(model))
            out["optimize_seconds"] = time.perf_counter() - t0
            # at least 3 warm-up calls: TorchScript's profiling executor specializes the graph on
            # the first calls
            t = median_seconds(lambda: opt(x), max(a.warmup, 3), a.iters)
            out["method"] = "torch.jit.optimize_for_inference(torch.jit.script(model.eval())), no_grad"
            out["eager"] = {"method": "model.eval(), no_grad", "images_per_second": a.batch / eager,
                            "ms_per_batch": 1e3 * eager}
        else:
            model = model.bfloat16().to(memory_format=torch.channels_last)
            xb = x.bfloat16().contiguous(memory_format=torch.channels_last)
            t = median_seconds(lambda: model(xb), a.warmup, a.iters)
            out["method"] = "model.bfloat16().eval(), channels_last, bfloat16 input, no_grad"
    out["images_per_second"] = a.batch / t
    out["ms_per_batch"] = 1e3 * t
    if a.compile:
        out.update(compiled_rows(model if a.precision == "bf16" else build_eval(a, c), x if a.precision == "fp32" else xb, a))
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
