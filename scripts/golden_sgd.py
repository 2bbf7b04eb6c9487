#!/usr/bin/python3
"""Writes tests/golden/sgd_cases.json: torch.optim.SGD on fixed parameters and gradients.

Developer-only (Debian's python3-torch 1.13): /usr/bin/python3 scripts/golden_sgd.py
The C++ test tests/optim/test_sgd.cpp replays the same gradients through wrn::train::Sgd
and compares the parameters after every step (relative error < 1e-6).

Each case: settings, a list of parameter tensors (initial values), and for each step the
learning rate, the gradients fed in, and the parameters torch produced. One case resets
the optimizer state (momentum) midway, as the WRN Torch code does at an LR drop.
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "sgd_cases.json")

CASES = [
    dict(name="nesterov_wd", lr=0.1, momentum=0.9, dampening=0.0, weight_decay=5e-4, nesterov=True),
    dict(name="momentum_dampening_wd", lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-4, nesterov=False),
    dict(name="plain_wd", lr=0.2, momentum=0.0, dampening=0.0, weight_decay=1e-2, nesterov=False),
    dict(name="momentum_no_wd", lr=0.01, momentum=0.5, dampening=0.0, weight_decay=0.0, nesterov=False),
    dict(name="nesterov_reset_at_drop", lr=0.1, momentum=0.9, dampening=0.0, weight_decay=5e-4, nesterov=True,
         drop_at=3, gamma=0.2),
]
SHAPES = [(2, 2, 3, 3), (2,), (5, 2), (5,)]
STEPS = 6


def tensor_list(ts):
    return [{"shape": list(t.shape), "values": [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]} for t in ts]


def run_case(case, seed):
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in SHAPES]
    initial = tensor_list(params)
    make = lambda lr: torch.optim.SGD(params, lr=lr, momentum=case["momentum"], dampening=case["dampening"],
                                      weight_decay=case["weight_decay"], nesterov=case["nesterov"])
    lr = case["lr"]
    opt = make(lr)
    steps = []
    for step in range(STEPS):
        if "drop_at" in case and step == case["drop_at"]:
            lr *= case["gamma"]
            opt = make(lr)  # a fresh optimizer: the momentum buffers start again
        grads = [torch.randn(s, generator=g) for s in SHAPES]
        for p, gr in zip(params, grads):
            p.grad = gr.clone()
        opt.step()
        steps.append({"lr": lr, "grads": tensor_list(grads), "params": tensor_list(params),
                      "reset_before": "drop_at" in case and step == case["drop_at"]})
    return {**case, "initial": initial, "steps": steps}


def main():
    torch.set_default_dtype(torch.float32)
    cases = [run_case(c, 1000 + i) for i, c in enumerate(CASES)]
    with open(OUT, "w") as f:
        json.dump({"torch_version": torch.__version__, "cases": cases}, f)
    print(f"wrote {OUT} ({len(cases)} cases, {STEPS} steps each)")


if __name__ == "__main__":
    main()
