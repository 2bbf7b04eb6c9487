#!/usr/bin/env python3
"""Interoperability with Python PyTorch, both ways. Run with the venv's python (`make python-path`);
`check` also runs in ctest (label interop, test interop_python.pt) when the build knows that python.

  golden_interop.py make [OUT_DIR]
      Writes tests/golden/interop/: wrn-16-1.pt, a state_dict saved by Python's torch.save
      (an OrderedDict, as real checkpoints are) of the reference WRN-16-1 with PyTorch's
      default random init and perturbed BN statistics, and wrn-16-1.json with a fixed input's
      logits and pooled features. The C++ import tests read both.

  golden_interop.py check DIR
      Reads what the C++ export test writes when WRN_INTEROP_DIR=DIR is set
      (tests/io/test_pt_interop.cpp): resnet50.pt (torchvision names, deterministic
      fill), resnet50.json (input seed and wrn's logits), and, when present, resnet50.torchscript.pt.
      Checks that torch.load(weights_only=True) reads the .pt, that torchvision's resnet50 load_state_dict
      accepts it (strict) and gives wrn's logits, and that torch.jit.load runs the TorchScript file.
"""
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden_models import WideResNet, uniform_stream  # noqa: E402


def make(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(20240601)
    model = WideResNet(16, 1, 10)
    with torch.no_grad():  # BN statistics other than the defaults, so they matter
        for name, t in model.state_dict().items():
            if name.endswith("running_mean"):
                t.copy_(torch.randn_like(t) * 0.1)
            elif name.endswith("running_var"):
                t.copy_(torch.rand_like(t) + 0.5)
            elif name.endswith("num_batches_tracked"):
                t.fill_(123)
            elif name.endswith("bias") and "bn" in name:
                t.copy_(torch.randn_like(t) * 0.1)
    model.eval()
    x = (uniform_stream("input", 2 * 3 * 32 * 32).reshape(2, 3, 32, 32) * 2 - 1).float()
    pooled = {}
    def keep_input(module, inputs, output):  # returns None: the output stays unchanged
        pooled["x"] = inputs[0]

    model.fc.register_forward_hook(keep_input)
    with torch.no_grad():
        logits = model(x)
    torch.save(model.state_dict(), os.path.join(out_dir, "wrn-16-1.pt"))
    record = {
        "model": "wrn-16-1",
        "classes": 10,
        "input": [3, 32, 32],
        "batch": 2,
        "input_fill": "uniform_stream('input') * 2 - 1",
        "logits": logits.tolist(),
        "pooled": pooled["x"].tolist(),
        "source": "torch %s, torchvision %s" % (torch.__version__, torchvision.__version__),
    }
    with open(os.path.join(out_dir, "wrn-16-1.json"), "w") as f:
        json.dump(record, f)
    print("wrote", out_dir, "logits[0][:3] =", [round(v, 5) for v in record["logits"][0][:3]])


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def check(d):
    with open(os.path.join(d, "resnet50.json")) as f:
        rec = json.load(f)
    # weights_only=True: 2.x's default, and the only way a careful user loads a file from elsewhere.
    sd = torch.load(os.path.join(d, "resnet50.pt"), weights_only=True)
    print("torch.load(weights_only=True): %s with %d entries, first %s" % (type(sd).__name__, len(sd), next(iter(sd))))
    model = torchvision.models.resnet50(num_classes=rec["classes"])
    ref_order = list(model.state_dict().keys())
    print("key order identical to torchvision's state_dict():", list(sd.keys()) == ref_order)
    model.load_state_dict(sd, strict=True)
    model.eval()
    c, h, w = rec["input"]
    x = (uniform_stream("input", rec["batch"] * c * h * w).reshape(rec["batch"], c, h, w) * 2 - 1).float()
    expected = torch.tensor(rec["logits"])
    with torch.no_grad():
        logits = model(x)
    err = rel_err(logits, expected)
    print("torchvision resnet50 load_state_dict(strict=True): ok; logits rel err vs wrn = %.3g" % err)
    ok = err < 1e-4
    ts = os.path.join(d, "resnet50.torchscript.pt")
    if os.path.exists(ts):
        m = torch.jit.load(ts)
        with torch.no_grad():
            y = m(x)
        e2 = rel_err(y, expected)
        print("torch.jit.load + forward: rel err vs wrn = %.3g" % e2)
        ok = ok and e2 < 1e-4
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "make":
        make(sys.argv[2] if len(sys.argv) > 2 else
             os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "interop"))
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2]))
    else:
        print(__doc__)
        sys.exit(2)
