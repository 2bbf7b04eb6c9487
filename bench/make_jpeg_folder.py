#!/usr/bin/python3
"""Writes COUNT JPEG images (quality 90, around 500x375 in both orientations, photo-like
structured content: gradients, shapes, texture, noise) in an ImageFolder layout of CLASSES
class folders, for bench/compare_data.sh. Deterministic for a seed.

    /usr/bin/python3 bench/make_jpeg_folder.py DIR [--count 2000] [--classes 10]
"""
import argparse
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def image(rng, w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.empty((h, w, 3), np.float32)
    for c in range(3):
        fx, fy = rng.uniform(20, 120, size=2)
        base[..., c] = (rng.uniform(60, 190) + 50 * np.sin(x / fx + rng.uniform(0, 6)) +
                        40 * np.cos(y / fy + rng.uniform(0, 6)) + rng.uniform(-0.2, 0.2) * (x - y))
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(3, 9)):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(20, 200), y0 + rng.integers(20, 200)
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    img = np.asarray(img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2))), np.float32)
    # Texture and sensor-like noise after the blur: JPEG sizes like photos' (~60-100 KB at 500x375).
    img += rng.normal(0, 9, size=img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    sizes = [(500, 375), (375, 500), (500, 333), (480, 360), (512, 384), (333, 500)]
    for i in range(a.count):
        w, h = sizes[rng.integers(0, len(sizes))]
        folder = os.path.join(a.dir, f"class{i % a.classes:02d}")
        os.makedirs(folder, exist_ok=True)
        image(rng, w, h).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
