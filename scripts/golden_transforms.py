#!/usr/bin/python3
"""Writes tests/golden/transforms/: small PNG / JPEG images and what torchvision 0.14 makes of
them, for tests/data/test_transforms.cpp (wrn::data transforms against torchvision).

Developer-only (the tests read the files, never Python): run with Debian's /usr/bin/python3
(torch 1.13.1, torchvision 0.14, Pillow 9.4):

    /usr/bin/python3 scripts/golden_transforms.py

cases.json holds, per image, its PIL decode (Image.open().convert("RGB" / "L") as uint8 CHW
hex) and torchvision's outputs on that tensor: crop, center crop, flip, F.resize(antialias=True)
to several sizes, Resize(int), Resize(S) + CenterCrop(size) and, for seeds, RandomResizedCrop
(antialias=True) + RandomHorizontalFlip; plus RandomResizedCrop.get_params boxes (and the
flip draw after them) for many seeds and image sizes, including tiny and extreme ones that
reach the central-crop fallback.
"""
import io
import json
import math
import os

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "transforms")


def hexes(t):
    return t.contiguous().numpy().astype(np.uint8).tobytes().hex()


def content(h, w, c, seed):
    """Structured content (gradients, edges, noise), so resizes are not trivially flat."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    chans = []
    for k in range(c):
        v = 127 + 90 * np.sin(x / (2.5 + k) + y / (4.0 + 2 * k)) + 30 * ((x // 5 + y // 7 + k) % 2)
        v += rng.normal(0, 12, size=(h, w))
        chans.append(np.clip(np.round(v), 0, 255).astype(np.uint8))
    return np.stack(chans, axis=-1) if c == 3 else chans[0]


def pil_tensor(img):
    return F.pil_to_tensor(img)


def image_cases(t):
    """torchvision's outputs on a uint8 CHW tensor."""
    _, h, w = t.shape
    cases = {"crop": [], "center_crop": [], "resize": [], "resize_shorter": [], "eval": [], "train": []}
    for top, left, ch, cw in [(1, 2, 5, 7), (h // 3, w // 2, 5, 7), (h - 1, w - 1, 1, 1), (0, w - 3, h, 3)]:
        cases["crop"].append({"box": [top, left, ch, cw], "out": hexes(F.crop(t, top, left, ch, cw))})
    for ch, cw in [(h - 1, w - 2), (h - 2, w - 1), (h // 2, w // 3), (1, 1), (h - 3, w - 4)]:
        cases["center_crop"].append({"size": [ch, cw], "out": hexes(F.center_crop(t, [ch, cw]))})
    cases["hflip"] = hexes(F.hflip(t))
    pil_worst = 0
    for rh, rw in [(h // 2, w // 2), (h // 3 + 1, w // 5 + 1), (h + 9, w + 4), (h + 7, w // 2), (1, 1),
                   (h - 1, w + 1)]:
        out = F.resize(t, [rh, rw], antialias=True)
        cases["resize"].append({"size": [rh, rw], "out": hexes(out)})
        # The PIL path (what an ImageFolder of PIL images gets) for the comment in the test.
        mode = "RGB" if t.shape[0] == 3 else "L"
        pil = Image.fromarray(t.permute(1, 2, 0).numpy().squeeze(), mode).resize((rw, rh), Image.BILINEAR)
        diff = (pil_tensor(pil).int() - out.int()).abs().max().item()
        pil_worst = max(pil_worst, diff)
    for s in [min(h, w) // 2, min(h, w) + 5, 13]:
        out = F.resize(t, s, antialias=True)
        cases["resize_shorter"].append({"size": s, "shape": list(out.shape), "out": hexes(out)})
    for s, ch, cw in [(24, 20, 20), (20, 16, 12), (min(h, w), min(h, w) - 3, min(h, w) - 4)]:
        out = T.Compose([T.Resize(s, antialias=True), T.CenterCrop((ch, cw))])(t)
        cases["eval"].append({"resize": s, "size": [ch, cw], "out": hexes(out)})
    for seed in range(12):
        size, scale, ratio = ((16, 16), (0.08, 1.0), (3 / 4, 4 / 3)) if seed < 8 else ((12, 20), (0.3, 0.7), (0.5, 2.0))
        torch.manual_seed(seed)
        tf = T.Compose([T.RandomResizedCrop(size, scale=scale, ratio=ratio, antialias=True),
                        T.RandomHorizontalFlip()])
        out = tf(t)
        cases["train"].append({"seed": seed, "size": list(size), "scale": list(scale), "ratio": list(ratio),
                               "out": hexes(out)})
    return cases, pil_worst


def boxes():
    """RandomResizedCrop.get_params and the flip draw after it, from torch.manual_seed(seed)."""
    sizes = [(375, 500), (500, 375), (224, 224), (33, 47), (7, 9), (1, 1), (2, 1), (3, 100), (100, 3),
             (1000, 20), (17, 2000)]
    params = [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.5, 0.9), (0.2, 5.0)), ((0.95, 1.0), (1.0, 1.0))]
    out, fallbacks = [], 0
    for (scale, ratio) in params:
        for h, w in sizes:
            group = []  # per seed: top, left, height, width, flip, 1 when the fallback made it
            for seed in range(60):
                torch.manual_seed(seed)
                i, j, bh, bw = T.RandomResizedCrop.get_params(torch.empty(1, h, w), list(scale), list(ratio))
                flip = bool(torch.rand(1) < 0.5)
                fell_back = not _found_in_10(h, w, scale, ratio, seed)
                fallbacks += fell_back
                group.append([i, j, bh, bw, int(flip), int(fell_back)])
            out.append({"hw": [h, w], "scale": list(scale), "ratio": list(ratio), "seeds": len(group),
                        "boxes": group})
    return out, fallbacks


def _found_in_10(h, w, scale, ratio, seed):
    torch.manual_seed(seed)
    area = h * w
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
        aspect_ratio = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item()
        bw = int(round(math.sqrt(target_area * aspect_ratio)))
        bh = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < bw <= w and 0 < bh <= h:
            return True
    return False


def main():
    os.makedirs(OUT, exist_ok=True)
    images = []
    specs = [("rgb_23x33.png", 23, 33, 3), ("grey_29x19.png", 29, 19, 1), ("rgb_27x35.jpg", 27, 35, 3),
             ("grey_21x26.jpg", 21, 26, 1)]
    pil_worst = 0
    for k, (name, h, w, c) in enumerate(specs):
        arr = content(h, w, c, k)
        img = Image.fromarray(arr, "RGB" if c == 3 else "L")
        path = os.path.join(OUT, name)
        if name.endswith(".png"):
            img.save(path)
        else:
            img.save(path, quality=90)
        decoded = Image.open(path).convert("RGB" if c == 3 else "L")
        t = pil_tensor(decoded)
        cases, worst = image_cases(t)
        pil_worst = max(pil_worst, worst)
        images.append({"file": name, "shape": list(t.shape), "pixels": hexes(t), **cases})
    # A CMYK JPEG as PIL writes it (Adobe marker, inverted), with PIL's RGB of it.
    cmyk = np.stack([content(20, 24, 1, 10 + k) for k in range(4)], axis=-1)
    Image.fromarray(cmyk, "CMYK").save(os.path.join(OUT, "cmyk_20x24.jpg"), quality=95)
    rgb = pil_tensor(Image.open(os.path.join(OUT, "cmyk_20x24.jpg")).convert("RGB"))
    box_cases, fallbacks = boxes()
    doc = {"torch": torch.__version__, "torchvision": torchvision.__version__,
           "pil_resize_worst": pil_worst, "images": images,
           "cmyk": {"file": "cmyk_20x24.jpg", "shape": list(rgb.shape), "pixels": hexes(rgb)},
           "boxes": box_cases}
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"{sum(len(g['boxes']) for g in box_cases)} boxes ({fallbacks} from the central-crop fallback); "
          f"PIL bilinear vs tensor antialias worst difference {pil_worst}")


if __name__ == "__main__":
    main()
