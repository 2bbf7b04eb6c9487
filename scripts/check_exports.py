#!/usr/bin/env python3
"""Check of wrn's ONNX and TorchScript exports with the Python consumers of the pinned venv.

ctest runs it (label interop, test interop_python.exports) when the build knows the venv's
python (-DWRN_PYTHON, as `make` configures); by hand:

    WRN_EXPORT_CHECK_DIR=/tmp/wrn-exports \
        build/tests/infer/test_onnx_interop --gtest_filter='ExportFilesForPython.*'
    $(make -s python-path) scripts/check_exports.py /tmp/wrn-exports

For every model listed in expected.json (written by that C++ test: input batch and the
model's eval() logits), checks that
  * the .onnx passes onnx.checker.check_model (full_check where onnx has it: strict shape
    inference), has opset >= 13 and a symbolic batch dimension, and that evaluating its graph
    with a small PyTorch interpreter of the ops wrn emits gives the same logits;
  * the .onnx runs in ONNX Runtime (CPU provider, all graph optimizations, its default) with
    the same logits, for the batch and for one image alone;
  * the .ts loads with torch.jit.load and gives the same logits.
Prints one line per model and exits 1 when any relative error max|a-b|/max|b| is >= 1e-4.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime
import torch
import torch.nn.functional as F

TOLERANCE = 1e-4


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def run_onnx(model, x):
    """Evaluates the ops wrn's exporter emits (ONNX semantics, NCHW float)."""
    env = {init.name: torch.from_numpy(onnx.numpy_helper.to_array(init).copy()) for init in model.graph.initializer}
    env[model.graph.input[0].name] = x
    for node in model.graph.node:
        a = attrs(node)
        i = [env[name] if name else None for name in node.input]
        op = node.op_type
        if op == "Conv":
            pads = a.get("pads", [0, 0, 0, 0])
            assert pads[0] == pads[2] and pads[1] == pads[3], "asymmetric pads"
            y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None, a.get("strides", [1, 1]), pads[:2],
                         a.get("dilations", [1, 1]), a.get("group", 1))
        elif op == "Relu":
            y = torch.relu(i[0])
        elif op == "BatchNormalization":
            y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5))
        elif op == "MaxPool":
            pads = a.get("pads", [0, 0, 0, 0])
            y = F.max_pool2d(i[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]), pads[:2])
        elif op == "Slice":
            y = i[0]
            starts, ends = i[1].tolist(), i[2].tolist()
            axes = i[3].tolist() if len(i) > 3 else list(range(len(starts)))
            steps = i[4].tolist() if len(i) > 4 else [1] * len(starts)
            index = [slice(None)] * y.dim()
            for s, e, ax, st in zip(starts, ends, axes, steps):
                index[ax] = slice(s, min(e, y.shape[ax]), st)
            y = y[tuple(index)]
        elif op == "Pad":
            pads = i[1].tolist()
            n = len(pads) // 2
            torch_pads = []
            for ax in reversed(range(n)):  # F.pad: last axis first, (begin, end) pairs
                torch_pads += [pads[ax], pads[ax + n]]
            value = float(i[2]) if len(i) > 2 and i[2] is not None else 0.0
            y = F.pad(i[0], torch_pads, value=value)
        elif op in ("Add", "Sub", "Mul"):
            y = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul}[op](i[0], i[1])
        elif op == "Sigmoid":
            y = torch.sigmoid(i[0])
        elif op == "GlobalAveragePool":
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Flatten":
            y = torch.flatten(i[0], a.get("axis", 1))
        elif op == "Gemm":
            assert a.get("transB", 0) == 1 and a.get("transA", 0) == 0
            y = F.linear(i[0], i[1], i[2] if len(i) > 2 else None)
        else:
            raise ValueError(f"op {op} is not one wrn emits")
        env[node.output[0]] = y
    return env[model.graph.output[0].name]


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def check_onnx_structure(path):
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except TypeError:  # onnx < 1.13 has no full_check
        onnx.checker.check_model(model)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert opset >= 13, f"opset {opset}"
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.HasField("dim_value"), "batch dimension is not symbolic"
    assert model.graph.input[0].name == "input" and model.graph.output[0].name == "logits"
    return model, opset


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="directory with expected.json, *.onnx and *.ts")
    args = parser.parse_args()
    with open(os.path.join(args.dir, "expected.json")) as f:
        expected = json.load(f)["models"]
    torch.set_grad_enabled(False)
    failed = False
    for m in expected:
        x = torch.tensor(m["input"], dtype=torch.float32).reshape(m["input_shape"])
        want = torch.tensor(m["logits"], dtype=torch.float32).reshape(m["logits_shape"])
        model, opset = check_onnx_structure(os.path.join(args.dir, m["onnx"]))
        onnx_err = rel_err(run_onnx(model, x), want)
        # The symbolic batch: one image alone gives the same first row.
        onnx_err = max(onnx_err, rel_err(run_onnx(model, x[:1]), want[:1]))
        session = onnxruntime.InferenceSession(os.path.join(args.dir, m["onnx"]), providers=["CPUExecutionProvider"])
        ort = lambda t: torch.from_numpy(session.run(None, {"input": t.numpy()})[0])
        ort_err = max(rel_err(ort(x), want), rel_err(ort(x[:1]), want[:1]))
        ts = torch.jit.load(os.path.join(args.dir, m["torchscript"]))
        assert not ts.training, "TorchScript module is in training mode"
        ts_err = rel_err(ts(x), want)
        ok = onnx_err < TOLERANCE and ort_err < TOLERANCE and ts_err < TOLERANCE
        failed |= not ok
        print(f"{'ok  ' if ok else 'FAIL'} {m['name']:<28} onnx (checker ok, opset {opset}) rel err {onnx_err:.2e}"
              f"   onnxruntime rel err {ort_err:.2e}   torch.jit.load rel err {ts_err:.2e}")
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"numpy {np.__version__}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
