#!/usr/bin/python3
"""Writes tests/golden/models/*.json: reference logits for the C++ model zoo.

Developer-run only (Debian's python3-torch / python3-torchvision); the C++ tests never need
Python. For each model every parameter and buffer is filled from a small deterministic
generator keyed by its state_dict name (the C++ test implements the same generator), a
fixed input is made the same way, and the eval-mode logits are stored together with the
state_dict names and shapes. So the files stay small, and a test that passes proves the
C++ model has the same names, the same shapes and computes the same function.

Usage: /usr/bin/python3 scripts/make_golden_models.py [OUT_DIR]
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MASK64 = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return h


def uniform_stream(name, count):
    """splitmix64 seeded by FNV-1a(name): `count` floats in [0, 1)."""
    state = fnv1a64(name)
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        out.append((z >> 11) * (1.0 / (1 << 53)))
    return torch.tensor(out, dtype=torch.float64)


def golden_value(name, shape):
    """The value every test fills into tensor `name` (the C++ side mirrors this)."""
    n = 1
    for d in shape:
        n *= d
    u = uniform_stream(name, n).reshape(shape)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return 0.5 + u
    if leaf == "running_mean":
        return 0.2 * (u - 0.5)
    if len(shape) >= 2:  # conv / linear weights: uniform with variance 1/fan_in
        fan_in = n // shape[0]
        return (2 * u - 1) * math.sqrt(3.0 / fan_in)
    if leaf == "weight":  # BN gamma
        return 0.5 + 0.5 * u
    return 0.2 * (u - 0.5)  # biases, BN beta


def fill(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype in (torch.float32, torch.float64):
                t.copy_(golden_value(name, list(t.shape)).to(t.dtype))


# ---- independent reference definitions (from the papers' code) ----------------------------


class CifarBasic(nn.Module):  # ResNet paper, option A shortcut (zero channels appended)
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        s = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            s = F.pad(s, (0, 0, 0, 0, 0, self.extra))
        return F.relu(out + s)


class CifarResNet(nn.Module):
    def __init__(self, n, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for i, w in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(CifarBasic(cin, w, 2 if (i > 0 and b == 0) else 1))
                cin = w
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class PreActBottleneck(nn.Module):  # Identity Mappings paper, projection where shape changes
    def __init__(self, cin, planes, stride):
        super().__init__()
        cout = planes * 4
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.has_proj = stride != 1 or cin != cout
        if self.has_proj:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        s = self.shortcut(a) if self.has_proj else x
        out = self.conv1(a)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + s


class PreActResNet164(nn.Module):
    def __init__(self, n=18, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        cin = 16
        for i, p in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(PreActBottleneck(cin, p, 2 if (i > 0 and b == 0) else 1))
                cin = p * 4
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.final_bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = F.relu(self.final_bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class WideBasic(nn.Module):  # WRN code (xternalz/szagoruyko): shortcut on the activated input
    def __init__(self, cin, cout, stride, dropout):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.equal = cin == cout and stride == 1
        if not self.equal:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(a)))
        out = F.dropout(out, self.dropout, self.training)
        out = self.conv2(out)
        return out + (x if self.equal else self.shortcut(a))


class WideResNet(nn.Module):
    def __init__(self, depth, k, classes=10, dropout=0.0):
        super().__init__()
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        cin = 16
        for i, w in enumerate([16 * k, 32 * k, 64 * k]):
            blocks = []
            for b in range(n):
                blocks.append(WideBasic(cin, w, 2 if (i > 0 and b == 0) else 1, dropout))
                cin = w
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.final_bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = F.relu(self.final_bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


CASES = [
    # name in wrn, reference constructor, classes, input shape (C, H, W)
    ("resnet18", lambda: torchvision.models.resnet18(num_classes=10), 10, (3, 64, 64)),
    ("resnet50", lambda: torchvision.models.resnet50(num_classes=10), 10, (3, 64, 64)),
    ("resnext50_32x4d", lambda: torchvision.models.resnext50_32x4d(num_classes=10), 10, (3, 64, 64)),
    ("wide_resnet50_2", lambda: torchvision.models.wide_resnet50_2(num_classes=10), 10, (3, 64, 64)),
    ("wrn-16-4", lambda: WideResNet(16, 4, 10), 10, (3, 32, 32)),
    ("preact_resnet164", lambda: PreActResNet164(18, 10), 10, (3, 32, 32)),
    ("resnet20", lambda: CifarResNet(3, 10), 10, (3, 32, 32)),
]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "models")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name, make, classes, shape in CASES:
        model = make()
        fill(model)
        model.eval()
        batch = 2
        x = (uniform_stream("input", batch * shape[0] * shape[1] * shape[2]).reshape(batch, *shape) * 2 - 1).float()
        with torch.no_grad():
            logits = model(x)
        record = {
            "model": name,
            "classes": classes,
            "input": list(shape),
            "batch": batch,
            "state_dict": [[k, list(v.shape)] for k, v in model.state_dict().items() if v.dtype.is_floating_point],
            "logits": [[float(v) for v in row] for row in logits.tolist()],
            "source": "torch %s, torchvision %s" % (torch.__version__, torchvision.__version__),
        }
        path = os.path.join(out_dir, name + ".json")
        with open(path, "w") as f:
            json.dump(record, f)
        print("%-18s logits[0][:3]=%s -> %s" % (name, [round(v, 5) for v in record["logits"][0][:3]], path))


if __name__ == "__main__":
    main()
