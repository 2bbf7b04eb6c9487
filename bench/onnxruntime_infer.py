#!/usr/bin/env python3
"""ONNX Runtime anchor for `bench/compare_inference.sh`: images/s of wrn's own ONNX export in
onnxruntime, fp32.

What this side does (keep it in step with `wrn bench infer` and bench/pytorch_infer.py):
  * --write-state-dict FILE: writes the state_dict of the model bench/pytorch_infer.py builds
    (torch.manual_seed(0), then build(); WRN-D-K's final BatchNorm renamed `bn.` -> `final_bn.`,
    wrn's name) and exits. compare_inference.sh turns it into a wrn checkpoint
    (`wrn import`) and then into an ONNX file (`wrn export --format onnx --input CxHxW`), so the
    graph timed here is wrn's own export, with the same weights as the PyTorch side.
  * --onnx FILE: times that file. One onnxruntime.InferenceSession on the default
    CPUExecutionProvider, graph_optimization_level ORT_ENABLE_ALL, intra_op_num_threads =
    --threads, inter_op_num_threads = 1, sequential execution (ORT's other defaults: its
    thread pool spins between runs). The graph's input must be [batch-or-symbolic, C, H, W] of
    --input, else it stops. Input: torch.manual_seed(0); torch.randn(batch, C, H, W) as float32,
    as the PyTorch side and `wrn bench infer`. --warmup untimed runs, then the median of --iters
    timed session.run calls (bench/roofline.py's median_seconds); images/s = batch / median.
  * --check-model M (with --classes): the logits of the first 2 images against the PyTorch
    eval forward of the same weights (pytorch_infer.py's model, seed 0), max abs difference in
    the JSON; stops when it exceeds 1e-3 x (1 + max |logit|) (the export folds BN into the
    convolutions: rounding differs, the function must not).
fp32 only: ORT's CPU execution provider has no bf16 convolution kernels.

Prints one JSON object on stdout.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_infer import build  # noqa: E402  (the same model as the PyTorch side)
from roofline import median_seconds  # noqa: E402


def write_state_dict(a, c, path):
    torch.manual_seed(0)
    sd = build(a.model, a.classes, c).state_dict()
    if a.model.startswith("wrn-"):  # bench/pytorch_train.py's WideResNet calls the last BN `bn`
        sd = {("final_bn." + k[3:] if k.startswith("bn.") else k): v for k, v in sd.items()}
    torch.save(sd, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--onnx", help="the ONNX file to time (wrn export --format onnx)")
    p.add_argument("--write-state-dict", metavar="FILE", help="write the seed-0 model's state_dict and exit")
    p.add_argument("--model", help="resnet50 or wrn-D-K: for --write-state-dict and --check-model")
    p.add_argument("--check-model", type=int, default=1,
                   help="1: compare the logits with the PyTorch eval forward of --model (same weights)")
    p.add_argument("--input", required=True, help="CxHxW, e.g. 3x32x32")
    p.add_argument("--classes", type=int, default=0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    a = p.parse_args()
    c, h, w = (int(v) for v in a.input.split("x"))
    torch.set_num_threads(a.threads)

    if a.write_state_dict:
        if not a.model or not a.classes:
            sys.exit("onnxruntime_infer: --write-state-dict needs --model and --classes")
        write_state_dict(a, c, a.write_state_dict)
        return
    if not a.onnx:
        sys.exit("onnxruntime_infer: give --onnx FILE (or --write-state-dict FILE)")

    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])
    session_seconds = time.perf_counter() - t0
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        sys.exit(f"onnxruntime_infer: {a.onnx} has {len(inputs)} inputs, expected 1")
    shape = inputs[0].shape  # e.g. ['batch', 3, 32, 32]
    if (len(shape) != 4 or list(shape[1:]) != [c, h, w]
            or not (isinstance(shape[0], str) or shape[0] in (None, a.batch))):
        sys.exit(f"onnxruntime_infer: {a.onnx}'s input {inputs[0].name} is {shape}, expected [batch, {c}, {h}, {w}]")
    if inputs[0].type != "tensor(float)":
        sys.exit(f"onnxruntime_infer: {a.onnx}'s input is {inputs[0].type}, expected tensor(float)")
    name = inputs[0].name

    torch.manual_seed(0)
    x = torch.randn(a.batch, c, h, w).numpy()
    feed = {name: x}
    out = {"side": "onnxruntime", "onnxruntime": ort.__version__, "providers": sess.get_providers(),
           "threads": a.threads, "inter_op_threads": 1, "graph_optimization_level": "ORT_ENABLE_ALL",
           "onnx": os.path.basename(a.onnx), "input_shape": [str(d) for d in shape], "input": a.input,
           "batch": a.batch, "precision": "fp32", "warmup": a.warmup, "iters": a.iters,
           "session_seconds": session_seconds,
           "method": "onnxruntime.InferenceSession(wrn export --format onnx), CPUExecutionProvider, "
                     "ORT_ENABLE_ALL, intra_op = threads, inter_op 1"}
    logits = sess.run(None, feed)[0]
    if logits.shape[0] != a.batch or (a.classes and logits.shape[1] != a.classes):
        sys.exit(f"onnxruntime_infer: output shape {logits.shape}, expected [{a.batch}, {a.classes or 'classes'}]")

    if a.check_model and a.model:
        torch.manual_seed(0)
        ref_model = build(a.model, a.classes or logits.shape[1], c).eval()
        with torch.no_grad():
            ref = ref_model(torch.from_numpy(x[:2])).numpy()
        diff = float(np.abs(ref - logits[:2]).max())
        scale = float(np.abs(ref).max())
        out["check"] = {"against": "PyTorch eval forward, same weights, first 2 images", "max_abs_diff": diff,
                        "max_abs_logit": scale}
        if not diff <= 1e-3 * (1.0 + scale):
            sys.exit(f"onnxruntime_infer: ORT's logits differ from PyTorch's by {diff:g} (max |logit| {scale:g}):"
                     f" {a.onnx} is not the model of the PyTorch side")

    t = median_seconds(lambda: sess.run(None, feed), a.warmup, a.iters)
    out["images_per_second"] = a.batch / t
    out["ms_per_batch"] = 1e3 * t
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
