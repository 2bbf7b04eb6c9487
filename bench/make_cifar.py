#!/usr/bin/env python3
"""Synthetic 32x32x3 data in the CIFAR-10 binary format: DIR/data_batch_1..5.bin (all five must
exist) and DIR/test_batch.bin, records of 1 label byte + 3072 pixel bytes (R, G, B planes).
Usage: make_cifar.py DIR TRAIN_IMAGES TEST_IMAGES"""
import os, sys
import numpy as np
out, n_train, n_test = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
def records(n):
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    # class-dependent colour + noise: learnable, so the loss behaves like a real run's
    base = (labels[:, None].astype(np.int16) * 23) % 256
    pixels = np.clip(base + rng.integers(-60, 61, (n, 3072)), 0, 255).astype(np.uint8)
    return np.concatenate([labels[:, None], pixels], axis=1)
per_file = -(-n_train // 5)
for i in range(1, 6):
    records(per_file).tofile(os.path.join(out, f"data_batch_{i}.bin"))
records(n_test).tofile(os.path.join(out, "test_batch.bin"))
