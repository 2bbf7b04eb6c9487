#!/usr/bin/python3
"""Writes tests/golden/augment/cases.json: torchvision 0.14's TrivialAugmentWide / RandAugment
ops on small uint8 batches, for tests/data/test_auto_augment.cpp (wrn::data::apply_augment_op
and the magnitude tables against torchvision).

Developer-only (the tests read the JSON, never Python): run with Debian's /usr/bin/python3
(torch 1.13.1, torchvision 0.14):

    /usr/bin/python3 tests/golden/augment/make_auto_augment.py

cases.json holds (pixels as uint8 CHW hex strings, like tests/golden/transforms/cases.json):
- "batches": a 4 x 3 x 16 x 16 RGB batch and a 4 x 1 x 12 x 12 grey batch (structured content,
  a low-contrast image, a flat channel / flat image, noise);
  and, for Equalize and AutoContrast, a 3 x 3 x 24 x 24 and a 2 x 1 x 40 x 40 batch (Equalize
  leaves images of fewer than 256 pixels unchanged);
- "cases": per op, a few cases: for each batch, one magnitude per image (signed, in
  torchvision's units, all float32 values) and torchvision's output per image:
  torchvision.transforms.autoaugment._apply_op(img, op, magnitude, NEAREST, fill=None)
  (the grey batch gets the rgb batch's magnitudes in reverse order);
- "tables": _augmentation_space of TrivialAugmentWide(31 bins) and RandAugment(31 bins) for a
  16 x 16 and a 12 x 20 (H x W) image, and of both with 11 bins.
"""
import json
import os

import numpy as np
import torch
import torchvision
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import RandAugment, TrivialAugmentWide, _apply_op

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json")


def hexes(t):
    return t.contiguous().numpy().astype(np.uint8).tobytes().hex()


def structured(c, h, w, seed, lo=0, hi=255):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    chans = []
    for k in range(c):
        v = 0.5 + 0.35 * np.sin(x / (1.7 + k) + y / (2.9 + k)) + 0.15 * ((x // 3 + y // 4 + k) % 2)
        v = lo + (hi - lo) * v + rng.normal(0, 6, size=(h, w))
        chans.append(np.clip(np.round(v), lo, hi))
    return np.stack(chans)


def batches():
    rng = np.random.default_rng(12)
    rgb = np.stack([
        structured(3, 16, 16, 1),                  # full range, saturated in places
        structured(3, 16, 16, 2, lo=70, hi=130),   # low contrast
        np.concatenate([structured(1, 16, 16, 3), np.full((1, 16, 16), 77.0), structured(1, 16, 16, 4, 200, 255)]),
        rng.integers(0, 256, size=(3, 16, 16)),    # noise
    ])
    grey = np.stack([
        structured(1, 12, 12, 5),
        structured(1, 12, 12, 6, lo=100, hi=140),
        np.full((1, 12, 12), 201.0),               # flat: AutoContrast / Equalize leave it
        rng.choice([0, 3, 50, 51, 255], size=(1, 12, 12)),  # few grey levels
    ])
    # Equalize needs more than 255 pixels per channel to do anything (its step is
    # (pixels - count of the top value) // 255), so it also runs on larger images.
    rgb_large = np.stack([
        structured(3, 24, 24, 7),
        structured(3, 24, 24, 8, lo=40, hi=90),
        rng.integers(0, 256, size=(3, 24, 24)),
    ])
    grey_large = np.stack([
        structured(1, 40, 40, 9, lo=10, hi=240),
        rng.choice([0, 1, 2, 60, 61, 200, 255], size=(1, 40, 40), p=[0.3, 0.1, 0.1, 0.2, 0.1, 0.1, 0.1]),
    ])
    return {name: torch.from_numpy(b.astype(np.uint8))
            for name, b in (("rgb", rgb), ("grey", grey), ("rgb_large", rgb_large), ("grey_large", grey_large))}


def f32(values):
    return [float(v) for v in torch.tensor(values, dtype=torch.float32)]


TA = TrivialAugmentWide()._augmentation_space(31)
RA = RandAugment()._augmentation_space(31, (16, 16))


def table(space, name, k):
    return float(space[name][0][k])


# Two cases of four per-image magnitudes per op (negative ones, zero, table values, extremes).
SHEAR = [[0.0, 0.3, -0.3, 0.99], [-0.99, table(TA, "ShearX", 7), -table(RA, "ShearX", 9), 0.05]]
ENHANCE = [[0.0, 0.5, -0.5, 0.99], [-0.99, table(RA, "Color", 9), -0.9, table(TA, "Color", 1)]]
CASES = {
    "Identity": [[0.0, 0.0, 0.0, 0.0]],
    "ShearX": SHEAR,
    "ShearY": SHEAR,
    "TranslateX": [[0.0, 3.7, -5.2, 32.0], [-32.0, 15.999, 1.0, -0.5]],
    "TranslateY": [[0.0, -3.7, 5.2, -32.0], [32.0, table(RA, "TranslateY", 9), 1.0, -table(TA, "TranslateY", 4)]],
    "Rotate": [[0.0, 30.0, -30.0, 135.0], [-135.0, 90.0, table(TA, "Rotate", 11), -table(RA, "Rotate", 9)]],
    "Brightness": ENHANCE,
    "Color": ENHANCE,
    "Contrast": ENHANCE,
    "Sharpness": ENHANCE,
    "Posterize": [[8.0, 6.0, 4.0, 2.0], [7.0, 5.0, 3.0, 1.0]],
    "Solarize": [[255.0, 128.0, 0.0, table(TA, "Solarize", 1)], [100.0, 8.5, 254.99, 127.5]],
    "AutoContrast": [[0.0, 0.0, 0.0, 0.0]],
    "Equalize": [[0.0, 0.0, 0.0, 0.0]],
}


def apply(batch, name, mags):
    return torch.stack([_apply_op(img, name, m, interpolation=InterpolationMode.NEAREST, fill=None)
                        for img, m in zip(batch, mags)])


def tables(space):
    return {name: [float(v) for v in mags.reshape(-1)] if mags.ndim > 0 else [] for name, (mags, _) in space.items()}


def main():
    bs = batches()
    doc = {
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "batches": {name: {"shape": list(b.shape), "pixels": hexes(b)} for name, b in bs.items()},
        "cases": [],
        "tables": [],
    }

    def case(name, outputs):
        doc["cases"].append({"op": name, "outputs": {
            batch: {"magnitudes": mags, "pixels": hexes(apply(bs[batch], name, mags))} for batch, mags in outputs}})

    for name, cases in CASES.items():
        for mags in cases:
            mags = f32(mags)
            case(name, [("rgb", mags), ("grey", mags[::-1])])
    for name in ("Equalize", "AutoContrast"):
        case(name, [("rgb_large", [0.0] * 3), ("grey_large", [0.0] * 2)])
    for bins in (31, 11):
        for h, w in ((16, 16), (12, 20)):
            doc["tables"].append({"kind": "TrivialAugmentWide", "bins": bins, "size": [h, w],
                                  "ops": tables(TrivialAugmentWide(num_magnitude_bins=bins)._augmentation_space(bins))})
            doc["tables"].append({"kind": "RandAugment", "bins": bins, "size": [h, w],
                                  "ops": tables(RandAugment(num_magnitude_bins=bins)._augmentation_space(bins, (h, w)))})
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(doc['cases'])} cases, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
