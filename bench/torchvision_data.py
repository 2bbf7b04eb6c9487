#!/usr/bin/python3
"""Images/s of torchvision's training input pipeline over an image folder, for
bench/compare_data.sh: DataLoader(ImageFolder(DIR, Compose([RandomResizedCrop(SIZE),
RandomHorizontalFlip(), PILToTensor()])), batch_size=BATCH, num_workers=WORKERS) -- PIL
decode, PIL resize, uint8 batches, as `wrn bench data` produces them.

Whole epochs after warm-up epochs; persistent_workers, so the timed epochs do not pay for
starting the worker processes (the most favourable setting for torchvision).

    /usr/bin/python3 bench/torchvision_data.py DIR --workers 2 [--size 224] [--batch 64]
"""
import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--images", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(0)
    tf = transforms.Compose([transforms.RandomResizedCrop(a.size), transforms.RandomHorizontalFlip(),
                             transforms.PILToTensor()])
    data = datasets.ImageFolder(a.dir, tf)
    if 0 < a.images < len(data):
        data = Subset(data, range(a.images))
    loader = DataLoader(data, batch_size=a.batch, num_workers=a.workers, shuffle=False,
                        persistent_workers=a.workers > 0)
    print(f"torchvision: {len(data)} images of {a.dir}, 3x{a.size}x{a.size} RandomResizedCrop + flip + "
          f"PILToTensor, batch {a.batch}, {a.workers} workers (median of {a.epochs} epochs after {a.warmup} "
          f"warm-up)")
    rates = []
    for epoch in range(a.warmup + a.epochs):
        start = time.perf_counter()
        n = 0
        for images, _ in loader:
            n += images.shape[0]
        seconds = time.perf_counter() - start
        timed = epoch >= a.warmup
        print(f"epoch {epoch}{'' if timed else ' (warm-up)'}: {n} images in {seconds:.2f} s: "
              f"{n / seconds:.1f} images/s")
        if timed:
            rates.append(n / seconds)
    print(f"images/s {statistics.median(rates):.1f}")


if __name__ == "__main__":
    main()
